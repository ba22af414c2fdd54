// The agent's DNS interface end to end: a two-DC cluster of real processes
// (ZooKeeper, a mandator, a distributor and an agent per DC, one sample
// provider per DC; tests/cluster's LocalCluster) plus one more agent of
// dc1 (tests/cluster's AgentHost) started with --dns_port. The first query
// subscribes that agent to the providers' service; SRV answers carry the
// local DC's provider only, the <dc> name the other's; when dc1's provider
// stops (it deregisters), the name falls back to dc2's. Unknown services
// are NXDOMAIN, other zones REFUSED.
#include <stdlib.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/dns/testing/dns_client.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/agent_host.h"
#include "tests/cluster/local_cluster.h"
#include "third_party/ldns_cxx.h"

namespace kess {
namespace {

using agent::dns::testing::BuildQuery;
using agent::dns::testing::DecodedReply;
using agent::dns::testing::DecodeReply;
using agent::dns::testing::UdpExchange;
using ::testing::ElementsAre;

constexpr absl::Duration kLong = absl::Seconds(90);  // "did not hang"

std::string Env(const char* name, const std::string& fallback) {
  const char* v = getenv(name);
  return v != nullptr ? v : fallback;
}

// The port of a provider's "host:port" address.
std::string PortOf(const std::string& address) {
  return address.substr(address.rfind(':') + 1);
}

class DnsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kess-dns-e2e-XXXXXX";
    const std::string base = Env("TEST_TMPDIR", "/tmp") + "/dns-e2e";
    testing::LocalClusterOptions o;
    o.dcs = 2;
    o.mandators = 1;
    o.distributors = 1;
    o.agents = 1;
    o.providers = 1;
    o.admin = false;
    o.agent_test_intervals = true;
    o.bin_dir = Env("TEST_SRCDIR", ".") + "/kess";
    o.base_dir = getenv("TEST_TMPDIR") != nullptr ? base : mkdtemp(tmpl);
    auto cluster = testing::LocalCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value();

    auto description = ParseJsonObject(cluster_->Describe());
    ASSERT_TRUE(description.ok()) << description.status();
    Poco::JSON::Array::Ptr dcs = (*description)->getArray("dcs");
    for (size_t i = 0; i < dcs->size(); ++i) {
      Poco::JSON::Object::Ptr dc = dcs->getObject(i);
      const std::string name = dc->getValue<std::string>("name");
      Poco::JSON::Array::Ptr providers = dc->getArray("providers");
      ASSERT_EQ(providers->size(), 1u);
      provider_port_[name] = PortOf(
          providers->getObject(0)->getValue<std::string>("address"));
      provider_name_[name] =
          providers->getObject(0)->getValue<std::string>("name");
      if (name == "dc1") {
        Poco::JSON::Array::Ptr distributors = dc->getArray("distributors");
        for (size_t d = 0; d < distributors->size(); ++d) {
          dc1_distributors_.push_back(
              distributors->getObject(d)->getValue<std::string>("address"));
        }
      }
    }
    token_file_ = (*description)
                      ->getObject("secrets")
                      ->getValue<std::string>("distributor_token");

    dns_port_ = transport::testing::UnusedPort();
    testing::AgentHostOptions a;
    a.host_id = "dc1-dns";
    a.datacenter = "dc1";
    a.distributors = dc1_distributors_;
    a.auth_token_file = token_file_;
    a.tls_flags = cluster_->tls().Flags("agent");
    a.dir = cluster_->base_dir() + "/hosts/dc1/dc1-dns";
    a.binary = Env("TEST_SRCDIR", ".") + "/kess/agent/agent";
    a.extra_flags = {absl::StrCat("--dns_port=", dns_port_),
                     "--dns_wait_ms=3000"};
    auto agent = testing::AgentHost::Start(a);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(agent).value();
  }

  void TearDown() override {
    agent_.reset();
    if (cluster_ != nullptr) cluster_->StopAll();
  }

  DecodedReply Ask(const std::string& name, uint16_t type) {
    auto wire = UdpExchange(dns_port_, BuildQuery({.name = name, .type = type}),
                            absl::Seconds(10));
    return wire.ok() ? DecodeReply(*wire) : DecodedReply{};
  }

  // The ports of the SRV answers for `name`.
  std::vector<std::string> SrvPorts(const std::string& name) {
    std::vector<std::string> ports;
    for (const std::string& rdata :
         Ask(name, LDNS_RR_TYPE_SRV).Answers("SRV")) {
      std::vector<std::string> fields = absl::StrSplit(rdata, ' ');
      if (fields.size() == 4) ports.push_back(fields[2]);
    }
    return ports;
  }

  std::unique_ptr<testing::LocalCluster> cluster_;
  std::unique_ptr<testing::AgentHost> agent_;
  std::map<std::string, std::string> provider_port_;
  std::map<std::string, std::string> provider_name_;
  std::vector<std::string> dc1_distributors_;
  std::string token_file_;
  int dns_port_ = 0;
};

TEST_F(DnsE2eTest, LocalDcFirstThenFallback) {
  ASSERT_TRUE(cluster_ != nullptr && agent_ != nullptr);
  // The first query subscribes the agent; the table holds both DCs'
  // providers, the answer only dc1's.
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] {
        return SrvPorts("demo-echo.service.kess") ==
               std::vector<std::string>{provider_port_["dc1"]};
      },
      kLong, absl::Milliseconds(200)))
      << "dc1 port " << provider_port_["dc1"];
  DecodedReply a = Ask("demo-echo.service.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(a.rcode, 0);
  EXPECT_THAT(a.Answers("A"), ElementsAre("127.0.0.1"));
  EXPECT_THAT(SrvPorts("demo-echo.service.dc2.kess"),
              ElementsAre(provider_port_["dc2"]));
  EXPECT_EQ(Ask("no-such-service.service.kess", LDNS_RR_TYPE_A).rcode, 3);
  EXPECT_EQ(Ask("example.com", LDNS_RR_TYPE_A).rcode, 5);

  // dc1's provider stops (deregisters): the name falls back to dc2.
  ASSERT_TRUE(cluster_->Stop(provider_name_["dc1"]).ok());
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] {
        return SrvPorts("demo-echo.service.kess") ==
               std::vector<std::string>{provider_port_["dc2"]};
      },
      kLong, absl::Milliseconds(200)));
  DecodedReply dc1 = Ask("demo-echo.service.dc1.kess", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(dc1.rcode, 0);
  EXPECT_TRUE(dc1.answer.empty());
}

}  // namespace
}  // namespace kess
