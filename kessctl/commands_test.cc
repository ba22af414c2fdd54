// Every kessctl command run in-process against the real mandator HTTP API:
// mandator/testing/api_server.h serves HttpApi with the real stores, leader
// election and write path over the in-memory ZooKeeper, so the answers and
// messages checked here are the API's own.
#include "kessctl/commands.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kessctl/client.h"
#include "mandator/testing/api_server.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace kessctl {
namespace {

namespace core = ::kess::mandator::core;
using ::kess::mandator::StatusInfo;
using ::kess::mandator::testing::ApiServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::Duration kWait = absl::Seconds(10);

// "127.0.0.1:<port>" where nothing listens.
std::string RefusingAddress() {
  return absl::StrCat("127.0.0.1:", transport::testing::UnusedPort());
}

// A mandator of `zk`'s DC (main DC "dc1" unless `datacenter` says
// otherwise); the first one of a DC leads it.
std::unique_ptr<ApiServer> StartMandator(
    zk::testing::FakeZkServer* zk, const std::string& id,
    const std::string& datacenter = "dc1",
    std::function<void(StatusInfo*)> amend_status = nullptr) {
  ApiServer::Options options;
  options.zk = zk;
  options.member_id = id;
  options.datacenter = datacenter;
  options.is_main = datacenter == "dc1";
  options.main_datacenter = "dc1";
  options.amend_status = std::move(amend_status);
  auto server = ApiServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Runs kessctl with `options`; returns its exit code, stdout in *out and
// stderr in *err.
int RunWith(const Options& options, std::vector<std::string> args,
            std::string* out, std::string* err) {
  std::istringstream in;
  std::ostringstream o, e;
  const int code = RunKessctl(args, options, {&in, &o, &e});
  *out = o.str();
  *err = e.str();
  return code;
}

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartMandator(&zk_, "m1");
    ASSERT_NE(server_, nullptr);
    options_.mandators = {server_->address()};
    options_.timeout = absl::Seconds(2);
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

  // The last put, gray start or gray end as the API parsed it.
  core::PutRequest LastPut() const {
    std::optional<core::WriteOp> op = server_->last_write();
    EXPECT_TRUE(op.has_value());
    return op.has_value() ? op->put : core::PutRequest();
  }
  core::GrayRequest LastGray() const {
    std::optional<core::WriteOp> op = server_->last_write();
    EXPECT_TRUE(op.has_value());
    return op.has_value() ? op->gray : core::GrayRequest();
  }

  Options options_;
  zk::testing::FakeZkServer zk_;  // dc1's ZooKeeper
  std::unique_ptr<ApiServer> server_;
};

TEST_F(CommandsTest, PutThenGetPrintsTheRawValue) {
  EXPECT_EQ(Ok({"config", "put", "payments", "db.timeout_ms", "250"}),
            "payments/db.timeout_ms: revision 1, version 1\n");
  EXPECT_EQ(LastPut().author, "alice");
  EXPECT_EQ(Ok({"config", "put", "payments", "db.timeout_ms", "300"}),
            "payments/db.timeout_ms: revision 2, version 2\n");
  Result r = Run({"config", "get", "payments", "db.timeout_ms"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "300");  // exactly the bytes, no newline added
  EXPECT_EQ(r.err, "");
}

TEST_F(CommandsTest, FormatSetsTheContentTypeAndAMalformedValueIsNotSent) {
  options_.format = "yaml";
  Result bad = Run({"config", "put", "ns", "k", "a: 1\na: 2\n"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("yaml: line 2, column 1: duplicate mapping key"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("nothing was sent"), std::string::npos);
  EXPECT_FALSE(server_->last_write().has_value());

  Ok({"config", "put", "ns", "k", "a: 1\nb: [2, 3]\n"});
  EXPECT_EQ(LastPut().content_type, "application/yaml");

  // A --content_type that names a checked format is checked as well.
  options_.format.clear();
  options_.content_type = "application/json";
  Result json = Run({"config", "put", "ns", "j", "{\"a\": }"});
  EXPECT_NE(json.code, 0);
  EXPECT_NE(json.err.find("json: line 1, column 7"), std::string::npos)
      << json.err;

  options_.format = "toml";
  Result unknown = Run({"config", "put", "ns", "k", "a = 1"});
  EXPECT_NE(unknown.code, 0);
  EXPECT_NE(unknown.err.find("unknown format"), std::string::npos);
  options_.format = "yaml";
  Result contradiction = Run({"config", "put", "ns", "k", "a: 1"});
  EXPECT_NE(contradiction.err.find("contradicts"), std::string::npos);
}

TEST_F(CommandsTest, PutSendsOptionalFields) {
  options_.content_type = "application/json";
  options_.comment = "raise it";
  Ok({"config", "put", "ns", "k", "{}"});
  const core::PutRequest put = LastPut();
  EXPECT_EQ(put.value, "{}");
  EXPECT_EQ(put.content_type, "application/json");
  EXPECT_EQ(put.comment, "raise it");
  EXPECT_EQ(put.author, "alice");
  EXPECT_FALSE(put.expected_revision.has_value());
  EXPECT_EQ(server_->last_request().Header("content-type"), "application/json");
  // Stored as sent.
  absl::StatusOr<core::Config> stored = server_->store().Get("ns", "k");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->record.content_type(), "application/json");
  EXPECT_EQ(stored->record.meta().comment(), "raise it");
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
  // No --content_type was given: none is stored, "-" is printed.
  EXPECT_THAT(r.err, StartsWith("ns/k: revision 1, version 1, 1 bytes, -, "
                                "by alice at 20"));
}

TEST_F(CommandsTest, BinaryValueRoundTripsAsBase64) {
  const std::string binary("\x00\xff\xfe\x01 not utf8\n", 14);
  Ok({"config", "put", "ns", "blob", "-"}, binary);
  EXPECT_EQ(LastPut().value, binary);  // the API decoded exactly the bytes
  EXPECT_EQ(Ok({"config", "get", "ns", "blob"}), binary);
  options_.output = "json";
  EXPECT_THAT(Ok({"config", "get", "ns", "blob"}),
              HasSubstr("\"encoding\":\"base64\""));
}

TEST_F(CommandsTest, Utf8ValueTravelsAsText) {
  const std::string snowman = "h\xc3\xa9llo \xe2\x98\x83";
  Ok({"config", "put", "ns", "k", snowman});
  EXPECT_EQ(LastPut().value, snowman);
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), snowman);
  options_.output = "json";
  const std::string json = Ok({"config", "get", "ns", "k"});
  EXPECT_THAT(json, HasSubstr("\"value\":\"" + snowman + "\""));
  EXPECT_THAT(json, HasSubstr("\"encoding\":\"utf8\""));
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
            "revision 0, current revision 1; nothing was changed\n");
  options_.expected_revision = 1;
  Ok({"config", "put", "ns", "k", "two"});
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), "two");
  // delete with a stale revision, then the right one
  EXPECT_EQ(Run({"config", "delete", "ns", "k"}).code, kExitConflict);
  EXPECT_EQ(server_->last_request().Query("expected_revision"), "1");
  options_.expected_revision = 2;
  EXPECT_EQ(Ok({"config", "delete", "ns", "k"}),
            "ns/k: deleted at revision 3\n");
  options_.expected_revision = -1;
  r = Run({"config", "get", "ns", "k"});
  EXPECT_EQ(r.code, kExitNotFound);
  EXPECT_EQ(r.err, "kessctl: get ns/k: config ns/k does not exist\n");
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
  EXPECT_EQ(server_->last_request().Query("limit"), "1");
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2);

  options_.to_revision = 1;
  EXPECT_EQ(Ok({"config", "rollback", "ns", "k"}),
            "ns/k: rolled back to revision 1 as revision 3, version 3\n");
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), "one");
  options_.to_revision = 99;
  Result missing = Run({"config", "rollback", "ns", "k"});
  EXPECT_EQ(missing.code, kExitNotFound);
  EXPECT_EQ(missing.err,
            "kessctl: rollback ns/k: revision 99 of ns/k is not in its "
            "history (the last 20 versions are kept)\n");
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
  EXPECT_EQ(server_->requests(), 0);
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
  EXPECT_EQ(server_->requests(), 0);
  r = Run({"help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("Exit codes:"));
}

TEST_F(CommandsTest, TooLargeValueIsRejectedBeforeSending) {
  Result r = Run({"config", "put", "ns", "k", "-"},
                 std::string(16 * 1024 * 1024 + 1, 'x'));
  EXPECT_EQ(r.code, kExitInvalid);
  EXPECT_THAT(r.err, HasSubstr("value of 16777217 bytes exceeds the limit"));
  EXPECT_EQ(server_->requests(), 0);
}

TEST_F(CommandsTest, FailsOverToTheSecondMandator) {
  options_.mandators = {RefusingAddress(), server_->address()};
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
    server_->InjectError(c.error);
    Result r = Run({"config", "put", "ns", "k", "v"});
    EXPECT_EQ(r.code, c.exit) << c.error;
    EXPECT_EQ(r.err, "kessctl: put ns/k: " + c.hint + "\n");
  }
  EXPECT_EQ(server_->last_request().Header("authorization"), "Bearer t0ken");
}

