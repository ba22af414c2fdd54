#include "model/route_delta.h"

#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/value_encoding.h"
#include "gtest/gtest.h"

namespace kess {
namespace {

RouteInstance Make(int n, int weight) {
  RouteInstance in;
  in.id = absl::StrCat("i-", n);
  in.host = absl::StrCat("host-", n % 17);
  in.address = absl::StrCat("127.0.0.1:", 1000 + n);
  in.datacenter = n % 2 ? "dc1" : "dc2";
  in.weight = weight;
  in.metadata = {{"version", "1.4.2"}, {"zone", "a\"b<c>"}};
  in.registered_ms = 1795314842000 + n;
  return in;
}

// A random table: a random subset of ids 0..range-1 with random fields.
RouteTable RandomTable(std::mt19937* rng, int range, int64_t revision) {
  RouteTable t;
  t.service = "checkout";
  t.revision = revision;
  std::uniform_int_distribution<int> coin(0, 2);
  std::uniform_int_distribution<int> weight(1, 3);
  for (int n = 0; n < range; ++n) {
    if (coin(*rng) == 0) continue;
    RouteInstance in = Make(n, weight(*rng));
    if (coin(*rng) == 0) in.state = InstanceState::kSuspect;
    if (coin(*rng) == 0) in.check_status = "critical";
    t.instances.push_back(std::move(in));
  }
  std::shuffle(t.instances.begin(), t.instances.end(), *rng);  // unsorted
  return t;
}

RouteTable Sorted(RouteTable t) {
  std::sort(t.instances.begin(), t.instances.end(),
            [](const RouteInstance& a, const RouteInstance& b) {
              return a.id < b.id;
            });
  return t;
}

TEST(RouteDeltaTest, ApplyOfComputeGivesTheTargetForRandomTables) {
  std::mt19937 rng(20261208);
  for (int round = 0; round < 200; ++round) {
    const RouteTable a = RandomTable(&rng, 60, 10 + round);
    const RouteTable b = RandomTable(&rng, 60, 11 + round);
    const RouteDelta delta = ComputeRouteDelta(a, b);
    ASSERT_TRUE(ValidateRouteDelta(delta).ok()) << ValidateRouteDelta(delta);
    absl::StatusOr<RouteTable> applied = ApplyRouteDelta(a, delta);
    ASSERT_TRUE(applied.ok()) << applied.status();
    EXPECT_EQ(*applied, Sorted(b));
    // On the JSON: the same bytes as the target's own JSON.
    const std::string want = RouteTableToJson(b);
    absl::StatusOr<std::string> json =
        ApplyRouteDeltaToJson(RouteTableToJson(a), delta, Crc32(want));
    ASSERT_TRUE(json.ok()) << json.status();
    EXPECT_EQ(*json, want);
    // And through the delta's own JSON.
    absl::StatusOr<RouteDelta> parsed =
        RouteDeltaFromJson(RouteDeltaToJson(delta));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, delta);
  }
}

TEST(RouteDeltaTest, ComposedDeltasApplyLikeTheChain) {
  std::mt19937 rng(7);
  for (int round = 0; round < 100; ++round) {
    const RouteTable a = RandomTable(&rng, 30, 100);
    const RouteTable b = RandomTable(&rng, 30, 101);
    const RouteTable c = RandomTable(&rng, 30, 105);
    absl::StatusOr<RouteDelta> composed =
        ComposeRouteDeltas(ComputeRouteDelta(a, b), ComputeRouteDelta(b, c));
    ASSERT_TRUE(composed.ok()) << composed.status();
    EXPECT_EQ(composed->base_revision, 100);
    EXPECT_EQ(composed->revision, 105);
    absl::StatusOr<RouteTable> applied = ApplyRouteDelta(a, *composed);
    ASSERT_TRUE(applied.ok()) << applied.status();
    EXPECT_EQ(*applied, Sorted(c));
  }
}

TEST(RouteDeltaTest, OneWeightChangeIsOneSmallEntry) {
  RouteTable a;
  a.service = "big";
  a.revision = 41;
  for (int n = 0; n < 2000; ++n) a.instances.push_back(Make(n, 100));
  RouteTable b = a;
  b.revision = 42;
  b.instances[1234].weight = 7;
  const RouteDelta delta = ComputeRouteDelta(a, b);
  EXPECT_TRUE(delta.added.empty());
  EXPECT_TRUE(delta.removed.empty());
  ASSERT_EQ(delta.changed.size(), 1u);
  EXPECT_EQ(delta.changed[0].weight, 7);
  const std::string full = RouteTableToJson(b);
  const std::string text = RouteDeltaToJson(delta);
  EXPECT_LT(text.size() * 100, full.size())
      << text.size() << " vs " << full.size();
  absl::StatusOr<std::string> json =
      ApplyRouteDeltaToJson(RouteTableToJson(a), delta, Crc32(full));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, full);
}

TEST(RouteDeltaTest, NonCanonicalBaseIsParsed) {
  RouteTable a;
  a.service = "s";
  a.revision = 5;
  a.instances = {Make(1, 1), Make(2, 2)};
  RouteTable b = a;
  b.revision = 6;
  b.instances.pop_back();
  const RouteDelta delta = ComputeRouteDelta(a, b);
  // Spaces and an unknown field: not the canonical form, still a table.
  std::string base = RouteTableToJson(a);
  base.insert(1, " \"future\": true, ");
  const std::string want = RouteTableToJson(b);
  absl::StatusOr<std::string> json =
      ApplyRouteDeltaToJson(base, delta, Crc32(want));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, want);
}

