#include "mandator/routes/routes_http.h"

#include "Poco/JSON/Object.h"
#include "common/json_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

RouteTable Table() {
  RouteTable table;
  table.service = "checkout";
  table.revision = 42;
  for (const char* id : {"a", "b", "c"}) {
    RouteInstance in;
    in.id = id;
    in.host = "h1";
    in.address = "127.0.0.1:80";
    in.datacenter = id[0] == 'c' ? "dc2" : "dc1";
    in.state = id[0] == 'b' ? InstanceState::kSuspect : InstanceState::kHealthy;
    table.instances.push_back(in);
  }
  return table;
}

TEST(RoutesHttpTest, ServicesCountsPerDatacenterAndState) {
  RouteTables tables;
  tables["checkout"] = Table();
  auto json = ParseJsonObject(ServicesToJson(tables, "leader"));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)->getValue<std::string>("source"), "leader");
  auto service = (*json)->getArray("services")->getObject(0);
  EXPECT_EQ(service->getValue<std::string>("name"), "checkout");
  EXPECT_EQ(service->getValue<int>("revision"), 42);
  EXPECT_EQ(service->getValue<int>("instances"), 3);
  auto dcs = service->getObject("datacenters");
  EXPECT_EQ(dcs->getObject("dc1")->getValue<int>("healthy"), 1);
  EXPECT_EQ(dcs->getObject("dc1")->getValue<int>("suspect"), 1);
  EXPECT_EQ(dcs->getObject("dc2")->getValue<int>("healthy"), 1);
}

TEST(RoutesHttpTest, ServiceHasTheTableAndHeartbeatAges) {
  std::map<std::string, int64_t> ages = {{"a", 1200}};
  auto json = ParseJsonObject(ServiceToJson(Table(), &ages, "leader"));
  ASSERT_TRUE(json.ok()) << json.status();
  auto table = (*json)->getObject("table");
  EXPECT_EQ(table->getValue<int>("format"), 1);
  EXPECT_EQ(table->getArray("instances")->size(), 3u);
  auto age = (*json)->getObject("heartbeat_age_ms");
  EXPECT_EQ(age->getValue<int>("a"), 1200);
  EXPECT_TRUE(age->isNull("b"));

  auto from_zk = ParseJsonObject(ServiceToJson(Table(), nullptr, "zookeeper"));
  ASSERT_TRUE(from_zk.ok());
  EXPECT_TRUE((*from_zk)->isNull("heartbeat_age_ms"));
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