// The API's own refusals, each with its message and exit code.
TEST_F(CommandsTest, RefusalsOfTheRealApi) {
  const std::vector<std::string> put = {"config", "put", "ns", "k", "v"};

  // A slave DC takes no writes.
  zk::testing::FakeZkServer dc2;
  std::unique_ptr<ApiServer> slave = StartMandator(&dc2, "m3", "dc2");
  ASSERT_NE(slave, nullptr);
  Options to_slave = options_;
  to_slave.mandators = {slave->address()};
  std::string out, err;
  EXPECT_EQ(RunWith(to_slave, put, &out, &err), kExitConflict);
  EXPECT_EQ(err,
            "kessctl: put ns/k: datacenter dc2 is not the main datacenter; "
            "writes are taken only by the main datacenter's leader (dc1)\n");

  // Too long a comment: refused by the store, 400.
  options_.comment = std::string(5000, 'c');
  Result r = Run(put);
  EXPECT_EQ(r.code, kExitInvalid);
  EXPECT_EQ(r.err,
            "kessctl: put ns/k: comment has 5000 bytes, above the limit of "
            "4096\n");
  options_.comment = "";

  // A leader that lost its ZooKeeper connection pauses writes: 503.
  server_->zk_client().DropConnection();
  ASSERT_TRUE(
      kess::testing::WaitFor([&] { return !server_->IsLeader(); }, kWait));
  r = Run(put);
  EXPECT_EQ(r.code, kExitUnavailable);
  EXPECT_EQ(r.err,
            "kessctl: put ns/k: this mandator leads but has lost its "
            "ZooKeeper connection; writes are refused until it is back "
            "(nothing was written)\n");
  server_->zk_client().RestoreConnection();
  ASSERT_TRUE(
      kess::testing::WaitFor([&] { return server_->IsLeader(); }, kWait));
  EXPECT_EQ(Ok(put), "ns/k: revision 1, version 1\n");

  // With an admin secret: no token, or a wrong one, is 401.
  zk::testing::FakeZkServer dc1_gated;
  ApiServer::Options gated_options;
  gated_options.zk = &dc1_gated;
  gated_options.admin_secret = "kessctl-test-secret";
  auto gated = ApiServer::Start(gated_options);
  ASSERT_TRUE(gated.ok()) << gated.status();
  Options to_gated = options_;
  to_gated.mandators = {(*gated)->address()};
  EXPECT_EQ(RunWith(to_gated, put, &out, &err), kExitAuth);
  EXPECT_EQ(err,
            "kessctl: put ns/k: authentication required: log in at /ui/ or "
            "send \"Authorization: Bearer <API token>\" (set --token or "
            "KESS_TOKEN)\n");
  to_gated.token = "wrong-secret";
  EXPECT_EQ(RunWith(to_gated, put, &out, &err), kExitAuth);
  to_gated.token = "kessctl-test-secret";
  EXPECT_EQ(RunWith(to_gated, put, &out, &err), 0) << err;
  EXPECT_EQ(out, "ns/k: revision 1, version 1\n");
}

