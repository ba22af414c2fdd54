// The check state machine (flap damping) and the check definitions'
// parser: pure, no clock.
#include "agent/check_state.h"

#include <string>

#include "agent/check_spec.h"
#include "common/json_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace agent {
namespace {

constexpr CheckStatus kPass = CheckStatus::kPassing;
constexpr CheckStatus kWarn = CheckStatus::kWarning;
constexpr CheckStatus kCrit = CheckStatus::kCritical;

TEST(CheckStateTest, WithoutDampingEveryResultDecides) {
  CheckState s(kCrit, 1, 1);
  EXPECT_EQ(s.status(), kCrit);
  EXPECT_TRUE(s.Record(kPass, "200 OK"));
  EXPECT_EQ(s.status(), kPass);
  EXPECT_EQ(s.change_output(), "200 OK");
  EXPECT_FALSE(s.Record(kPass, "200 OK again"));
  EXPECT_EQ(s.output(), "200 OK again");
  EXPECT_EQ(s.change_output(), "200 OK");
  EXPECT_TRUE(s.Record(kWarn, "429"));
  EXPECT_TRUE(s.Record(kCrit, "500"));
  EXPECT_EQ(s.results(), 4);
}

TEST(CheckStateTest, FailuresBeforeCriticalDampFlaps) {
  CheckState s(kPass, 2, 3);
  // Two failures, a success, two failures: never critical.
  EXPECT_FALSE(s.Record(kCrit, "timed out"));
  EXPECT_FALSE(s.Record(kCrit, "timed out"));
  EXPECT_EQ(s.pending(), 2);
  EXPECT_FALSE(s.Record(kPass, "ok"));  // equal to the state: count reset
  EXPECT_EQ(s.pending(), 0);
  EXPECT_FALSE(s.Record(kCrit, "timed out"));
  EXPECT_FALSE(s.Record(kCrit, "timed out"));
  EXPECT_EQ(s.status(), kPass);
  // The third in a row decides.
  EXPECT_TRUE(s.Record(kCrit, "refused"));
  EXPECT_EQ(s.status(), kCrit);
  EXPECT_EQ(s.change_output(), "refused");
  // Back needs 2 consecutive passes; a failure in between restarts it.
  EXPECT_FALSE(s.Record(kPass, "ok"));
  EXPECT_FALSE(s.Record(kCrit, "timed out"));
  EXPECT_FALSE(s.Record(kPass, "ok"));
  EXPECT_TRUE(s.Record(kPass, "ok 2"));
  EXPECT_EQ(s.status(), kPass);
}

TEST(CheckStateTest, MixedFailuresAddUpToTheWorstOfTheStreak) {
  CheckState s(kPass, 1, 3);
  // Alternating warning and critical is one failure streak.
  EXPECT_FALSE(s.Record(kWarn, "429"));
  EXPECT_FALSE(s.Record(kCrit, "500"));
  EXPECT_EQ(s.pending(), 2);
  EXPECT_EQ(s.status(), kPass);
  EXPECT_TRUE(s.Record(kWarn, "429 again"));
  EXPECT_EQ(s.status(), kCrit);  // the worst of the streak
  EXPECT_EQ(s.change_output(), "429 again");

  // Warnings alone make it warning.
  CheckState w(kPass, 1, 2);
  EXPECT_FALSE(w.Record(kWarn, "slow"));
  EXPECT_TRUE(w.Record(kWarn, "slow"));
  EXPECT_EQ(w.status(), kWarn);
  // From warning, criticals and warnings in a row: a warning equal to the
  // state resets the count, two criticals in a row move it.
  EXPECT_FALSE(w.Record(kCrit, "500"));
  EXPECT_FALSE(w.Record(kWarn, "slow"));
  EXPECT_EQ(w.pending(), 0);
  EXPECT_FALSE(w.Record(kCrit, "500"));
  EXPECT_TRUE(w.Record(kCrit, "500"));
  EXPECT_EQ(w.status(), kCrit);

  // A passing result ends a failure streak.
  CheckState p(kPass, 1, 2);
  EXPECT_FALSE(p.Record(kCrit, "500"));
  EXPECT_FALSE(p.Record(kPass, "ok"));
  EXPECT_FALSE(p.Record(kWarn, "429"));
  EXPECT_EQ(p.status(), kPass);
}

TEST(CheckStateTest, SetIsImmediate) {
  CheckState s(kCrit, 5, 5);
  EXPECT_TRUE(s.Set(kPass, "app says fine"));
  EXPECT_EQ(s.status(), kPass);
  EXPECT_FALSE(s.Set(kPass, "still fine"));
  EXPECT_TRUE(s.Set(kCrit, "TTL expired"));
  EXPECT_EQ(s.change_output(), "TTL expired");
}

absl::StatusOr<CheckSpec> Parse(const std::string& json, CheckLimits limits = {}) {
  auto obj = ParseJsonObject(json);
  if (!obj.ok()) return obj.status();
  return ParseCheckSpec(*obj, "svc.i-1.1", "127.0.0.1:8080", limits);
}

TEST(CheckSpecTest, ParsesEveryKindWithDefaults) {
  auto http = Parse(
      R"({"kind":"http","url":"http://localhost:9000/health?x=1",)"
      R"("interval":"5s","timeout":"500ms","expect_status":204})");
  ASSERT_TRUE(http.ok()) << http.status();
  EXPECT_EQ(http->id, "svc.i-1.1");
  EXPECT_EQ(http->ip, "127.0.0.1");
  EXPECT_EQ(http->port, 9000);
  EXPECT_EQ(http->path, "/health?x=1");
  EXPECT_EQ(http->interval, absl::Seconds(5));
  EXPECT_EQ(http->timeout, absl::Milliseconds(500));
  EXPECT_EQ(http->expect_status, 204);
  EXPECT_EQ(http->initial, kCrit);
  EXPECT_EQ(http->failures_before_critical, 3);

  auto tcp = Parse(R"({"id":"db","kind":"tcp"})");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->id, "db");
  EXPECT_EQ(tcp->port, 8080);  // the instance's address