class HostileDeltaTest : public ::testing::Test {
 protected:
  HostileDeltaTest() {
    base_.service = "s";
    base_.revision = 10;
    base_.instances = {Make(1, 1), Make(2, 2), Make(3, 3)};
    delta_.service = "s";
    delta_.base_revision = 10;
    delta_.revision = 11;
  }
  // Both appliers refuse `delta_` with `code`.
  void ExpectRefused(absl::StatusCode code) {
    EXPECT_EQ(ApplyRouteDelta(base_, delta_).status().code(), code);
    EXPECT_EQ(ApplyRouteDeltaToJson(RouteTableToJson(base_), delta_, 0)
                  .status()
                  .code(),
              code);
  }
  RouteTable base_;
  RouteDelta delta_;
};

TEST_F(HostileDeltaTest, UnknownInstanceRemoved) {
  delta_.removed = {"i-9"};
  ExpectRefused(absl::StatusCode::kFailedPrecondition);
}

TEST_F(HostileDeltaTest, UnknownInstanceChanged) {
  delta_.changed = {Make(9, 1)};
  ExpectRefused(absl::StatusCode::kFailedPrecondition);
}

TEST_F(HostileDeltaTest, AddOfAnInstanceThatIsThere) {
  delta_.added = {Make(2, 5)};
  ExpectRefused(absl::StatusCode::kFailedPrecondition);
}

TEST_F(HostileDeltaTest, DuplicateAdds) {
  delta_.added = {Make(7, 5), Make(7, 6)};
  ExpectRefused(absl::StatusCode::kInvalidArgument);
}

TEST_F(HostileDeltaTest, SameIdInTwoLists) {
  delta_.added = {Make(7, 5)};
  delta_.removed = {"i-7"};
  ExpectRefused(absl::StatusCode::kInvalidArgument);
}

TEST_F(HostileDeltaTest, WrongBaseRevisionOrService) {
  delta_.base_revision = 9;
  delta_.revision = 11;
  ExpectRefused(absl::StatusCode::kFailedPrecondition);
  delta_.base_revision = 10;
  delta_.service = "other";
  ExpectRefused(absl::StatusCode::kFailedPrecondition);
}

TEST_F(HostileDeltaTest, RevisionNotAfterBase) {
  delta_.revision = 10;
  ExpectRefused(absl::StatusCode::kInvalidArgument);
}

TEST_F(HostileDeltaTest, InvalidInstance) {
  RouteInstance bad = Make(8, 1);
  bad.weight = 0;
  delta_.added = {bad};
  ExpectRefused(absl::StatusCode::kInvalidArgument);
}

TEST_F(HostileDeltaTest, CrcMismatch) {
  delta_.changed = {Make(2, 9)};
  RouteTable want = base_;
  want.revision = 11;
  want.instances[1].weight = 9;
  const uint32_t crc = Crc32(RouteTableToJson(want));
  EXPECT_TRUE(ApplyRouteDeltaToJson(RouteTableToJson(base_), delta_, crc).ok());
  EXPECT_EQ(ApplyRouteDeltaToJson(RouteTableToJson(base_), delta_, crc ^ 1)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(HostileDeltaTest, HugeCounts) {
  for (int n = 0; n <= static_cast<int>(kMaxRouteDeltaEntries); ++n) {
    delta_.removed.push_back(absl::StrCat("x-", 1000000 + n));
  }
  EXPECT_EQ(ValidateRouteDelta(delta_).code(),
            absl::StatusCode::kInvalidArgument);
  ExpectRefused(absl::StatusCode::kInvalidArgument);
  // Above the byte limit the parser does not even start.
  std::string huge = RouteDeltaToJson(delta_);
  ASSERT_GT(huge.size(), kMaxRouteDeltaBytes / 4);
  huge.resize(kMaxRouteDeltaBytes + 1, ' ');
  EXPECT_EQ(RouteDeltaFromJson(huge).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RouteDeltaParseTest, RejectsMalformedJson) {
  auto code = [](const std::string& json) {
    return RouteDeltaFromJson(json).status().code();
  };
  const auto kBad = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code("nope"), kBad);
  EXPECT_EQ(code(R"({"format":2,"service":"s","base_revision":1,)"
                 R"("revision":2})"),
            kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"s","revision":2})"), kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"s","base_revision":1,)"
                 R"("revision":2,"removed":[3]})"),
            kBad);
  EXPECT_EQ(code(R"({"format":1,"service":"s","base_revision":1,)"
                 R"("revision":2,"removed":["b","a"]})"),
            kBad);  // not sorted
  absl::StatusOr<RouteDelta> ok =
      RouteDeltaFromJson(R"({"format":1,"service":"s","base_revision":1,)"
                         R"("revision":2,"removed":["a"],"future":{}})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->removed, std::vector<std::string>{"a"});
}

TEST(RouteDeltaComposeTest, RefusesDeltasThatDoNotFollow) {
  RouteDelta a;
  a.service = "s";
  a.base_revision = 1;
  a.revision = 2;
  a.added = {Make(1, 1)};
  RouteDelta b = a;
  b.base_revision = 2;
  b.revision = 3;
  // Adds again what `a` added.
  EXPECT_EQ(ComposeRouteDeltas(a, b).status().code(),
            absl::StatusCode::kFailedPrecondition);
  b.added.clear();
  b.removed = {"i-1"};  // add then remove: nothing
  absl::StatusOr<RouteDelta> c = ComposeRouteDeltas(a, b);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->empty());
  b.base_revision = 5;
  b.revision = 6;
  EXPECT_EQ(ComposeRouteDeltas(a, b).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kess