// A follower forwards writes to its DC's leader.
TEST_F(CommandsTest, WritesThroughAFollowerReachTheLeader) {
  std::unique_ptr<ApiServer> follower = StartMandator(&zk_, "m2");
  ASSERT_NE(follower, nullptr);
  EXPECT_FALSE(follower->IsLeader());
  options_.mandators = {follower->address()};
  EXPECT_EQ(Ok({"config", "put", "ns", "k", "v"}),
            "ns/k: revision 1, version 1\n");
  EXPECT_FALSE(follower->last_write().has_value());
  EXPECT_EQ(LastPut().value, "v");  // parsed and committed by the leader
  EXPECT_EQ(Ok({"config", "get", "ns", "k"}), "v");
}

// Two DCs: dc1 (main) with m1 (leader) and m2, dc2 with m3 (leader) one
// revision behind; a fourth mandator is down.
TEST(StatusCommandTest, GroupsByDatacenterAndShowsTheDownOne) {
  zk::testing::FakeZkServer dc1, dc2;
  std::unique_ptr<ApiServer> m1 = StartMandator(&dc1, "m1");
  std::unique_ptr<ApiServer> m2 = StartMandator(&dc1, "m2");
  ASSERT_TRUE(m1 && m2);
  // What dc2's replicator reports: the main DC's revision, and that the
  // newest change reached it 0.2 s ago.
  ApiServer* main_leader = m1.get();
  std::unique_ptr<ApiServer> m3 =
      StartMandator(&dc2, "m3", "dc2", [main_leader](StatusInfo* s) {
        s->main_revision = main_leader->store().Revision().value_or(-1);
        s->replication_lag_seconds = 0.2;
      });
  ASSERT_TRUE(m3);
  // Two writes in dc1, through the follower (it forwards them to m1); the
  // first one replicated to dc2.
  Options writer;
  writer.mandators = {m2->address()};
  writer.author = "alice";
  std::string out, err;
  ASSERT_EQ(RunWith(writer, {"config", "put", "ns", "k", "v1"}, &out, &err), 0)
      << err;
  ASSERT_EQ(RunWith(writer, {"config", "put", "ns", "k", "v2"}, &out, &err), 0)
      << err;
  core::PutRequest replicated;
  replicated.ns = "ns";
  replicated.key = "k";
  replicated.value = "v1";
  ASSERT_TRUE(m3->store().Put(replicated).ok());
  const std::string down = RefusingAddress();

  Options options;
  options.mandators = {m3->address(), down, m2->address(), m1->address()};
  EXPECT_EQ(RunWith(options, {"status"}, &out, &err), 0);
  EXPECT_EQ(err, "");
  const std::string a1 = m1->address(), a2 = m2->address(), a3 = m3->address();
  const std::string pad(a1.size() - 8, ' ');  // "MANDATOR" column width
  EXPECT_EQ(
      out,
      "DC dc1 (main): leader m1 at " + a1 + ", revision 2\n" + "  MANDATOR" +
          pad + "  ID  ROLE      REVISION  LAG  ZOOKEEPER\n" + "  " + a2 +
          "  m2  follower  2         -    connected\n" + "  " + a1 +
          "  m1  leader    2         -    connected\n" + "\n" +
          "DC dc2: leader m3 at " + a3 +
          ", revision 1, main revision 2, lag 1 revisions (0.2 s)\n" +
          "  MANDATOR" + pad +
          "  ID  ROLE    REVISION  LAG                  ZOOKEEPER\n" + "  " +
          a3 + "  m3  leader  1         1 revisions (0.2 s)  connected\n" +
          "\n" + "Not answering:\n" + "  MANDATOR" +
          std::string(down.size() - 8, ' ') + "  ERROR\n" + "  " + down +
          "  connection refused\n");

  options.output = "json";
  EXPECT_EQ(RunWith(options, {"status"}, &out, &err), 0);
  EXPECT_THAT(out, StartsWith("{\"mandators\":[{\"address\":\"" + a3 +
                              "\",\"status\":{\"datacenter\":\"dc2\""));
  EXPECT_THAT(out, HasSubstr("\"main_revision\":2,"
                             "\"replication_lag_revisions\":1,"
                             "\"replication_lag_seconds\":0.2"));
  EXPECT_THAT(out,
              HasSubstr("{\"address\":\"" + down +
                        "\",\"error\":{\"code\":\"UNAVAILABLE\",\"message\":"
                        "\"connection refused\"}}"));
}

