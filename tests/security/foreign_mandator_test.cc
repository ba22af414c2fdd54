// Registration through a mandator that does not hold the instance, against
// a real two-DC cluster with 3 mandators per DC (mutual TLS, a certificate
// per host, registration rights on).
//
// Each instance registers with 2 of its DC's 3 mandators (rendezvous hash
// on <service>/<id>), so the third has never heard of it and binds it to
// the first principal that satisfies the host rule. An attacker with a
// valid certificate of another host ("evil") sends, to that third
// mandator, kess.Register for the victim's instance id with its own host
// and address, then loops Register + Deregister there. The leader's merge
// must ignore those reports and tombstones (their owner is not the host
// the instance is published on): the published tables of both DCs keep
// the victim's address, the instance is never removed, and the attack is
// counted: in kess_registration_refused_total{reason="published_elsewhere"}
// at the third mandator once it has read the published tables, and in
// kess_routes_foreign_reports_ignored_total at the leader for every report
// it took before (the merge's rule; mandator/routes/merger_test.cc covers
// it case by case).
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "sdk/registration.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_process.h"
#include "tests/cluster/multi_dc_cluster.h"

namespace kess {
namespace {

using testing::MultiDcCluster;
using testing::MultiDcClusterOptions;
using testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(60);
constexpr absl::Duration kCall = absl::Seconds(10);
constexpr char kService[] = "shop";
constexpr char kAttackerAddress[] = "127.0.0.66:6666";

class ForeignMandatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MultiDcClusterOptions o;
    o.mandators_per_dc = 3;
    o.tls = true;
    o.registration_rights = true;
    o.main_other_dcs = true;  // the main leader collects dc2 too
    o.admin_secret = true;
    o.slave_dcs = 1;
    auto cluster = MultiDcCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value();
    ASSERT_TRUE(cluster_->WaitLeaders(kWait).ok());
    std::ifstream in(cluster_->admin_header_file());
    std::string line;
    std::getline(in, line);
    const size_t colon = line.find(':');
    ASSERT_NE(colon, std::string::npos) << line;
    admin_header_ = {
        line.substr(0, colon),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)))};
    auto loop = transport::EventLoop::Create("attacker");
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
  }

  void TearDown() override {
    providers_.clear();
    loop_.reset();
    cluster_.reset();
  }

  sdk::Registration* StartProvider(int dc_index, const std::string& id,
                                   const std::string& host,
                                   const std::string& address) {
    sdk::RegistrationOptions o;
    for (const auto& m : cluster_->dc(dc_index).mandators) {
      o.mandators.push_back(m->address());
    }
    o.instance.service = kService;
    o.instance.id = id;
    o.instance.host = host;
    o.instance.address = address;
    o.instance.datacenter = MultiDcCluster::DcName(dc_index);
    o.instance.weight = 100;
    o.heartbeat_interval = absl::Seconds(1);
    auto tls = cluster_->tls().PrincipalContext("host", host);
    EXPECT_TRUE(tls.ok()) << tls.status();
    if (!tls.ok()) return nullptr;
    o.tls = *tls;
    auto r = sdk::Registration::Create(o);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return nullptr;
    EXPECT_TRUE((*r)->WaitRegistered(2, kWait).ok());
    providers_.push_back(std::move(r).value());
    return providers_.back().get();
  }

  // The published route table of the service as a mandator of DC `d`
  // serves it (its own DC's ZooKeeper); "" if it cannot be read.
  std::string RouteTable(int d) {
    for (const auto& m : cluster_->dc(d).mandators) {
      absl::StatusOr<HttpReply> reply = HttpCall(
          m->http_address(), "GET", absl::StrCat("/api/v1/services/", kService),
          "", kCall, {admin_header_});
      if (reply.ok() && reply->status == 200) return reply->body;
    }
    return "";
  }

  // Both victims published with their own addresses, the attacker's
  // address nowhere.
  bool Intact(int d, std::string* table) {
    *table = RouteTable(d);
    return absl::StrContains(*table, "127.0.0.1:18017") &&
           absl::StrContains(*table, "127.0.0.1:18027") &&
           !absl::StrContains(*table, kAttackerAddress) &&
           !absl::StrContains(*table, "10000");
  }

  double Metric(const testing::MandatorProcess& m, const std::string& name) {
    absl::StatusOr<HttpReply> reply = HttpCall(
        m.http_address(), "GET", "/metrics", "", kCall, {admin_header_});
    if (!reply.ok() || reply->status != 200) return 0;
    absl::StatusOr<double> v = testing::MetricValue(reply->body, name, "");
    return v.ok() ? *v : 0;
  }

  std::unique_ptr<transport::Client> Connect(const std::string& address) {
    auto evil = cluster_->tls().PrincipalContext("host", "evil");
    EXPECT_TRUE(evil.ok()) << evil.status();
    if (!evil.ok()) return nullptr;
    transport::ClientOptions o;
    const size_t colon = address.rfind(':');
    o.host = address.substr(0, colon);
    o.port = std::stoi(address.substr(colon + 1));
    o.tls = *evil;
    auto client = transport::Client::Create(loop_.get(), o);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    absl::Status connected = (*client)->WaitConnected(kCall);
    EXPECT_TRUE(connected.ok()) << connected;
    if (!connected.ok()) return nullptr;
    return std::move(client).value();
  }

  static std::string RegisterPayload(const std::string& id,
                                     const std::string& dc) {
    protocol::RegisterRequest request;
    protocol::InstanceInfo* info = request.add_instances();
    info->set_service(kService);
    info->set_id(id);
    info->set_host("evil");  // the attacker's own host: the host rule holds
    info->set_address(kAttackerAddress);
    info->set_datacenter(dc);
    info->set_weight(10000);
    info->set_health("up");
    return request.SerializeAsString();
  }

  static std::string DeregisterPayload(const std::string& id) {
    protocol::DeregisterRequest request;
    protocol::InstanceRef* ref = request.add_instances();
    ref->set_service(kService);
    ref->set_id(id);
    return request.SerializeAsString();
  }

  std::unique_ptr<MultiDcCluster> cluster_;
  std::unique_ptr<transport::EventLoop> loop_;
  std::vector<std::unique_ptr<sdk::Registration>> providers_;
  std::pair<std::string, std::string> admin_header_;
};

