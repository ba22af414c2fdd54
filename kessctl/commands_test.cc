// Every kessctl command run in-process against FakeMandator.
#include "kessctl/commands.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kessctl/client.h"
#include "kessctl/fake_mandator.h"

namespace kess {
namespace kessctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fake = FakeMandator::Start();
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(fake).value();
    options_.mandators = {fake_->address()};
    options_.timeout_ms = 2000;
    options_.author = "alice";
  }

  Result Run(std::vector<std::string> args,
             const std::string& stdin_text = "") {
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    Io io{&in, &out, &err};
    Result r;
    r.code = RunKessctl(args, options_, io);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  // Runs a command that must succeed; returns its stdout.
  std::string Ok(std::vector<std::string> args, const std::string& in = "") {
    Result r = Run(args, in);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }

  Options options_;
  std::unique_ptr<FakeMandator> fake_;
};

TEST_F(CommandsTest, PutThenGetPrintsTheRawValue) {
  EXPECT_EQ(Ok({"config", "put", "payments", "db.timeout_ms", "250"}),
            "payments/db.timeout_ms: revision 1, version 1\n");
  EXPECT_THAT(fake_->last_request().body, HasSubstr("\"author\":\"alice\""));
  EXPECT_EQ(Ok({"config", "put", "payments", "db.timeout_ms", "300"}),
            "payments/db.timeout_ms: revision 2, version 2\n");
  Result r = Run({"config", "get", "payments", "db.timeout_ms"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "300");  // exactly the bytes, no newline added
  EXPECT_EQ(r.err, "");
}

TEST_F(CommandsTest, PutSendsOptionalFields) {
  options_.content_type = "application/json";
  options_.comment = "raise it";
  Ok({"config", "put", "ns", "k", "{}"});
  const std::string body = fake_->last_request().body;
  EXPECT_THAT(body, HasSubstr("\"content_type\":\"application/json\""));
  EXPECT_THAT(body, HasSubstr("\"comment\":\"raise it\""));
  EXPECT_THAT(body, HasSubstr("\"encoding\":\"utf8\""));
  EXPECT_THAT(body, Not(HasSubstr("expected_revision")));
  EXPECT_EQ(fake_->last_request().Header("content-type"), "application/json");
}

TEST_F(CommandsTest, GetJsonAndShowMeta) {
  Ok({"config", "put", "ns", "k", "v"});
  options_.output = "json";
  Result r = Run({"config", "get", "ns", "k"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, StartsWith("{\"namespace\":\"ns\",\"key\":\"k\","));
  EXPECT_THAT(r.out, HasSubstr("\"value\":\"v\""));
  options_.output = "text";
  options_.show_meta = true;
  r = Run({"config", "get", "ns", "k"});
  EXPECT_EQ(r.out, "v");
  EXPECT_THAT(r.err, StartsWith("ns/k: revision 1, version 1, 1 bytes, "
                                "text/plain, by alice at 20"));
}

TEST_F(CommandsTest, BinaryValueRoundTripsAsBase64) {
  const std::string binary("\x00\xff\xfe\x01 not utf8\n", 14);
  Ok({"config", "put", "ns", "blob", "-"}, binary);
  EXPECT_THAT(fake_->last_request().body, HasSubstr("\"encoding\":\"base64\""));
  EXPECT_EQ(Ok({"config", "get", "ns", "blob"}), binary);
  options_.output = "json";
  EXPECT_THAT(Ok({"config", "get", "ns", "blob"}),
              HasSubstr("\"encoding\":\"base64\""));
}

TEST_F(CommandsTest, Utf8ValueTravelsAsText) {
  const std::string snowman = "h\xc3\xa9llo \xe2\x98\x83";
  Ok({"config", "put", "ns", "k", snowman});
  EXPECT_THAT(fake_->last_request().body, HasSubstr("\"encoding\":\"utf8\""));
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), snowman);
}

TEST_F(CommandsTest, PutFromFile) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/value.bin";
  std::ofstream(path, std::ios::binary) << std::string("a\0b", 3);
  options_.file = path;
  Ok({"config", "put", "ns", "k"});
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), std::string("a\0b", 3));
  options_.file = path + ".missing";
  Result r = Run({"config", "put", "ns", "k"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("cannot read " + path + ".missing"));
}

