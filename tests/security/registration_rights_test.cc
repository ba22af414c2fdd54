// Registration rights against a real two-DC cluster (MultiDcCluster with
// registration_rights: mutual TLS at the mandators, a certificate per
// host). Two providers register as their hosts (web-17 in dc1, web-27 in
// dc2) and keep heartbeating; an attacker with a valid certificate of
// another host ("evil"), one with the shared agent certificate (no
// principal) and one without a certificate try, against every mandator of
// both DCs:
//
//   - hijack: re-register web-17's instance with its own address and
//     weight 10000 (as itself, and claiming web-17);
//   - a foreign heartbeat that marks the instance "draining";
//   - a foreign deregister;
//   - reading the inventory with kess.GetPartialTable;
//   - registering anything without an identity.
//
// Each must fail (PERMISSION_DENIED, or no TLS session at all without a
// certificate) and be counted in kess_registration_refused_total, and
// nothing may change: the published route table keeps both instances with
// their own addresses, weights and health through several route cycles,
// while the mandators keep collecting each other's partial tables (with
// their mandator certificates) and serving.
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/identity/credential.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
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

class RegistrationRightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MultiDcClusterOptions o;
    o.mandators_per_dc = 2;
    o.tls = true;
    o.registration_rights = true;
    o.main_other_dcs = true;  // the main leader collects dc2 too
    o.admin_secret = true;    // the mandators refuse to start without
    o.slave_dcs = 1;
    auto cluster = MultiDcCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value();
    ASSERT_TRUE(cluster_->WaitLeaders(kWait).ok());
    // "Authorization: Bearer <secret>" for the API reads.
    std::ifstream in(cluster_->admin_header_file());
    std::string line;
    std::getline(in, line);
    const size_t colon = line.find(':');
    ASSERT_NE(colon, std::string::npos) << line;
    admin_header_ = {line.substr(0, colon),
                     std::string(absl::StripAsciiWhitespace(
                         line.substr(colon + 1)))};
    auto loop = transport::EventLoop::Create("attacker");
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
  }

  void TearDown() override {
    providers_.clear();
    loop_.reset();
    cluster_.reset();
  }

  // A provider registering as `host` in DC `dc_index` (0 = dc1).
  void StartProvider(int dc_index, const std::string& id,
                     const std::string& host, const std::string& address) {
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
    ASSERT_TRUE(tls.ok()) << tls.status();
    o.tls = *tls;
    auto r = sdk::Registration::Create(o);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok())
        << "the owner itself could not register";
    providers_.push_back(std::move(r).value());
  }

  // The published route table of the service, as any main mandator reads
  // it; "" if it cannot be read.
  std::string RouteTable() {
    for (const auto& m : cluster_->main()) {
      absl::StatusOr<HttpReply> reply =
          HttpCall(m->http_address(), "GET",
                   absl::StrCat("/api/v1/services/", kService), "", kCall,
                   {admin_header_});
      if (reply.ok() && reply->status == 200) return reply->body;
    }
    return "";
  }

  // Both owners' instances published with their own addresses, the
  // attacker's address nowhere, nobody draining.
  bool TableIsIntact(std::string* table) {
    *table = RouteTable();
    return absl::StrContains(*table, "127.0.0.1:18017") &&
           absl::StrContains(*table, "127.0.0.1:18027") &&
           !absl::StrContains(*table, kAttackerAddress) &&
           !absl::StrContains(*table, "draining") &&
           !absl::StrContains(*table, "10000");
  }

  // A transport client to `address` presenting `tls`'s certificate.
  std::unique_ptr<transport::Client> Connect(
      const std::string& address, std::shared_ptr<tls::TlsContext> tls,
      absl::Status* connect_status) {
    transport::ClientOptions o;
    const size_t colon = address.rfind(':');
    o.host = address.substr(0, colon);
    o.port = std::stoi(address.substr(colon + 1));
    o.tls = std::move(tls);
    auto client = transport::Client::Create(loop_.get(), o);
    if (!client.ok()) {
      *connect_status = client.status();
      return nullptr;
    }
    *connect_status = (*client)->WaitConnected(kCall);
    return std::move(client).value();
  }

  std::unique_ptr<transport::Client> ConnectWith(
      const std::string& address, std::shared_ptr<tls::TlsContext> tls,
      std::shared_ptr<const identity::CredentialFile> credential,
      absl::Status* connect_status) {
    transport::ClientOptions o;
    const size_t colon = address.rfind(':');
    o.host = address.substr(0, colon);
    o.port = std::stoi(address.substr(colon + 1));
    o.tls = std::move(tls);
    o.credential = std::move(credential);
    auto client = transport::Client::Create(loop_.get(), o);
    if (!client.ok()) {
      *connect_status = client.status();
      return nullptr;
    }
    *connect_status = (*client)->WaitConnected(kCall);
    return std::move(client).value();
  }

  static std::string RegisterPayload(const std::string& id,
                                     const std::string& host,
                                     const std::string& dc) {
    protocol::RegisterRequest request;
    protocol::InstanceInfo* info = request.add_instances();
    info->set_service(kService);
    info->set_id(id);
    info->set_host(host);
    info->set_address(kAttackerAddress);
    info->set_datacenter(dc);
    info->set_weight(10000);
    info->set_health("up");
    return request.SerializeAsString();
  }

  static std::string Refs(const std::string& id, const std::string& health) {
    protocol::HeartbeatRequest request;
    protocol::InstanceRef* ref = request.add_instances();
    ref->set_service(kService);
    ref->set_id(id);
    request.set_health(health);
    return request.SerializeAsString();
  }

  double Refused(const testing::MandatorProcess& m, const std::string& labels) {
    absl::StatusOr<HttpReply> reply = HttpCall(
        m.http_address(), "GET", "/metrics", "", kCall, {admin_header_});
    if (!reply.ok() || reply->status != 200) return -1;
    absl::StatusOr<double> v = testing::MetricValue(
        reply->body, "kess_registration_refused_total", labels);
    return v.ok() ? *v : 0;
  }

  std::unique_ptr<MultiDcCluster> cluster_;
  std::unique_ptr<transport::EventLoop> loop_;
  std::vector<std::unique_ptr<sdk::Registration>> providers_;
  std::pair<std::string, std::string> admin_header_;
};

