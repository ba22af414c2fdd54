// Registration rights (scheduler_service.h): what each principal may do
// with kess.Register, Heartbeat, Deregister, HostHeartbeat and
// GetPartialTable; every refusal is PERMISSION_DENIED, counted, and changes
// nothing.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/identity/principal.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "mandator/scheduler/partial_table.h"
#include "mandator/scheduler/scheduler_service.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/distribution.pb.h"

namespace kess {
namespace mandator {
namespace scheduler {
namespace {

identity::Principal P(const std::string& uri) {
  return *identity::ParsePrincipalUri(uri);
}

protocol::InstanceInfo Info(const std::string& service, const std::string& id,
                            const std::string& host,
                            const std::string& address = "127.0.0.1:8080") {
  protocol::InstanceInfo info;
  info.set_service(service);
  info.set_id(id);
  info.set_host(host);
  info.set_address(address);
  info.set_datacenter("dc1");
  info.set_weight(100);
  info.set_health("up");
  return info;
}

std::string RegisterPayload(const protocol::InstanceInfo& info) {
  protocol::RegisterRequest request;
  *request.add_instances() = info;
  return request.SerializeAsString();
}

std::string Refs(const std::string& service, const std::string& id,
                 const std::string& health = "") {
  protocol::HeartbeatRequest request;
  protocol::InstanceRef* ref = request.add_instances();
  ref->set_service(service);
  ref->set_id(id);
  request.set_health(health);
  return request.SerializeAsString();
}

std::string DeregisterPayload(const std::string& service,
                              const std::string& id) {
  protocol::DeregisterRequest request;
  protocol::InstanceRef* ref = request.add_instances();
  ref->set_service(service);
  ref->set_id(id);
  return request.SerializeAsString();
}

class RegistrationRightsTest : public ::testing::Test {
 protected:
  RegistrationRightsTest() : table_(&clock_, PartialTableOptions()) {
    SchedulerServiceOptions o;
    o.mandator_id = "m1";
    o.datacenter = "dc1";
    o.registry = &registry_;
    o.require_identity = true;
    o.published_host = [this](const std::string& service,
                              const std::string& id)
        -> std::optional<std::string> {
      auto it = published_.find(service + "/" + id);
      if (it == published_.end()) return std::nullopt;
      return it->second;
    };
    service_ = std::make_unique<SchedulerService>(&table_, o);
  }

  double Refused(const char* method, const char* reason) {
    return registry_
        .GetCounter("kess_registration_refused_total", "",
                    {{"method", method}, {"reason", reason}})
        ->Value();
  }

  // The one instance's address and health as the leader would read them.
  std::string Held(const std::string& id) {
    protocol::PartialTable t = table_.Snapshot(0, nullptr);
    for (const protocol::InstanceSeen& seen : t.instances()) {
      if (seen.info().id() == id) {
        return seen.info().address() + " " + seen.info().health() +
               (seen.deregistered() ? " deregistered" : "");
      }
    }
    return "absent";
  }

  ManualClock clock_;
  metrics::Registry registry_;
  PartialTable table_;
  std::map<std::string, std::string> published_;
  std::unique_ptr<SchedulerService> service_;
};

TEST_F(RegistrationRightsTest, HostRegistersOnlyItsOwnInstances) {
  const identity::Principal web17 = P("kess://host/web-17");
  EXPECT_TRUE(service_->Register(web17, RegisterPayload(Info("shop", "a", "web-17"))).ok());
  EXPECT_EQ(Held("a"), "127.0.0.1:8080 up");

  absl::StatusOr<std::string> r =
      service_->Register(web17, RegisterPayload(Info("shop", "b", "web-18")));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_EQ(Held("b"), "absent");
  EXPECT_EQ(Refused("kess.Register", "foreign_host"), 1);

  r = service_->Register(*identity::Anonymous(),
                         RegisterPayload(Info("shop", "c", "web-17")));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status()));
  EXPECT_EQ(Refused("kess.Register", "anonymous"), 1);

  r = service_->Register(P("kess://mandator/dc1/m2"),
                         RegisterPayload(Info("shop", "c", "web-17")));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status()));
  EXPECT_EQ(Refused("kess.Register", "wrong_kind"), 1);
  EXPECT_EQ(Held("c"), "absent");
}

TEST_F(RegistrationRightsTest, ServicePrincipalRegistersItsServiceOnAnyHost) {
  const identity::Principal shop = P("kess://service/shop");
  EXPECT_TRUE(service_->Register(shop, RegisterPayload(Info("shop", "a", "web-1"))).ok());
  EXPECT_TRUE(service_->Register(shop, RegisterPayload(Info("shop", "b", "web-2"))).ok());
  absl::StatusOr<std::string> r =
      service_->Register(shop, RegisterPayload(Info("cart", "a", "web-1")));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status()));
  EXPECT_EQ(Refused("kess.Register", "foreign_service"), 1);
}