TEST_F(CommandsTest, CompareAndSet) {
  options_.expected_revision = 0;  // must not exist
  Ok({"config", "put", "ns", "k", "one"});
  Result r = Run({"config", "put", "ns", "k", "two"});
  EXPECT_EQ(r.code, kExitConflict);
  EXPECT_EQ(r.err,
            "kessctl: put ns/k: compare-and-set failed for ns/k: expected "
            "revision 0, current revision 1\n");
  options_.expected_revision = 1;
  Ok({"config", "put", "ns", "k", "two"});
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), "two");
  // delete with a stale revision, then the right one
  EXPECT_EQ(Run({"config", "delete", "ns", "k"}).code, kExitConflict);
  EXPECT_THAT(fake_->last_request().Query("expected_revision"), "1");
  options_.expected_revision = 2;
  EXPECT_EQ(Ok({"config", "delete", "ns", "k"}),
            "ns/k: deleted at revision 3\n");
  options_.expected_revision = -1;
  r = Run({"config", "get", "ns", "k"});
  EXPECT_EQ(r.code, kExitNotFound);
  EXPECT_EQ(r.err,
            "kessctl: get ns/k: key \"k\" not found in namespace \"ns\"\n");
}

TEST_F(CommandsTest, ListNamespacesAndKeys) {
  Ok({"config", "put", "payments", "db.timeout_ms", "250"});
  Ok({"config", "put", "payments", "a", "xy"});
  Ok({"config", "put", "search", "k", "v"});
  EXPECT_EQ(Ok({"config", "list"}), "payments\nsearch\n");
  EXPECT_EQ(Ok({"config", "list", "payments"}),
            "KEY            REVISION  VERSION  SIZE\n"
            "a              2         1        2\n"
            "db.timeout_ms  1         1        3\n");
  options_.output = "json";
  EXPECT_EQ(Ok({"config", "list"}),
            "{\"namespaces\":[\"payments\",\"search\"]}\n");
}

TEST_F(CommandsTest, HistoryAndRollback) {
  options_.comment = "first";
  Ok({"config", "put", "ns", "k", "one"});
  options_.comment = "";
  Ok({"config", "put", "ns", "k", "two\nlines"});
  std::string table = Ok({"config", "history", "ns", "k"});
  EXPECT_THAT(table,
              StartsWith("REVISION  VERSION  AUTHOR  TIME                  "
                         "SIZE  COMMENT\n2         2        alice   20"));
  EXPECT_THAT(table, HasSubstr("  9     -\n1         1        alice   20"));
  EXPECT_THAT(table, HasSubstr("  3     first\n"));
  options_.limit = 1;
  table = Ok({"config", "history", "ns", "k"});
  EXPECT_EQ(fake_->last_request().Query("limit"), "1");
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2);

  options_.to_revision = 1;
  EXPECT_EQ(Ok({"config", "rollback", "ns", "k"}),
            "ns/k: rolled back to revision 1 as revision 3, version 3\n");
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), "one");
  options_.to_revision = 99;
  EXPECT_EQ(Run({"config", "rollback", "ns", "k"}).code, kExitNotFound);
}

TEST_F(CommandsTest, InvalidNamesAreRejectedBeforeSending) {
  Result r = Run({"config", "get", "payments", "a/b"});
  EXPECT_EQ(r.code, kExitInvalid);
  EXPECT_EQ(r.err,
            "kessctl: get payments/a/b: key \"a/b\" is invalid: character '/' "
            "at offset 1 is not allowed (allowed: A-Z a-z 0-9 . _ -)\n");
  EXPECT_EQ(Run({"config", "put", "..", "k", "v"}).code, kExitInvalid);
  EXPECT_EQ(Run({"config", "list", "-x"}).code, kExitInvalid);
  EXPECT_EQ(Run({"config", "history", "ns", ""}).code, kExitInvalid);
  EXPECT_EQ(fake_->requests(), 0);
}

