#include "model/route_table.h"

#include "gtest/gtest.h"

namespace kess {
namespace {

RouteInstance Make(const std::string& id, const std::string& dc) {
  RouteInstance in;
  in.id = id;
  in.host = "host-" + id;
  in.address = "127.0.0.1:8080";
  in.datacenter = dc;
  in.weight = 50;
  in.metadata = {{"version", "1.4.2"}, {"zone", "a\"b<c>"}};
  in.registered_ms = 1795314842000;
  return in;
}

TEST(RouteTableTest, RoundTripsAndSortsById) {
  RouteTable t;
  t.service = "checkout";
  t.revision = 42;
  t.instances = {Make("b", "dc2"), Make("a", "dc1")};
  t.instances[0].state = InstanceState::kSuspect;
  t.instances[0].health = "warming_up";
  std::string json = RouteTableToJson(t);
  EXPECT_LT(json.find("\"id\":\"a\""), json.find("\"id\":\"b\""));
  absl::StatusOr<RouteTable> back = RouteTableFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->service, "checkout");
  EXPECT_EQ(back->revision, 42);
  ASSERT_EQ(back->instances.size(), 2u);
  EXPECT_EQ(back->instances[0], Make("a", "dc1"));
  EXPECT_EQ(back->instances[1].state, InstanceState::kSuspect);
  EXPECT_EQ(back->instances[1].health, "warming_up");
  // Equal tables give equal bytes, whatever the input order.
  std::swap(t.instances[0], t.instances[1]);
  EXPECT_EQ(RouteTableToJson(t), json);
}

TEST(RouteTableTest, EmptyTable) {
  RouteTable t;
  t.service = "idle";
  absl::StatusOr<RouteTable> back = RouteTableFromJson(RouteTableToJson(t));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->instances.empty());
}

TEST(RouteTableTest, RejectsBadInput) {
  auto code = [](const std::string& json) {
    return RouteTableFromJson(json).status().code();
  };
  const auto kBad = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code("not json"), kBad);
  EXPECT_EQ(code(R"({"format":2,"service":"s","instances":[]})"), kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"../s","instances":[]})"), kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"s"})"), kBad);
  const std::string inst =
      R"({"id":"i","host":"h","address":"127.0.0.1:1","datacenter":"d",)";
  EXPECT_EQ(code(R"({"format":1,"service":"s","instances":[)" + inst +
                 R"("weight":0}]})"),
            kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"s","instances":[)" + inst +
                 R"("weight":"x"}]})"),
            kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"s","instances":[)" + inst +
                 R"("weight":1,"state":"zombie"}]})"),
            kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"s","instances":[)" + inst +
                 R"("weight":1},)" + inst + R"("weight":2}]})"),
            kBad);  // duplicate id
  absl::StatusOr<RouteTable> ok = RouteTableFromJson(
      R"({"format":1,"service":"s","future_field":1,"instances":[)" + inst +
      R"("weight":1}]})");
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(ValidateRouteInstanceTest, Rules) {
  RouteInstance in = Make("i-1", "dc1");
  EXPECT_TRUE(ValidateRouteInstance(in).ok());
  for (const char* addr :
       {"nohostport", ":80", "h:", "h:0", "h:65536", "h:8x"}) {
    RouteInstance bad = in;
    bad.address = addr;
    EXPECT_FALSE(ValidateRouteInstance(bad).ok()) << addr;
  }
  RouteInstance bad = in;
  bad.weight = -5;
  EXPECT_NE(ValidateRouteInstance(bad).message().find("weight -5"),
            std::string::npos);
  bad = in;
  bad.weight = kMaxInstanceWeight + 1;
  EXPECT_FALSE(ValidateRouteInstance(bad).ok());
  bad = in;
  bad.host = "a/b";
  EXPECT_FALSE(ValidateRouteInstance(bad).ok());
  bad = in;
  bad.health = "Up!";
  EXPECT_FALSE(ValidateRouteInstance(bad).ok());
  bad = in;
  bad.check_status = "dead";
  EXPECT_NE(ValidateRouteInstance(bad).message().find("check_status"),
            std::string::npos);
  bad = in;
  bad.check_output = std::string(kMaxCheckOutputBytes + 1, 'x');
  EXPECT_FALSE(ValidateRouteInstance(bad).ok());
  bad = in;
  bad.check_output = "bell\x07";
  EXPECT_FALSE(ValidateRouteInstance(bad).ok());
  RouteInstance good = in;
  good.check_status = "critical";
  good.check_output = std::string(kMaxCheckOutputBytes, 'x');
  EXPECT_TRUE(ValidateRouteInstance(good).ok());
}

TEST(RouteTableTest, CheckFieldsRoundTripAndAreOmittedWhenEmpty) {
  RouteTable t;
  t.service = "s";
  t.instances = {Make("a", "dc1"), Make("b", "dc1")};
  t.instances[1].check_status = "critical";
  t.instances[1].check_output = "HTTP GET http://127.0.0.1:1/: timed out\n\"x\"";
  const std::string json = RouteTableToJson(t);
  // Instance "a" has no check fields at all (older tables stay byte-equal).
  EXPECT_EQ(json.find("check_status"), json.rfind("check_status"));
  auto back = RouteTableFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, t);
  EXPECT_EQ(back->instances[0].check_status, "");
}

}  // namespace
}  // namespace kess
