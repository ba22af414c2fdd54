// Bad input through the HTTP API of real mandator processes, two DCs
// (invariant 13 of docs/design.md): every bad request gets a clear error
// (the HTTP status and a JSON {"error": {"code", "message"}} body) from
// the leader, a follower and a slave-DC mandator alike, and NOTHING
// changes in either DC's ZooKeeper (the whole tree is compared before and
// after). The largest value, 16 MiB, is
// accepted, chunked, and replicated. mandator/mandator_test covers the
// routes in-process; this adds NUL bytes, over-long names, literal `..`
// and `/` in paths, stale compare-and-set on a replicated key, and the
// tree comparison in both DCs.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "tests/cluster/dc_snapshot.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/two_dc_cluster.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace {

using testing::JsonBody;
using testing::PutBody;
using testing::WaitFor;

constexpr absl::Duration kPatience = absl::Seconds(60);

class TwoDcBadInputTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    auto cluster = testing::TwoDcCluster::Start({});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

 protected:
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    auto main = cluster_->ConnectMainReader();
    auto slave = cluster_->ConnectSlaveReader();
    ASSERT_TRUE(main.ok() && slave.ok());
    main_ = *std::move(main);
    slave_ = *std::move(slave);
    leader_ = testing::WaitLeader(cluster_->main(), kPatience);
    ASSERT_NE(leader_, nullptr);
    ASSERT_NE(testing::WaitLeader(cluster_->slave(), kPatience), nullptr);
  }

  // Waits until the slave DC is at main's revision; then both hold the same.
  ::testing::AssertionResult Converged() {
    const zk::Layout& layout = cluster_->layout();
    auto revision = [&](zk::ZkApi& zk) {
      auto read = zk::ReadRevision(zk, layout);
      return read.ok() ? read->first.revision() : -1;
    };
    if (!WaitFor([&] { return revision(*main_) == revision(*slave_); },
                 kPatience)) {
      return ::testing::AssertionFailure() << "the slave DC did not catch up";
    }
    auto main = testing::ReadDc(*main_, layout);
    auto slave = testing::ReadDc(*slave_, layout);
    if (!main.ok() || !slave.ok()) {
      return ::testing::AssertionFailure() << main.status() << slave.status();
    }
    return testing::SameData(*main, *slave);
  }

  static testing::TwoDcCluster* cluster_;
  std::unique_ptr<zk::ZkClient> main_;
  std::unique_ptr<zk::ZkClient> slave_;
  testing::MandatorProcess* leader_ = nullptr;
};

testing::TwoDcCluster* TwoDcBadInputTest::cluster_ = nullptr;

TEST_F(TwoDcBadInputTest, SixteenMiBIsAcceptedChunkedAndReplicated) {
  std::string value(zk::kMaxValueBytes, 'v');
  value[4321] = 'w';
  value.back() = 'z';
  // Through a follower: forwarded to the leader.
  testing::MandatorProcess* follower = cluster_->main()[0].get() == leader_
                                           ? cluster_->main()[1].get()
                                           : cluster_->main()[0].get();
  auto put =
      HttpCall(follower->http_address(), "PUT", "/api/v1/configs/large/v16",
               PutBody(value), absl::Seconds(60));
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->status, 200) << put->body;
  ASSERT_TRUE(Converged());
  for (zk::ZkClient* zk : {main_.get(), slave_.get()}) {
    auto dc = testing::ReadDc(*zk, cluster_->layout());
    ASSERT_TRUE(dc.ok()) << dc.status();
    const mandator::core::Config& config = dc->configs.at("large/v16");
    EXPECT_TRUE(config.record.value().has_chunked())
        << config.record.value().ShortDebugString().substr(0, 200);
    EXPECT_EQ(config.record.value().size(), zk::kMaxValueBytes);
    EXPECT_TRUE(config.value == value) << "the value differs";
  }
  auto got = HttpCall(cluster_->slave()[2]->http_address(), "GET",
                      "/api/v1/configs/large/v16", "", absl::Seconds(60));
  ASSERT_TRUE(got.ok() && got->status == 200);
  EXPECT_TRUE(JsonBody(got->body)->getValue<std::string>("value") == value);
}