TEST_F(CommandsTest, UsageErrorsSendNothing) {
  EXPECT_EQ(Run({}).code, kExitUsage);
  EXPECT_EQ(Run({"frob"}).code, kExitUsage);
  EXPECT_EQ(Run({"config"}).code, kExitUsage);
  EXPECT_EQ(Run({"config", "frob"}).code, kExitUsage);
  EXPECT_EQ(Run({"config", "get", "ns"}).code, kExitUsage);
  EXPECT_EQ(Run({"config", "put", "ns", "k"}).code, kExitUsage);  // no value
  EXPECT_EQ(Run({"config", "rollback", "ns", "k"}).code, kExitUsage);
  EXPECT_EQ(Run({"status", "extra"}).code, kExitUsage);
  options_.file = "/dev/null";
  Result r = Run({"config", "put", "ns", "k", "v"});  // value and --file
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("Run 'kessctl --help' for usage."));
  options_.file = "";
  options_.output = "yaml";
  EXPECT_EQ(Run({"config", "list"}).code, kExitUsage);
  options_.output = "text";
  options_.limit = 0;
  EXPECT_EQ(Run({"config", "history", "ns", "k"}).code, kExitUsage);
  options_.mandators = {};
  r = Run({"config", "list"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err,
              HasSubstr("set --mandators=host:port,... or KESS_MANDATORS"));
  // The command line is checked before the mandators are.
  EXPECT_THAT(Run({"config", "frob"}).err,
              HasSubstr("unknown command: config frob"));
  EXPECT_THAT(Run({"config", "get", "ns"}).err,
              HasSubstr("usage: kessctl config get <ns> <key>"));
  EXPECT_EQ(Run({"config", "get", "ns", "a b"}).code, kExitInvalid);
  EXPECT_EQ(fake_->requests(), 0);
  r = Run({"help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("Exit codes:"));
}

TEST_F(CommandsTest, TooLargeValueIsRejectedBeforeSending) {
  Result r = Run({"config", "put", "ns", "k", "-"},
                 std::string(16 * 1024 * 1024 + 1, 'x'));
  EXPECT_EQ(r.code, kExitInvalid);
  EXPECT_THAT(r.err, HasSubstr("value of 16777217 bytes exceeds the limit"));
  EXPECT_EQ(fake_->requests(), 0);
}

TEST_F(CommandsTest, FailsOverToTheSecondMandator) {
  options_.mandators = {RefusingAddress(), fake_->address()};
  Ok({"config", "put", "ns", "k", "v"});
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), "v");
}

TEST_F(CommandsTest, NoMandatorReachable) {
  const std::string a = RefusingAddress(), b = RefusingAddress();
  options_.mandators = {a, b};
  Result r = Run({"config", "get", "ns", "k"});
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_EQ(r.err, "kessctl: get ns/k: no mandator reachable at " + a +
                       " (connection refused), " + b +
                       " (connection refused) (set --mandators or "
                       "KESS_MANDATORS)\n");
}

TEST_F(CommandsTest, ServerErrorsMapToExitCodes) {
  options_.token = "t0ken";
  struct Case {
    absl::Status error;
    int exit;
    std::string hint;
  };
  const Case cases[] = {
      {absl::UnauthenticatedError("no token"), kExitAuth,
       "no token (set --token or KESS_TOKEN)"},
      {absl::PermissionDeniedError("read-only"), kExitAuth, "read-only"},
      {absl::FailedPreconditionError("dc2 is not the main DC (dc1)"),
       kExitConflict, "dc2 is not the main DC (dc1)"},
      {absl::InvalidArgumentError("bad"), kExitInvalid, "bad"},
      {absl::UnavailableError("no leader"), kExitUnavailable, "no leader"},
      {absl::DeadlineExceededError("slow"), kExitUnavailable, "slow"},
      {absl::ResourceExhaustedError("rate"), kExitServer, "rate"},
      {absl::InternalError("boom"), kExitServer, "boom"},
  };
  for (const Case& c : cases) {
    fake_->FailWith(c.error);
    Result r = Run({"config", "put", "ns", "k", "v"});
    EXPECT_EQ(r.code, c.exit) << c.error;
    EXPECT_EQ(r.err, "kessctl: put ns/k: " + c.hint + "\n");
  }
  EXPECT_EQ(fake_->last_request().Header("authorization"), "Bearer t0ken");
}

