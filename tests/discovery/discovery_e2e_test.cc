// End to end: three real `mandator` processes of one DC on a real
// ZooKeeper, found through their member nodes as the leader's collector
// finds them; a provider registers through sdk::Registration.
//  - it registers with exactly the 2 mandators HRW prefers, and
//    kess.GetPartialTable on each of the 3 shows it on exactly those 2;
//  - kill -9 of one of them: the SDK moves to the third, whose partial
//    table then holds it;
//  - Deregister reaches the mandators in use (tombstones).
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "common/rendezvous.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "gtest/gtest.h"
#include "mandator/testing/test_util.h"
#include "sdk/registration.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/mandator_process.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace {

using testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(30);  // "did not hang" only

class DiscoveryEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ensemble = testing::ZkEnsemble::Start({.name = "dc1"});
    ASSERT_TRUE(ensemble.ok()) << ensemble.status();
    zk_ = std::move(ensemble).value();
    auto mandators =
        testing::StartMainMandators(zk_->ConnectString(), {"m1", "m2", "m3"});
    ASSERT_TRUE(mandators.ok()) << mandators.status();
    mandators_ = std::move(mandators).value();
    auto loop = transport::EventLoop::Create("test-client");
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
  }

  void TearDown() override {
    for (auto& m : mandators_) m->Stop();
    mandators_.clear();
    zk_.reset();
  }

  // Every mandator's scheduler address, from its member node in ZooKeeper.
  std::vector<std::string> AddressesFromZooKeeper() {
    auto reader = mandator::testing::ConnectReader(zk_->ConnectString());
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return {};
    zk::Layout layout = *zk::Layout::Create("/kess");
    std::vector<std::string> out;
    for (const auto& m : mandators_) {
      auto node = (*reader)->Get(*layout.MemberPath(zk::MANDATOR, m->id()));
      EXPECT_TRUE(node.ok()) << node.status();
      if (!node.ok()) continue;
      auto info = zk::DecodeAs<zk::MemberInfo>(node->data, m->id());
      EXPECT_TRUE(info.ok()) << info.status();
      if (info.ok()) out.push_back(info->address());
    }
    return out;
  }

  // kess.GetPartialTable of the mandator at `address`, as the leader asks.
  absl::StatusOr<protocol::PartialTable> PartialTableOf(
      const std::string& address) {
    transport::ClientOptions o;
    KESS_RETURN_IF_ERROR(transport::SplitHostPort(address, &o.host, &o.port));
    o.registry = &registry_;
    KESS_ASSIGN_OR_RETURN(auto client,
                          transport::Client::Create(loop_.get(), o));
    protocol::PartialTableRequest request;
    request.set_requester_id("test");
    KESS_ASSIGN_OR_RETURN(
        std::string reply,
        client->CallSync(protocol::kGetPartialTableMethod,
                         request.SerializeAsString(), absl::Seconds(5)));
    protocol::PartialTable table;
    if (!table.ParseFromString(reply)) {
      return absl::DataLossError("unparsable PartialTable");
    }
    return table;
  }

  // Indexes of the running mandators whose partial table holds `id` live.
  std::set<int> Holding(const std::vector<std::string>& addresses,
                        const std::string& id) {
    std::set<int> out;
    for (int i = 0; i < static_cast<int>(addresses.size()); ++i) {
      if (!mandators_[i]->running()) continue;
      auto table = PartialTableOf(addresses[i]);
      if (!table.ok()) continue;
      for (const auto& seen : table->instances()) {
        if (seen.info().id() == id && !seen.deregistered()) out.insert(i);
      }
    }
    return out;
  }

  metrics::Registry registry_;
  std::unique_ptr<testing::ZkEnsemble> zk_;
  std::vector<std::unique_ptr<testing::MandatorProcess>> mandators_;
  std::unique_ptr<transport::EventLoop> loop_;
};

TEST_F(DiscoveryEndToEndTest, RegistersWithTwoAndMovesWhenOneIsKilled) {
  const std::vector<std::string> addresses = AddressesFromZooKeeper();
  ASSERT_EQ(addresses.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(addresses[i], mandators_[i]->address());
  }

  sdk::RegistrationOptions o;
  o.mandators = addresses;
  o.instance = {.service = "checkout",
                .id = "checkout-e2e",
                .host = "web-1",
                .address = "127.0.0.1:8080",
                .datacenter = "dc1"};
  o.heartbeat_interval = absl::Milliseconds(200);
  o.call_timeout = absl::Seconds(2);
  o.registry = &registry_;
  auto registration = sdk::Registration::Create(o);
  ASSERT_TRUE(registration.ok()) << registration.status();
  ASSERT_TRUE((*registration)->WaitRegistered(2, kWait).ok());

  const std::vector<std::string> order =
      RendezvousOrder("checkout/checkout-e2e", addresses);
  std::set<int> preferred;
  int third = -1;
  for (int i = 0; i < 3; ++i) {
    if (addresses[i] == order[0] || addresses[i] == order[1]) {
      preferred.insert(i);
    } else {
      third = i;
    }
  }
  EXPECT_EQ(Holding(addresses, "checkout-e2e"), preferred);
  auto table = PartialTableOf(addresses[*preferred.begin()]);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->datacenter(), "dc1");
  EXPECT_GT(table->uptime_ms(), 0);

  const int victim = *preferred.begin();
  mandators_[victim]->Kill();  // kill -9
  std::set<int> moved = preferred;
  moved.erase(victim);
  moved.insert(third);
  EXPECT_TRUE(WaitFor(
      [&] { return Holding(addresses, "checkout-e2e") == moved; }, kWait));
  EXPECT_EQ((*registration)->state().switches, 1);

  EXPECT_TRUE((*registration)->Deregister().ok());
  for (int i : moved) {
    auto t = PartialTableOf(addresses[i]);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->instances_size(), 1);
    EXPECT_TRUE(t->instances(0).deregistered()) << addresses[i];
  }
}

}  // namespace
}  // namespace kess