TEST_F(RegistrationRightsTest, HijackOfABoundInstanceIsRefused) {
  ASSERT_TRUE(service_
                  ->Register(P("kess://host/web-17"),
                             RegisterPayload(Info("shop", "a", "web-17")))
                  .ok());
  // Another host claims the same instance on itself, with its address.
  protocol::InstanceInfo fake = Info("shop", "a", "evil", "127.0.0.66:1");
  fake.set_weight(10000);
  absl::StatusOr<std::string> r =
      service_->Register(P("kess://host/evil"), RegisterPayload(fake));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("kess://host/web-17"), std::string::npos)
      << r.status();
  EXPECT_EQ(Held("a"), "127.0.0.1:8080 up");
  EXPECT_EQ(Refused("kess.Register", "owned_by_other"), 1);
  // Even the service's principal cannot take over what a host registered.
  EXPECT_FALSE(service_->Register(P("kess://service/shop"), RegisterPayload(fake)).ok());
  // The owner may update it.
  EXPECT_TRUE(service_
                  ->Register(P("kess://host/web-17"),
                             RegisterPayload(
                                 Info("shop", "a", "web-17", "127.0.0.1:9090")))
                  .ok());
  EXPECT_EQ(Held("a"), "127.0.0.1:9090 up");
}

TEST_F(RegistrationRightsTest, PublishedInstanceStaysWithItsHostAfterAFailover) {
  // This mandator never heard of it, but the route table places it on
  // web-17 (it was registered with a mandator that failed).
  published_["shop/a"] = "web-17";
  absl::StatusOr<std::string> r = service_->Register(
      P("kess://host/evil"), RegisterPayload(Info("shop", "a", "evil")));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status()));
  EXPECT_EQ(Refused("kess.Register", "published_elsewhere"), 1);
  EXPECT_EQ(Held("a"), "absent");
  EXPECT_TRUE(service_
                  ->Register(P("kess://host/web-17"),
                             RegisterPayload(Info("shop", "a", "web-17")))
                  .ok());
}

TEST_F(RegistrationRightsTest, HeartbeatAndDeregisterAreTheOwnersOnly) {
  const identity::Principal web17 = P("kess://host/web-17");
  const identity::Principal evil = P("kess://host/evil");
  ASSERT_TRUE(service_->Register(web17, RegisterPayload(Info("shop", "a", "web-17"))).ok());

  absl::StatusOr<std::string> r =
      service_->Heartbeat(evil, Refs("shop", "a", "draining"));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_EQ(Held("a"), "127.0.0.1:8080 up");  // health unchanged
  EXPECT_EQ(Refused("kess.Heartbeat", "owned_by_other"), 1);
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->Heartbeat(*identity::Anonymous(), Refs("shop", "a")).status()));

  r = service_->Deregister(evil, DeregisterPayload("shop", "a"));
  EXPECT_TRUE(absl::IsPermissionDenied(r.status()));
  EXPECT_EQ(Held("a"), "127.0.0.1:8080 up");
  EXPECT_EQ(Refused("kess.Deregister", "owned_by_other"), 1);

  r = service_->Heartbeat(web17, Refs("shop", "a", "draining"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Held("a"), "127.0.0.1:8080 draining");
  EXPECT_TRUE(service_->Deregister(web17, DeregisterPayload("shop", "a")).ok());
  EXPECT_EQ(Held("a"), "127.0.0.1:8080 draining deregistered");
  // The tombstone stays bound: another host cannot revive it as its own.
  EXPECT_FALSE(service_->Register(evil, RegisterPayload(Info("shop", "a", "evil"))).ok());
}

TEST_F(RegistrationRightsTest, HostHeartbeatAndPartialTable) {
  protocol::HostHeartbeat hb;
  hb.set_host_id("web-17");
  hb.set_datacenter("dc1");
  const std::string payload = hb.SerializeAsString();
  EXPECT_TRUE(service_->HostHeartbeat(P("kess://host/web-17"), payload).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->HostHeartbeat(P("kess://host/evil"), payload).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->HostHeartbeat(*identity::Anonymous(), payload).status()));

  protocol::PartialTableRequest request;
  const std::string get = request.SerializeAsString();
  EXPECT_TRUE(service_->GetPartialTable(P("kess://mandator/dc2/m4"), get).ok());
  absl::StatusOr<std::string> r =
      service_->GetPartialTable(P("kess://host/web-17"), get);
  EXPECT_TRUE(absl::IsPermissionDenied(r.status()));
  EXPECT_EQ(Refused("kess.GetPartialTable", "not_mandator"), 1);
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->GetPartialTable(*identity::Anonymous(), get).status()));
  EXPECT_EQ(Refused("kess.GetPartialTable", "anonymous"), 1);
}

// An anonymous peer is refused before its payload is parsed: garbage is
// PERMISSION_DENIED (anonymous), never INVALID_ARGUMENT (malformed).
TEST_F(RegistrationRightsTest, AnonymousIsRefusedBeforeParsing) {
  const std::string garbage = "\xff\xff\xff\xff not a protobuf";
  const identity::Principal& anonymous = *identity::Anonymous();
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->Register(anonymous, garbage).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->Heartbeat(anonymous, garbage).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->Deregister(anonymous, garbage).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      service_->HostHeartbeat(anonymous, garbage).status()));
  for (const char* method : {"kess.Register", "kess.Heartbeat",
                             "kess.Deregister", "kess.HostHeartbeat"}) {
    EXPECT_EQ(Refused(method, "anonymous"), 1) << method;
  }
  EXPECT_EQ(registry_
                .GetCounter("kess_scheduler_rejected_total", "",
                            {{"reason", "malformed"}})
                ->Value(),
            0);
  // An identified peer's garbage is still malformed.
  EXPECT_TRUE(absl::IsInvalidArgument(
      service_->Register(P("kess://host/web-17"), garbage).status()));
}

}  // namespace
}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