// What the API leaves out is shown as "-": a slave DC's follower does not
// replicate (no lag), a mandator that lost ZooKeeper knows no revision.
TEST(StatusCommandTest, UnknownRevisionAndLagAreDashes) {
  zk::testing::FakeZkServer dc1, dc2;
  std::unique_ptr<ApiServer> m1 = StartMandator(&dc1, "m1");
  std::unique_ptr<ApiServer> m3 =
      StartMandator(&dc2, "m3", "dc2", [](StatusInfo* s) {
        s->main_revision = 0;
        s->replication_lag_seconds = 0;
      });
  // m3 leads dc2 before m4 starts (the expected table names m3 the leader).
  ASSERT_TRUE(m3);
  ASSERT_TRUE(kess::testing::WaitFor([&] { return m3->IsLeader(); }, kWait));
  std::unique_ptr<ApiServer> m4 = StartMandator(&dc2, "m4", "dc2");
  ASSERT_TRUE(m1 && m3 && m4);
  Options options;
  options.mandators = {m3->address(), m4->address()};
  std::string out, err;
  EXPECT_EQ(RunWith(options, {"status"}, &out, &err), 0);
  const std::string a3 = m3->address(), a4 = m4->address();
  const std::string pad(a3.size() - 8, ' ');
  EXPECT_EQ(out,
            "DC dc2: leader m3 at " + a3 +
                ", revision 0, main revision 0, lag 0 revisions (0.0 s)\n" +
                "  MANDATOR" + pad +
                "  ID  ROLE      REVISION  LAG                  "
                "ZOOKEEPER\n" +
                "  " + a3 +
                "  m3  leader    0         0 revisions (0.0 s)  "
                "connected\n" +
                "  " + a4 +
                "  m4  follower  0         -                    "
                "connected\n");

  m1->zk_client().DropConnection();
  options.mandators = {m1->address()};
  EXPECT_EQ(RunWith(options, {"status"}, &out, &err), 0);
  EXPECT_THAT(out, HasSubstr(", revision -\n"));
  EXPECT_THAT(out, HasSubstr("  m1  follower  -         -    error: "));
}