// Two DCs: dc1 (main) with m1 (leader) and m2, dc2 with m3 (leader) one
// revision behind; a fourth mandator is down.
TEST(StatusCommandTest, GroupsByDatacenterAndShowsTheDownOne) {
  FakeMandator::StatusInfo m1, m2, m3;
  m1.revision = 42;
  m2.member_id = "m2";
  m2.is_leader = false;
  m2.revision = 42;
  m3.datacenter = "dc2";
  m3.is_main = false;
  m3.member_id = m3.leader_id = "m3";
  m3.revision = 41;
  m3.main_revision = 42;
  m3.lag_revisions = 1;
  m3.lag_seconds = 0.2;
  auto f3 = FakeMandator::Start(m3);
  auto f1 = FakeMandator::Start(m1);
  ASSERT_TRUE(f1.ok() && f3.ok());
  m2.leader_address = (*f1)->address();
  auto f2 = FakeMandator::Start(m2);
  ASSERT_TRUE(f2.ok());
  const std::string down = RefusingAddress();

  Options options;
  options.mandators = {(*f3)->address(), down, (*f2)->address(),
                       (*f1)->address()};
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunKessctl({"status"}, options, {&in, &out, &err}), 0);
  EXPECT_EQ(err.str(), "");
  const std::string a1 = (*f1)->address(), a2 = (*f2)->address(),
                    a3 = (*f3)->address();
  const std::string pad(a1.size() - 8, ' ');  // "MANDATOR" column width
  EXPECT_EQ(
      out.str(),
      "DC dc1 (main): leader m1 at " + a1 + ", revision 42\n" + "  MANDATOR" +
          pad + "  ID  ROLE      REVISION  LAG  ZOOKEEPER\n" + "  " + a2 +
          "  m2  follower  42        -    connected\n" + "  " + a1 +
          "  m1  leader    42        -    connected\n" + "\n" +
          "DC dc2: leader m3 at " + a3 +
          ", revision 41, main revision 42, lag 1 revisions (0.2 s)\n" +
          "  MANDATOR" + pad +
          "  ID  ROLE    REVISION  LAG                  ZOOKEEPER\n" + "  " +
          a3 + "  m3  leader  41        1 revisions (0.2 s)  connected\n" +
          "\n" + "Not answering:\n" + "  MANDATOR" +
          std::string(down.size() - 8, ' ') + "  ERROR\n" + "  " + down +
          "  connection refused\n");

  options.output = "json";
  out.str("");
  EXPECT_EQ(RunKessctl({"status"}, options, {&in, &out, &err}), 0);
  EXPECT_THAT(out.str(), StartsWith("{\"mandators\":[{\"address\":\"" + a3 +
                                    "\",\"status\":{\"datacenter\":\"dc2\""));
  EXPECT_THAT(out.str(),
              HasSubstr("{\"address\":\"" + down +
                        "\",\"error\":{\"code\":\"UNAVAILABLE\",\"message\":"
                        "\"connection refused\"}}"));
}

TEST(StatusCommandTest, NoneAnswering) {
  auto fake = FakeMandator::Start();
  ASSERT_TRUE(fake.ok());
  const std::string down = RefusingAddress();
  Options options;
  options.mandators = {down};
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunKessctl({"status"}, options, {&in, &out, &err}),
            kExitUnavailable);
  EXPECT_EQ(err.str(), "kessctl: status: no mandator reachable at " + down +
                           " (connection refused) (set --mandators or "
                           "KESS_MANDATORS)\n");
  EXPECT_THAT(out.str(), HasSubstr("Not answering:"));

  // Answers that are all errors: the exit code is the error's.
  (*fake)->FailWith(absl::UnauthenticatedError("no token"));
  options.mandators = {(*fake)->address(), down};
  err.str("");
  EXPECT_EQ(RunKessctl({"status"}, options, {&in, &out, &err}), kExitAuth);
  EXPECT_THAT(err.str(), HasSubstr("(HTTP 401: no token)"));
}