TEST_F(ForeignMandatorTest, ThirdMandatorCannotHijackOrRemoveAnInstance) {
  struct Victim {
    int dc;
    std::string id;
    sdk::Registration* provider;
    std::string third;  // the DC's mandator that does not hold it
  };
  std::vector<Victim> victims = {
      {0, "shop-1", StartProvider(0, "shop-1", "web-17", "127.0.0.1:18017"),
       ""},
      {1, "shop-2", StartProvider(1, "shop-2", "web-27", "127.0.0.1:18027"),
       ""}};
  for (Victim& v : victims) {
    ASSERT_NE(v.provider, nullptr);
    const std::vector<std::string> held = v.provider->state().registered;
    ASSERT_EQ(held.size(), 2u);
    for (const auto& m : cluster_->dc(v.dc).mandators) {
      if (m->address() != held[0] && m->address() != held[1]) {
        v.third = m->address();
      }
    }
    ASSERT_FALSE(v.third.empty());
  }
  std::string table;
  for (int d = 0; d < 2; ++d) {
    ASSERT_TRUE(WaitFor([&] { return Intact(d, &table); }, kWait))
        << "dc" << d + 1 << " never published the victims: " << table;
  }

  std::vector<std::unique_ptr<transport::Client>> attackers;
  for (const Victim& v : victims) {
    attackers.push_back(Connect(v.third));
    ASSERT_NE(attackers.back(), nullptr);
  }
  // Two layers stop it. The third mandator refuses a host that registers
  // an instance the published tables place on another host
  // (published_elsewhere), once it has read them (the leader at once, the
  // others every few seconds): until then it binds the instance to the
  // attacker, who then also heartbeats and deregisters it there. The
  // leader's merge ignores those reports and tombstones. The attack starts
  // right after publication, so either layer may be the one; the tables
  // must stay intact either way.
  auto refused = [](const absl::StatusOr<std::string>& r) {
    return absl::IsPermissionDenied(r.status()) &&
           absl::StrContains(r.status().message(), "published");
  };
  int registered = 0;  // registrations the third mandators took
  int broken = 0;
  std::string last_broken;
  auto attack = [&](const std::string& method, size_t i) {
    const Victim& v = victims[i];
    std::string payload;
    if (method == protocol::kRegisterMethod) {
      payload = RegisterPayload(v.id, MultiDcCluster::DcName(v.dc));
    } else if (method == protocol::kHeartbeatMethod) {
      protocol::HeartbeatRequest hb;
      protocol::InstanceRef* ref = hb.add_instances();
      ref->set_service(kService);
      ref->set_id(v.id);
      payload = hb.SerializeAsString();
    } else {
      payload = DeregisterPayload(v.id);
    }
    absl::StatusOr<std::string> r =
        attackers[i]->CallSync(method, payload, kCall);
    if (method == protocol::kRegisterMethod) {
      EXPECT_TRUE(r.ok() || refused(r)) << r.status();
      if (r.ok()) ++registered;
    } else {
      EXPECT_TRUE(r.ok()) << method << ": " << r.status();
    }
  };
  // Register + Heartbeat + Deregister (a fresh report, then a fresh
  // tombstone) about 15 times, over several route cycles of 1 s.
  for (int round = 0; round < 15; ++round) {
    for (size_t i = 0; i < victims.size(); ++i) {
      attack(protocol::kRegisterMethod, i);
      attack(protocol::kHeartbeatMethod, i);
    }
    absl::SleepFor(absl::Milliseconds(300));
    for (size_t i = 0; i < victims.size(); ++i) {
      attack(protocol::kDeregisterMethod, i);
    }
    absl::SleepFor(absl::Milliseconds(300));
    for (int d = 0; d < 2; ++d) {
      if (!Intact(d, &table)) {
        ++broken;
        last_broken = absl::StrCat("dc", d + 1, ": ", table);
      }
    }
  }
  EXPECT_EQ(broken, 0) << "a victim was hijacked or removed, e.g. "
                       << last_broken;
  // The attacker ends registered (a fresh live report) where it still
  // can; the tables stay intact over several more cycles.
  for (size_t i = 0; i < victims.size(); ++i) {
    attack(protocol::kRegisterMethod, i);
  }
  for (int i = 0; i < 4; ++i) {
    absl::SleepFor(absl::Seconds(1));
    for (int d = 0; d < 2; ++d) EXPECT_TRUE(Intact(d, &table)) << table;
  }
  // Counted: refusals at the third mandators, ignored reports at the
  // main leader (every registration a third mandator took was reported).
  double ignored = 0;
  for (const auto& m : cluster_->main()) {
    ignored += Metric(*m, "kess_routes_foreign_reports_ignored_total");
  }
  double refusals = 0;
  for (const Victim& v : victims) {
    for (int d = 0; d < cluster_->dc_count(); ++d) {
      for (const auto& m : cluster_->dc(d).mandators) {
        if (m->address() != v.third) continue;
        absl::StatusOr<HttpReply> reply = HttpCall(
            m->http_address(), "GET", "/metrics", "", kCall, {admin_header_});
        ASSERT_TRUE(reply.ok() && reply->status == 200);
        absl::StatusOr<double> n = testing::MetricValue(
            reply->body, "kess_registration_refused_total",
            "method=\"kess.Register\",reason=\"published_elsewhere\"");
        if (n.ok()) refusals += *n;
      }
    }
  }
  LOG(INFO) << "attack: " << registered << " registrations taken by the "
            << "third mandators, " << refusals << " refused there, " << ignored
            << " reports ignored by the leader's merge";
  EXPECT_GE(refusals + ignored, 1) << "the attack was not counted";
  if (registered > 0) {
    EXPECT_GE(ignored, 1) << "taken registrations, no ignored report";
  }
  for (const Victim& v : victims) {
    EXPECT_EQ(v.provider->state().registered.size(), 2u);
  }

  // The owner itself may still deregister its instance: it is removed.
  providers_[0].reset();
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string t = RouteTable(0);
        return !t.empty() && !absl::StrContains(t, "127.0.0.1:18017");
      },
      kWait))
      << RouteTable(0);
}

}  // namespace
}  // namespace kess