TEST_F(TwoDcBadInputTest, BadInputGetsAClearErrorAndChangesNothing) {
  auto first = HttpCall(leader_->http_address(), "PUT", "/api/v1/configs/bad/k",
                        PutBody("v1"));
  ASSERT_TRUE(first.ok() && first->status == 200);
  const int64_t current = JsonBody(first->body)->getValue<int64_t>("revision");
  ASSERT_TRUE(Converged());
  auto main_before = testing::ReadTree(*main_, cluster_->layout());
  auto slave_before = testing::ReadTree(*slave_, cluster_->layout());
  ASSERT_TRUE(main_before.ok() && slave_before.ok());

  struct Case {
    std::string what, method, uri, body;
    int status;        // from a main-DC mandator
    int slave_status;  // from a slave-DC mandator
  };
  const std::string v = PutBody("x");
  const std::string long_name(129, 'n');
  const std::string too_big(zk::kMaxValueBytes + 1, 'b');
  const std::string base = "/api/v1/configs/bad/k";
  const std::vector<Case> cases = {
      {"`..` as namespace", "PUT", "/api/v1/configs/../x", v, 400, 400},
      {"`..` inside the path", "PUT", "/api/v1/configs/bad/../x", v, 400, 400},
      {"`..` encoded", "PUT", "/api/v1/configs/bad/%2E%2E", v, 400, 400},
      {"a key with a slash", "PUT", "/api/v1/configs/bad/a/b", v, 404, 404},
      {"NUL in the key", "PUT", "/api/v1/configs/bad/k%00x", v, 400, 400},
      {"NUL in the namespace", "PUT", "/api/v1/configs/b%00d/k", v, 400, 400},
      {"NUL in a read", "GET", "/api/v1/configs/bad/k%00", "", 400, 400},
      {"129-byte key", "PUT", "/api/v1/configs/bad/" + long_name, v, 400, 400},
      {"129-byte namespace", "PUT", "/api/v1/configs/" + long_name + "/k", v,
       400, 400},
      // The size is checked where values are stored: a slave refuses first.
      {"16 MiB + 1", "PUT", base, PutBody(too_big), 400, 409},
      {"malformed JSON", "PUT", base, R"({"value":)", 400, 400},
      {"no value", "PUT", base, R"({"comment":"x"})", 400, 400},
      {"empty body", "PUT", base, "", 400, 400},
      {"stale CAS", "PUT", base,
       absl::StrCat(R"({"value":"x","expected_revision":)", current - 1, "}"),
       409, 409},
      {"CAS 'must not exist'", "PUT", base,
       R"({"value":"x","expected_revision":0})", 409, 409},
      {"stale CAS delete", "DELETE",
       absl::StrCat(base, "?expected_revision=", current - 1), "", 409, 409},
      {"stale CAS rollback", "POST", base + "/rollback",
       absl::StrCat(R"({"to_revision":)", current, R"(,"expected_revision":)",
                    current - 1, "}"),
       409, 409},
  };
  std::vector<testing::MandatorProcess*> targets;
  for (auto& m : cluster_->main()) targets.push_back(m.get());
  targets.push_back(cluster_->slave()[0].get());
  for (const Case& c : cases) {
    for (testing::MandatorProcess* m : targets) {
      const bool slave = m == targets.back();
      auto reply = HttpCall(m->http_address(), c.method, c.uri, c.body,
                            absl::Seconds(60));
      ASSERT_TRUE(reply.ok()) << c.what << ": " << reply.status();
      const std::string where = absl::StrCat(c.what, " to ", m->id(), ": ",
                                             reply->body.substr(0, 300));
      EXPECT_EQ(reply->status, slave ? c.slave_status : c.status) << where;
      Poco::JSON::Object::Ptr body = JsonBody(reply->body);
      ASSERT_TRUE(body && body->getObject("error")) << where;
      EXPECT_FALSE(
          body->getObject("error")->getValue<std::string>("message").empty())
          << where;
      const std::string code =
          body->getObject("error")->getValue<std::string>("code");
      EXPECT_TRUE(reply->status != 400 || code == "INVALID_ARGUMENT") << where;
      EXPECT_TRUE(reply->status != 409 || code == "ABORTED" ||
                  code == "FAILED_PRECONDITION")
          << where;
    }
  }

  auto main_after = testing::ReadTree(*main_, cluster_->layout());
  auto slave_after = testing::ReadTree(*slave_, cluster_->layout());
  ASSERT_TRUE(main_after.ok() && slave_after.ok());
  // Refused writes are recorded in the audit log by design
  // (docs/security.md, "Audit log"), and records are written in batches,
  // after the answer (so the setup's own writes may land here too): new
  // audit records are left out of the comparison. Nothing else may change.
  // (The slave DC also receives, by its mirror, records the main DC wrote.)
  const std::string audit = cluster_->layout().root() + "/audit/";
  const std::pair<const testing::NodeMap*, testing::NodeMap*> dcs[] = {
      {&*main_before, &*main_after}, {&*slave_before, &*slave_after}};
  for (const auto& [before, after] : dcs) {
    for (auto it = after->begin(); it != after->end();) {
      if (absl::StartsWith(it->first, audit) && before->count(it->first) == 0) {
        it = after->erase(it);
      } else {
        ++it;
      }
    }
  }
  EXPECT_TRUE(testing::SameTree(*main_before, *main_after)) << "main DC";
  EXPECT_TRUE(testing::SameTree(*slave_before, *slave_after)) << "slave DC";
}

}  // namespace
}  // namespace kess
