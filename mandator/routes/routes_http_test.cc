#include "mandator/routes/routes_http.h"

#include <map>
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
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

TEST(RoutesHttpTest, ServicesPagedAndFiltered) {
  RouteTables tables;
  for (const char* name : {"ads", "cart", "checkout", "pay", "payments"}) {
    RouteTable t = Table();
    t.service = name;
    // Only "checkout" and "payments" have a suspect instance; "pay" has a
    // critical check.
    if (std::string(name) != "checkout" && std::string(name) != "payments") {
      t.instances[1].state = InstanceState::kHealthy;
    }
    if (std::string(name) == "pay") t.instances[0].check_status = "critical";
    tables[name] = t;
  }
  auto page = [&](std::map<std::string, std::string> query) {
    HttpRequest r;
    r.query = std::move(query);
    absl::StatusOr<std::string> json = ServicesPageJson(tables, "leader", r);
    EXPECT_TRUE(json.ok()) << json.status();
    return ParseJsonObject(json.ok() ? *json : "{}").value();
  };
  auto names = [](Poco::JSON::Object::Ptr o) {
    std::vector<std::string> out;
    auto list = o->getArray("services");
    for (size_t i = 0; i < list->size(); ++i) {
      out.push_back(list->getObject(i)->getValue<std::string>("name"));
    }
    return out;
  };
  auto first = page({{"limit", "2"}});
  EXPECT_EQ(names(first), (std::vector<std::string>{"ads", "cart"}));
  EXPECT_EQ(first->getValue<int>("total"), 5);
  auto second = page(
      {{"limit", "2"},
       {"page_token", first->getValue<std::string>("next_page_token")}});
  EXPECT_EQ(names(second), (std::vector<std::string>{"checkout", "pay"}));
  auto third = page(
      {{"limit", "2"},
       {"page_token", second->getValue<std::string>("next_page_token")}});
  EXPECT_EQ(names(third), (std::vector<std::string>{"payments"}));
  EXPECT_FALSE(third->has("next_page_token"));
  EXPECT_EQ(names(page({{"prefix", "pay"}})),
            (std::vector<std::string>{"pay", "payments"}));
  EXPECT_EQ(names(page({{"q", "art"}})), (std::vector<std::string>{"cart"}));
  EXPECT_EQ(names(page({{"state", "suspect"}})),
            (std::vector<std::string>{"checkout", "payments"}));
  EXPECT_EQ(names(page({{"state", "critical"}})),
            (std::vector<std::string>{"pay"}));
  auto unhealthy = page({{"state", "unhealthy"}});
  EXPECT_EQ(names(unhealthy),
            (std::vector<std::string>{"checkout", "pay", "payments"}));
  EXPECT_EQ(unhealthy->getArray("services")->getObject(1)->getValue<int>(
                "critical"),
            1);
  HttpRequest bad;
  bad.query["state"] = "sad";
  EXPECT_FALSE(ServicesPageJson(tables, "leader", bad).ok());
  bad.query = {{"page_token", "zzz"}};
  EXPECT_FALSE(ServicesPageJson(tables, "leader", bad).ok());
  bad.query = {{"limit", "0"}};
  EXPECT_FALSE(ServicesPageJson(tables, "leader", bad).ok());
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