TEST(StatusCommandTest, NoneAnswering) {
  zk::testing::FakeZkServer dc1;
  std::unique_ptr<ApiServer> m1 = StartMandator(&dc1, "m1");
  ASSERT_TRUE(m1);
  const std::string down = RefusingAddress();
  Options options;
  options.mandators = {down};
  std::string out, err;
  EXPECT_EQ(RunWith(options, {"status"}, &out, &err), kExitUnavailable);
  EXPECT_EQ(err, "kessctl: status: no mandator reachable at " + down +
                     " (connection refused) (set --mandators or "
                     "KESS_MANDATORS)\n");
  EXPECT_THAT(out, HasSubstr("Not answering:"));

  // Answers that are all errors: the exit code is the error's. (The real
  // admin gate leaves /api/v1/status open, so the error is injected.)
  m1->InjectError(absl::UnauthenticatedError("no token"));
  options.mandators = {m1->address(), down};
  EXPECT_EQ(RunWith(options, {"status"}, &out, &err), kExitAuth);
  EXPECT_THAT(err, HasSubstr("(HTTP 401: no token)"));
}

TEST_F(CommandsTest, GrayToHostsThenPromote) {
  Ok({"config", "put", "ns", "k", "v1"});  // revision 1
  options_.hosts = {"h1", "h2"};
  options_.comment = "canary";
  EXPECT_EQ(Ok({"config", "gray", "ns", "k", "v2"}),
            "ns/k: gray release at revision 2 to hosts h1,h2\n");
  const HttpRequest sent = server_->last_request();
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.path, "/api/v1/configs/ns/k/gray");
  const core::GrayRequest gray = LastGray();
  EXPECT_THAT(gray.hosts, ElementsAre("h1", "h2"));
  EXPECT_EQ(gray.value, "v2");
  EXPECT_EQ(gray.comment, "canary");
  EXPECT_EQ(gray.percentage, 0u);

  const std::string status = Ok({"config", "gray-status", "ns", "k"});
  EXPECT_THAT(status, StartsWith("ns/k: gray release active at revision 2 to "
                                 "hosts h1,h2\n  base revision 1, config "
                                 "revision 1\n  2 bytes, -, by alice at "));
  EXPECT_THAT(status, HasSubstr("comment canary\n"));

  // While it is active: put, a second gray release are conflicts.
  Result put = Run({"config", "put", "ns", "k", "v9"});
  EXPECT_EQ(put.code, kExitConflict);
  EXPECT_EQ(put.err,
            "kessctl: put ns/k: a gray release of ns/k is in progress "
            "(revision 2); promote or abort it before writing the config; "
            "nothing was changed\n");
  Result again = Run({"config", "gray", "ns", "k", "v3"});
  EXPECT_EQ(again.code, kExitConflict);
  EXPECT_THAT(again.err, HasSubstr("promote or abort it"));

  options_.comment = "";
  EXPECT_EQ(Ok({"config", "promote", "ns", "k"}),
            "ns/k: gray release promoted as revision 3, version 2\n");
  EXPECT_EQ(server_->last_request().path, "/api/v1/configs/ns/k/gray/promote");
  ASSERT_TRUE(server_->last_write().has_value());
  EXPECT_EQ(server_->last_write()->kind, core::WriteOp::Kind::kGrayPromote);
  EXPECT_EQ(server_->last_write()->gray_end.author, "alice");
  EXPECT_EQ(server_->last_write()->gray_end.comment, "");
  EXPECT_EQ(Run({"config", "get", "ns", "k"}).out, "v2");
  EXPECT_EQ(Run({"config", "gray-status", "ns", "k"}).code, kExitNotFound);
  Result none = Run({"config", "promote", "ns", "k"});
  EXPECT_EQ(none.code, kExitConflict);
  EXPECT_EQ(none.err,
            "kessctl: promote ns/k: cannot promote: no gray release of ns/k "
            "is in progress\n");
}

TEST_F(CommandsTest, GrayByPercentageThenAbort) {
  Ok({"config", "put", "ns", "k", "v1"});
  options_.percentage = 10;
  options_.expected_revision = 1;
  EXPECT_EQ(Ok({"config", "gray", "ns", "k", "-"}, "from stdin"),
            "ns/k: gray release at revision 2 to 10 % of hosts\n");
  const core::GrayRequest gray = LastGray();
  EXPECT_EQ(gray.percentage, 10u);
  EXPECT_TRUE(gray.hosts.empty());
  EXPECT_EQ(gray.expected_revision, 1);
  EXPECT_EQ(gray.value, "from stdin");
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
  const int before = server_->requests();
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
  EXPECT_EQ(server_->requests(), before);

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