TEST_F(RegistrationRightsTest, ForeignHostsCannotHijackHeartbeatDeregisterOrRead) {
  StartProvider(0, "shop-1", "web-17", "127.0.0.1:18017");
  StartProvider(1, "shop-2", "web-27", "127.0.0.1:18027");
  std::string table;
  ASSERT_TRUE(WaitFor([&] { return TableIsIntact(&table); }, kWait))
      << "the owners' instances were never published: " << table;

  // Every mandator re-reads the published tables every 5 s (the leader
  // has its routes view): after this, none of them takes an instance the
  // tables place on another host.
  absl::SleepFor(absl::Seconds(6));

  auto evil = cluster_->tls().PrincipalContext("host", "evil");
  ASSERT_TRUE(evil.ok()) << evil.status();
  auto agent_cert = cluster_->tls().ClientContext("agent");
  ASSERT_TRUE(agent_cert.ok()) << agent_cert.status();
  auto no_cert = cluster_->tls().ClientContext();
  ASSERT_TRUE(no_cert.ok()) << no_cert.status();

  struct Target {
    testing::MandatorProcess* mandator;
    std::string id;    // the instance of this DC
    std::string host;  // its owner
    std::string dc;
  };
  std::vector<Target> targets;
  for (int d = 0; d < cluster_->dc_count(); ++d) {
    for (const auto& m : cluster_->dc(d).mandators) {
      targets.push_back({m.get(), d == 0 ? "shop-1" : "shop-2",
                         d == 0 ? "web-17" : "web-27",
                         MultiDcCluster::DcName(d)});
    }
  }

  for (const Target& t : targets) {
    SCOPED_TRACE(t.mandator->address());
    absl::Status connected;
    std::unique_ptr<transport::Client> attacker =
        Connect(t.mandator->address(), *evil, &connected);
    ASSERT_TRUE(connected.ok()) << connected;

    // Hijack: the instance re-registered with the attacker's address.
    absl::StatusOr<std::string> r = attacker->CallSync(
        protocol::kRegisterMethod, RegisterPayload(t.id, "evil", t.dc), kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
    r = attacker->CallSync(protocol::kRegisterMethod,
                           RegisterPayload(t.id, t.host, t.dc), kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
    // The other DC's instance id, which this mandator never held, as a new
    // instance of this DC on the attacker's host: the published table
    // places it on its owner's host.
    const std::string other_id = t.id == "shop-1" ? "shop-2" : "shop-1";
    r = attacker->CallSync(protocol::kRegisterMethod,
                           RegisterPayload(other_id, "evil", t.dc), kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
    // A foreign heartbeat, a foreign deregister.
    r = attacker->CallSync(protocol::kHeartbeatMethod,
                           Refs(t.id, "draining"), kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
    protocol::DeregisterRequest deregister;
    protocol::InstanceRef* ref = deregister.add_instances();
    ref->set_service(kService);
    ref->set_id(t.id);
    r = attacker->CallSync(protocol::kDeregisterMethod,
                           deregister.SerializeAsString(), kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
    // The inventory.
    r = attacker->CallSync(protocol::kGetPartialTableMethod,
                           protocol::PartialTableRequest().SerializeAsString(),
                           kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();

    // The shared agent certificate names no principal: anonymous.
    std::unique_ptr<transport::Client> anonymous =
        Connect(t.mandator->address(), *agent_cert, &connected);
    ASSERT_TRUE(connected.ok()) << connected;
    r = anonymous->CallSync(protocol::kRegisterMethod,
                            RegisterPayload("shop-new", "evil", t.dc), kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
    r = anonymous->CallSync(
        protocol::kGetPartialTableMethod,
        protocol::PartialTableRequest().SerializeAsString(), kCall);
    EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();

    // No certificate at all: no TLS session (mutual TLS).
    std::unique_ptr<transport::Client> bare =
        Connect(t.mandator->address(), *no_cert, &connected);
    if (connected.ok()) {
      r = bare->CallSync(protocol::kRegisterMethod,
                         RegisterPayload("shop-new", "evil", t.dc), kCall);
      EXPECT_FALSE(r.ok()) << "registered without a certificate";
    }

    EXPECT_GE(Refused(*t.mandator, "method=\"kess.Register\",reason=\"owned_by_other\""), 1);
    EXPECT_GE(Refused(*t.mandator, "method=\"kess.Register\",reason=\"foreign_host\""), 1);
    EXPECT_GE(Refused(*t.mandator, "method=\"kess.Heartbeat\",reason=\"owned_by_other\""), 1);
    EXPECT_GE(Refused(*t.mandator, "method=\"kess.Deregister\",reason=\"owned_by_other\""), 1);
    EXPECT_GE(Refused(*t.mandator, "method=\"kess.GetPartialTable\",reason=\"not_mandator\""), 1);
    EXPECT_GE(Refused(*t.mandator, "method=\"kess.Register\",reason=\"anonymous\""), 1);
    EXPECT_GE(Refused(*t.mandator, "method=\"kess.Register\",reason=\"published_elsewhere\""), 1);
  }

  // Nothing changed, and it stays so over several route cycles (1 s each)
  // while the owners heartbeat and the leader collects every mandator.
  for (int i = 0; i < 5; ++i) {
    absl::SleepFor(absl::Seconds(1));
    EXPECT_TRUE(TableIsIntact(&table)) << table;
  }
  for (const auto& p : providers_) {
    EXPECT_EQ(p->state().registered.size(), 2u) << "an owner lost a mandator";
  }
  // The leader still hears from every mandator (their certificates name
  // them): a new instance in dc2 is published.
  StartProvider(1, "shop-3", "web-28", "127.0.0.1:18028");
  EXPECT_TRUE(WaitFor(
      [&] { return absl::StrContains(RouteTable(), "127.0.0.1:18028"); },
      kWait))
      << RouteTable();
}

// A service credential issued by the main DC's API works in both DCs (the
// slave DC's mandators copy it), and once revoked every mandator refuses
// it: the connections it authenticated are closed at their next request,
// and a new connection presenting it is refused.
TEST_F(RegistrationRightsTest, RevokedCredentialIsRefusedInBothDcs) {
  const std::string api = cluster_->main()[0]->http_address();
  absl::StatusOr<HttpReply> issued =
      HttpCall(api, "POST", "/api/v1/identities",
               R"({"kind":"service","name":"cart"})", kCall, {admin_header_});
  ASSERT_TRUE(issued.ok()) << issued.status();
  ASSERT_EQ(issued->status, 201) << issued->body;
  auto object = ParseJsonObject(issued->body);
  ASSERT_TRUE(object.ok());
  auto credential = identity::ParseCredentialFile(
      (*object)->getValue<std::string>("credential_file"));
  ASSERT_TRUE(credential.ok()) << credential.status();
  auto shared_credential =
      std::make_shared<identity::CredentialFile>(*credential);
  // The listing never shows the secret.
  absl::StatusOr<HttpReply> listed = HttpCall(
      api, "GET", "/api/v1/identities", "", kCall, {admin_header_});
  ASSERT_TRUE(listed.ok() && listed->status == 200);
  EXPECT_TRUE(absl::StrContains(listed->body, "kess://service/cart"));
  EXPECT_FALSE(absl::StrContains(listed->body, credential->secret));

  // The shared agent certificate names nobody: the credential does.
  auto agent_cert = cluster_->tls().ClientContext("agent");
  ASSERT_TRUE(agent_cert.ok());
  for (int d = 0; d < 2; ++d) {
    sdk::RegistrationOptions o;
    for (const auto& m : cluster_->dc(d).mandators) {
      o.mandators.push_back(m->address());
    }
    o.instance.service = "cart";
    o.instance.id = absl::StrCat("cart-", d + 1);
    o.instance.host = absl::StrCat("web-", 40 + d);
    o.instance.address = absl::StrCat("127.0.0.1:1904", d);
    o.instance.datacenter = MultiDcCluster::DcName(d);
    o.heartbeat_interval = absl::Seconds(1);
    o.tls = *agent_cert;
    o.credential = shared_credential;
    auto r = sdk::Registration::Create(o);
    ASSERT_TRUE(r.ok()) << r.status();
    // dc2 knows the credential once its mandators copied it.
    ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok())
        << "the credential was not accepted in " << o.instance.datacenter;
    providers_.push_back(std::move(r).value());
  }

  absl::StatusOr<HttpReply> revoked = HttpCall(
      api, "DELETE", "/api/v1/identities/service/cart", "", kCall,
      {admin_header_});
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(revoked->status, 200) << revoked->body;

  // Every mandator of both DCs refuses it within the propagation time.
  for (int d = 0; d < 2; ++d) {
    for (const auto& m : cluster_->dc(d).mandators) {
      SCOPED_TRACE(m->address());
      EXPECT_TRUE(WaitFor(
          [&] {
            absl::Status connected;
            std::unique_ptr<transport::Client> c =
                ConnectWith(m->address(), *agent_cert, shared_credential,
                            &connected);
            if (c == nullptr || !connected.ok()) return false;
            protocol::HeartbeatRequest hb;
            protocol::InstanceRef* ref = hb.add_instances();
            ref->set_service("cart");
            ref->set_id(absl::StrCat("cart-", d + 1));
            absl::StatusOr<std::string> r = c->CallSync(
                protocol::kHeartbeatMethod, hb.SerializeAsString(), kCall);
            return absl::IsUnauthenticated(r.status()) ||
                   absl::IsUnavailable(r.status());
          },
          absl::Seconds(20), absl::Milliseconds(200)));
      absl::StatusOr<HttpReply> metrics = HttpCall(
          m->http_address(), "GET", "/metrics", "", kCall, {admin_header_});
      ASSERT_TRUE(metrics.ok());
      absl::StatusOr<double> failed = testing::MetricValue(
          metrics->body, "kess_transport_authentications_total",
          "result=\"failed\"");
      EXPECT_TRUE(failed.ok() && *failed >= 1) << "no refused credential";
    }
  }
  // The providers' own connections were closed ("credential_revoked") at
  // their next heartbeat and their re-authentication is refused: they
  // hold no mandator any more.
  EXPECT_TRUE(WaitFor(
      [&] {
        for (size_t i = providers_.size() - 2; i < providers_.size(); ++i) {
          if (!providers_[i]->state().registered.empty()) return false;
        }
        return true;
      },
      absl::Seconds(30), absl::Milliseconds(200)));
}

}  // namespace
}  // namespace kess
