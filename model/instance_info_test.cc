#include "model/instance_info.h"

#include "gtest/gtest.h"

namespace kess {
namespace {

protocol::InstanceInfo Valid() {
  protocol::InstanceInfo info;
  info.set_service("checkout");
  info.set_id("checkout-1");
  info.set_host("web-12");
  info.set_address("127.0.0.1:8080");
  info.set_datacenter("dc1");
  info.set_weight(100);
  (*info.mutable_metadata())["version"] = "1.4.2";
  return info;
}

TEST(InstanceInfoTest, RoundTrip) {
  protocol::InstanceInfo info = Valid();
  RouteInstance r = ToRouteInstance(info);
  EXPECT_EQ(r.id, "checkout-1");
  EXPECT_EQ(r.health, "up");  // empty health means "up"
  EXPECT_EQ(r.metadata.at("version"), "1.4.2");
  info.set_health("up");
  EXPECT_EQ(ToInstanceInfo("checkout", r).SerializeAsString(),
            info.SerializeAsString());
}

TEST(InstanceInfoTest, Validates) {
  EXPECT_TRUE(ValidateInstanceInfo(Valid()).ok());
  for (auto mutate : std::vector<void (*)(protocol::InstanceInfo&)>{
           [](protocol::InstanceInfo& i) { i.set_service("../x"); },
           [](protocol::InstanceInfo& i) { i.set_service(""); },
           [](protocol::InstanceInfo& i) { i.set_id("a/b"); },
           [](protocol::InstanceInfo& i) { i.set_host(""); },
           [](protocol::InstanceInfo& i) { i.set_weight(0); },
           [](protocol::InstanceInfo& i) { i.set_weight(-5); },
           [](protocol::InstanceInfo& i) { i.set_weight(10001); },
           [](protocol::InstanceInfo& i) { i.set_address("nohost"); },
           [](protocol::InstanceInfo& i) { i.set_health("Warming Up"); },
       }) {
    protocol::InstanceInfo info = Valid();
    mutate(info);
    absl::Status s = ValidateInstanceInfo(info);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
        << info.ShortDebugString();
  }
  protocol::InstanceRef ref;
  ref.set_service("checkout");
  ref.set_id("checkout-1");
  EXPECT_TRUE(ValidateInstanceRef(ref).ok());
  ref.set_id("..");
  EXPECT_FALSE(ValidateInstanceRef(ref).ok());
}

}  // namespace
}  // namespace kess