TEST_F(CommandsTest, GrayToHostsThenPromote) {
  Ok({"config", "put", "ns", "k", "v1"});  // revision 1
  options_.hosts = {"h1", "h2"};
  options_.comment = "canary";
  EXPECT_EQ(Ok({"config", "gray", "ns", "k", "v2"}),
            "ns/k: gray release at revision 2 to hosts h1,h2\n");
  const HttpRequest sent = fake_->last_request();
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.path, "/api/v1/configs/ns/k/gray");
  EXPECT_THAT(sent.body, HasSubstr("\"hosts\":[\"h1\",\"h2\"]"));
  EXPECT_THAT(sent.body, HasSubstr("\"value\":\"v2\""));
  EXPECT_THAT(sent.body, HasSubstr("\"comment\":\"canary\""));
  EXPECT_THAT(sent.body, Not(HasSubstr("percentage")));

  const std::string status = Ok({"config", "gray-status", "ns", "k"});
  EXPECT_THAT(status, StartsWith("ns/k: gray release active at revision 2 to "
                                 "hosts h1,h2\n  base revision 1, config "
                                 "revision 1\n  2 bytes, text/plain, by "
                                 "alice at "));
  EXPECT_THAT(status, HasSubstr("comment canary\n"));

  // While it is active: put, a second gray release are conflicts.
  EXPECT_EQ(Run({"config", "put", "ns", "k", "v9"}).code, kExitConflict);
  Result again = Run({"config", "gray", "ns", "k", "v3"});
  EXPECT_EQ(again.code, kExitConflict);
  EXPECT_THAT(again.err, HasSubstr("promote or abort it first"));

  options_.comment = "";
  EXPECT_EQ(Ok({"config", "promote", "ns", "k"}),
            "ns/k: gray release promoted as revision 3, version 2\n");
  EXPECT_EQ(fake_->last_request().path, "/api/v1/configs/ns/k/gray/promote");
  EXPECT_EQ(fake_->last_request().body, "{\"author\":\"alice\"}");
  EXPECT_EQ(Run({"config", "get", "ns", "k"}).out, "v2");
  EXPECT_EQ(Run({"config", "gray-status", "ns", "k"}).code, kExitNotFound);
  EXPECT_EQ(Run({"config", "promote", "ns", "k"}).code, kExitConflict);
}

TEST_F(CommandsTest, GrayByPercentageThenAbort) {
  Ok({"config", "put", "ns", "k", "v1"});
  options_.percentage = 10;
  options_.expected_revision = 1;
  EXPECT_EQ(Ok({"config", "gray", "ns", "k", "-"}, "from stdin"),
            "ns/k: gray release at revision 2 to 10 % of hosts\n");
  EXPECT_THAT(fake_->last_request().body, HasSubstr("\"percentage\":10"));
  EXPECT_THAT(fake_->last_request().body,
              HasSubstr("\"expected_revision\":1"));
  options_.output = "json";
  Result status = Run({"config", "gray-status", "ns", "k"});
  EXPECT_EQ(status.code, 0);
  EXPECT_THAT(status.out, HasSubstr("\"percentage\":10"));
  EXPECT_THAT(status.out, HasSubstr("\"value\":\"from stdin\""));
  options_.output = "text";
  EXPECT_EQ(Ok({"config", "abort", "ns", "k"}),
            "ns/k: gray release aborted, old value back as revision 3, "
            "version 2\n");
  EXPECT_EQ(Run({"config", "get", "ns", "k"}).out, "v1");
  EXPECT_EQ(Run({"config", "abort", "ns", "k"}).code, kExitConflict);
}

TEST_F(CommandsTest, GrayArgumentsAreCheckedBeforeSending) {
  Ok({"config", "put", "ns", "k", "v1"});
  const int before = fake_->requests();
  Result r = Run({"config", "gray", "ns", "k", "v2"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--hosts=h1,h2 or --percentage=N"));
  options_.percentage = 101;
  EXPECT_EQ(Run({"config", "gray", "ns", "k", "v2"}).code, kExitUsage);
  options_.percentage = 5;
  EXPECT_EQ(Run({"config", "gray", "ns", "k"}).code, kExitUsage);  // no value
  EXPECT_EQ(Run({"config", "promote", "ns"}).code, kExitUsage);
  EXPECT_EQ(Run({"config", "abort", "ns", "k", "x"}).code, kExitUsage);
  EXPECT_EQ(Run({"config", "gray", "ns", "a/b", "v"}).code, kExitInvalid);
  EXPECT_EQ(fake_->requests(), before);

  // The server's answers: no such key, 0 % and no hosts.
  EXPECT_EQ(Run({"config", "gray", "ns", "nokey", "v2"}).code, kExitNotFound);
  options_.percentage = 0;
  EXPECT_EQ(Run({"config", "gray", "ns", "k", "v2"}).code, kExitInvalid);
  options_.percentage = 10;
  options_.expected_revision = 7;
  EXPECT_EQ(Run({"config", "gray", "ns", "k", "v2"}).code, kExitConflict);
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