  auto ttl = Parse(R"({"kind":"ttl","ttl":"30s","status":"passing"})");
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(ttl->ttl, absl::Seconds(30));
  EXPECT_EQ(ttl->initial, kPass);

  CheckLimits exec_on;
  exec_on.enable_exec = true;
  auto exec = Parse(R"({"kind":"exec","args":["/bin/true","-x"]})", exec_on);
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_EQ(exec->args.size(), 2u);

  // What CheckSpecToJson writes parses back to the same.
  for (const CheckSpec& spec : {*http, *tcp, *ttl}) {
    auto back = Parse(CheckSpecToJson(spec));
    ASSERT_TRUE(back.ok()) << CheckSpecToJson(spec) << ": " << back.status();
    EXPECT_EQ(CheckSpecToJson(*back), CheckSpecToJson(spec));
  }
}

TEST(CheckSpecTest, RefusesBadDefinitionsWithAClearMessage) {
  struct Case {
    const char* json;
    const char* message;
  } cases[] = {
      {R"({"url":"http://127.0.0.1:1/"})", "\"kind\" is missing"},
      {R"({"kind":"grpc"})", "unknown kind \"grpc\""},
      {R"({"kind":"http"})", "\"url\" must be http://"},
      {R"({"kind":"http","url":"https://127.0.0.1/"})", "https"},
      {R"({"kind":"http","url":"http://example.com/"})", "no DNS lookups"},
      {R"({"kind":"http","url":"http://127.0.0.1:70000/"})", "port 1..65535"},
      {R"({"kind":"tcp","target":"nohost"})", "ip:port"},
      {R"({"kind":"tcp","interval":"soon"})", "not a positive duration"},
      {R"({"kind":"tcp","interval":"-5s"})", "not a positive duration"},
      {R"({"kind":"tcp","interval":"10ms"})", "\"interval\" must be within"},
      {R"({"kind":"tcp","interval":"2s","timeout":"2s"})",
       "\"timeout\" must be shorter"},
      {R"({"kind":"tcp","failures_before_critical":0})", "outside 1..100"},
      {R"({"kind":"tcp","success_before_passing":"2"})", "must be an integer"},
      {R"({"kind":"tcp","status":"fine"})", "not one of passing"},
      {R"({"kind":"ttl"})", "\"ttl\" is missing"},
      {R"({"kind":"http","url":"http://127.0.0.1/","expect_status":42})",
       "outside 100..599"},
      {R"({"id":"../x","kind":"tcp"})", "check id"},
      {R"({"kind":7})", "\"kind\" must be a string"},
  };
  for (const Case& c : cases) {
    auto spec = Parse(c.json);
    ASSERT_FALSE(spec.ok()) << c.json;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << c.json << " -> " << spec.status().message();
  }
}

TEST(CheckSpecTest, ExecChecksAreOffUnlessEnabled) {
  auto off = Parse(R"({"kind":"exec","args":["/bin/true"]})");
  EXPECT_EQ(off.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(off.status().message().find("--enable_exec_checks"),
            std::string::npos);
  CheckLimits on;
  on.enable_exec = true;
  EXPECT_NE(Parse(R"({"kind":"exec","args":["true"]})", on)
                .status()
                .message()
                .find("absolute path"),
            std::string::npos);
  EXPECT_FALSE(Parse(R"({"kind":"exec","args":[]})", on).ok());
  EXPECT_FALSE(Parse(R"({"kind":"exec","args":[1]})", on).ok());
}

}  // namespace
}  // namespace agent
}  // namespace kess
