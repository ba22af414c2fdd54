// The HTTP API of docs/http-api.md, end to end inside one process: the
// in-memory ZooKeeper (zk_schema/testing/fake_zk.h, through the mandators'
// ZkConnector), two main-DC mandators (leader and follower) and a slave
// one; and a slave DC's leader replicating a main DC, each DC with its own
// in-memory ZooKeeper.
#include "mandator/mandator.h"

#include <memory>
#include <string>

#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"
#include "mandator/config_json.h"
#include "mandator/testing/test_util.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/codec.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace {

using ::kess::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(30);
constexpr char kEnsemble[] = "zk";  // the connect string of the fake

class MandatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    zk_ = new zk::testing::FakeZkServer();
    // One main DC (m1 leads, m2 follows) and one slave DC member for the
    // whole suite; each test uses its own keys.
    m1_ = Start("m1", true, "/api/kess").release();
    m2_ = Start("m2", true, "/api/kess").release();
    s1_ = Start("s1", false, "/api_slave/kess").release();
    ASSERT_TRUE(m1_ && m2_ && s1_);
    ASSERT_TRUE(WaitFor([] { return m1_->IsLeader(); }, kWait));
  }
  static void TearDownTestSuite() {
    delete s1_;
    delete m2_;
    delete m1_;
    delete zk_;  // after every client
  }

  static std::unique_ptr<Mandator> Start(const std::string& id, bool is_main,
                                         const std::string& root) {
    MandatorOptions o;
    o.id = id;
    o.datacenter = is_main ? "dc1" : "dc2";
    o.is_main = is_main;
    o.zk = kEnsemble;
    o.main_zk = kEnsemble;
    o.main_datacenter = "dc1";
    o.zk_connector = testing::FakeConnector({{kEnsemble, zk_}});
    o.zk_root = root;
    o.auth = testing::TestAuth();
    o.zk_session_timeout = absl::Seconds(4);
    o.history_limit = 5;
    o.registry = new metrics::Registry();  // one per mandator; leaked
    auto m = Mandator::Create(o);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  static HttpReply Call(
      Mandator* m, const std::string& method, const std::string& uri,
      const std::string& body = "",
      std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto reply = HttpCall(m->http_address(), method, uri, body,
                          absl::Seconds(60), headers);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : HttpReply{};
  }

  static Poco::JSON::Object::Ptr Json(const HttpReply& reply) {
    auto object = ParseJsonObject(reply.body);
    EXPECT_TRUE(object.ok()) << reply.body;
    return object.ok() ? *object
                       : Poco::JSON::Object::Ptr(new Poco::JSON::Object());
  }

  static std::string ErrorCode(const HttpReply& reply) {
    auto error = Json(reply)->getObject("error");
    return error.isNull() ? "" : error->getValue<std::string>("code");
  }

  static int64_t Revision(Mandator* m) {
    return Json(Call(m, "GET", "/api/v1/status"))
        ->getValue<int64_t>("revision");
  }

  static zk::testing::FakeZkServer* zk_;
  static Mandator* m1_;
  static Mandator* m2_;
  static Mandator* s1_;
};

zk::testing::FakeZkServer* MandatorTest::zk_ = nullptr;
Mandator* MandatorTest::m1_ = nullptr;
Mandator* MandatorTest::m2_ = nullptr;
Mandator* MandatorTest::s1_ = nullptr;

TEST_F(MandatorTest, EveryConfigRouteOnTheLeader) {
  const std::string base = "/api/v1/configs/routes/timeout";
  HttpReply put = Call(m1_, "PUT", base,
                       R"({"value":"250","content_type":"text/plain",)"
                       R"("author":"alice","comment":"first"})");
  ASSERT_EQ(put.status, 200) << put.body;
  const int64_t r1 = Json(put)->getValue<int64_t>("revision");
  EXPECT_EQ(Json(put)->getValue<int64_t>("version"), 1);

  HttpReply get = Call(m1_, "GET", base);
  ASSERT_EQ(get.status, 200) << get.body;
  auto config = Json(get);
  EXPECT_EQ(config->getValue<std::string>("namespace"), "routes");
  EXPECT_EQ(config->getValue<std::string>("key"), "timeout");
  EXPECT_EQ(config->getValue<std::string>("value"), "250");
  EXPECT_EQ(config->getValue<std::string>("encoding"), "utf8");
  EXPECT_EQ(config->getValue<std::string>("content_type"), "text/plain");
  EXPECT_EQ(config->getValue<std::string>("author"), "alice");
  EXPECT_EQ(config->getValue<std::string>("comment"), "first");
  EXPECT_EQ(config->getValue<int64_t>("revision"), r1);
  EXPECT_EQ(config->getValue<int64_t>("size"), 3);
  EXPECT_GT(config->getValue<int64_t>("mtime_ms"), 0);
  EXPECT_EQ(config->getValue<int64_t>("crc32"),
            0x5c461af6);  // zlib.crc32(b"250")

  HttpReply put2 =
      Call(m1_, "PUT", base, R"({"value":"AP8=","encoding":"base64"})");
  ASSERT_EQ(put2.status, 200) << put2.body;
  auto binary = Json(Call(m1_, "GET", base));
  EXPECT_EQ(binary->getValue<std::string>("encoding"), "base64");
  EXPECT_EQ(binary->getValue<std::string>("value"), "AP8=");

  HttpReply namespaces = Call(m1_, "GET", "/api/v1/configs");
  ASSERT_EQ(namespaces.status, 200);
  EXPECT_NE(namespaces.body.find("\"routes\""), std::string::npos);
  HttpReply keys = Call(m1_, "GET", "/api/v1/configs/routes");
  ASSERT_EQ(keys.status, 200);
  EXPECT_EQ(Json(keys)->getValue<std::string>("namespace"), "routes");
  EXPECT_EQ(Json(keys)->getArray("keys")->size(), 1u);

  HttpReply history = Call(m1_, "GET", base + "/history?limit=1");
  ASSERT_EQ(history.status, 200) << history.body;
  EXPECT_EQ(Json(history)->getArray("versions")->size(), 1u);
  history = Call(m1_, "GET", base + "/history");
  EXPECT_EQ(Json(history)->getArray("versions")->size(), 2u);

  HttpReply rollback = Call(m1_, "POST", base + "/rollback",
                            absl::StrCat(R"({"to_revision":)", r1, "}"));
  ASSERT_EQ(rollback.status, 200) << rollback.body;
  EXPECT_EQ(Json(Call(m1_, "GET", base))->getValue<std::string>("value"),
            "250");
  EXPECT_EQ(Json(rollback)->getValue<int64_t>("version"), 3);

  // Reads are served by every mandator of the DC.
  EXPECT_EQ(Json(Call(m2_, "GET", base))->getValue<std::string>("value"),
            "250");

  HttpReply del = Call(m1_, "DELETE", base);
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_GT(Json(del)->getValue<int64_t>("revision"), r1);
  EXPECT_EQ(Call(m1_, "GET", base).status, 404);
  EXPECT_EQ(ErrorCode(Call(m1_, "GET", base)), "NOT_FOUND");
  EXPECT_EQ(Call(m1_, "DELETE", base).status, 404);
}

TEST_F(MandatorTest, ConfigListingsPagedAndSearched) {
  for (const char* key : {"a.1", "a.2", "b.1", "b.2", "c.1"}) {
    ASSERT_EQ(Call(m1_, "PUT", absl::StrCat("/api/v1/configs/pg/", key),
                   R"({"value":"v"})")
                  .status,
              200);
  }
  ASSERT_EQ(Call(m1_, "PUT", "/api/v1/configs/pg2/k", R"({"value":"v"})").status,
            200);
  auto keys = [](Poco::JSON::Object::Ptr o) {
    std::vector<std::string> out;
    auto list = o->getArray("keys");
    for (size_t i = 0; i < list->size(); ++i) {
      out.push_back(list->getObject(i)->getValue<std::string>("key"));
    }
    return out;
  };
  auto first = Json(Call(m2_, "GET", "/api/v1/configs/pg?limit=2"));
  EXPECT_EQ(keys(first), (std::vector<std::string>{"a.1", "a.2"}));
  EXPECT_EQ(first->getValue<int>("total"), 5);
  std::string token = first->getValue<std::string>("next_page_token");
  auto second =
      Json(Call(m2_, "GET", "/api/v1/configs/pg?limit=2&page_token=" + token));
  EXPECT_EQ(keys(second), (std::vector<std::string>{"b.1", "b.2"}));
  token = second->getValue<std::string>("next_page_token");
  auto third =
      Json(Call(m2_, "GET", "/api/v1/configs/pg?limit=2&page_token=" + token));
  EXPECT_EQ(keys(third), (std::vector<std::string>{"c.1"}));
  EXPECT_FALSE(third->has("next_page_token"));
  auto b = Json(Call(m1_, "GET", "/api/v1/configs/pg?prefix=b."));
  EXPECT_EQ(keys(b), (std::vector<std::string>{"b.1", "b.2"}));
  EXPECT_EQ(b->getValue<int>("total"), 2);
  EXPECT_EQ(keys(Json(Call(m1_, "GET", "/api/v1/configs/pg?q=.2"))),
            (std::vector<std::string>{"a.2", "b.2"}));
  auto ns = Json(Call(m1_, "GET", "/api/v1/configs?prefix=pg&limit=1"));
  EXPECT_EQ(ns->getArray("namespaces")->size(), 1u);
  EXPECT_EQ(ns->getArray("namespaces")->getElement<std::string>(0), "pg");
  EXPECT_EQ(ns->getValue<int>("total"), 2);
  EXPECT_TRUE(ns->has("next_page_token"));
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs/pg?limit=0").status, 400);
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs/pg?page_token=x").status, 400);
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs?limit=1001").status, 400);
  // Without paging parameters: everything, as before.
  EXPECT_EQ(keys(Json(Call(m1_, "GET", "/api/v1/configs/pg"))).size(), 5u);
}

TEST_F(MandatorTest, GrayReleaseOverHttp) {
  const std::string base = "/api/v1/configs/grayhttp/k";
  ASSERT_EQ(Call(m1_, "PUT", base, R"({"value":"v1"})").status, 200);
  EXPECT_EQ(Call(m1_, "GET", base + "/gray").status, 404);
  EXPECT_EQ(Call(m1_, "POST", base + "/gray", R"({"value":"v2"})").status,
            400);  // neither hosts nor percentage
  EXPECT_EQ(
      Call(m1_, "POST", base + "/gray", R"({"value":"v2","percentage":101})")
          .status,
      400);
  // Through the follower (forwarded to the leader).
  HttpReply started =
      Call(m2_, "POST", base + "/gray", R"({"value":"v2","hosts":["host-a"]})");
  ASSERT_EQ(started.status, 200) << started.body;
  const int64_t rg = Json(started)->getValue<int64_t>("revision");
  auto gray = Json(Call(m1_, "GET", base + "/gray"));
  EXPECT_TRUE(gray->getValue<bool>("active"));
  EXPECT_EQ(gray->getValue<std::string>("value"), "v2");
  EXPECT_EQ(gray->getValue<int64_t>("revision"), rg);
  HttpReply refused = Call(m1_, "PUT", base, R"({"value":"v3"})");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(ErrorCode(refused), "FAILED_PRECONDITION");
  HttpReply promoted = Call(m1_, "POST", base + "/gray/promote");
  ASSERT_EQ(promoted.status, 200) << promoted.body;
  EXPECT_GT(Json(promoted)->getValue<int64_t>("revision"), rg);
  EXPECT_EQ(Json(Call(m1_, "GET", base))->getValue<std::string>("value"), "v2");
  EXPECT_EQ(Call(m1_, "POST", base + "/gray/abort").status, 409);
  ASSERT_EQ(
      Call(m1_, "POST", base + "/gray", R"({"value":"v4","percentage":50})")
          .status,
      200);
  ASSERT_EQ(Call(m1_, "POST", base + "/gray/abort").status, 200);
  EXPECT_EQ(Json(Call(m1_, "GET", base))->getValue<std::string>("value"), "v2");
  EXPECT_EQ(Call(m1_, "GET", base + "/gray").status, 404);
}

TEST_F(MandatorTest, CompareAndSetOverHttp) {
  const std::string base = "/api/v1/configs/cas/k";
  ASSERT_EQ(
      Call(m1_, "PUT", base, R"({"value":"a","expected_revision":0})").status,
      200);
  const int64_t before = Revision(m1_);
  HttpReply stale =
      Call(m1_, "PUT", base, R"({"value":"b","expected_revision":1})");
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(ErrorCode(stale), "ABORTED");
  EXPECT_NE(stale.body.find(absl::StrCat("current revision ", before)),
            std::string::npos)
      << stale.body;
  HttpReply stale_delete = Call(m1_, "DELETE", base + "?expected_revision=1");
  EXPECT_EQ(stale_delete.status, 409);
  EXPECT_EQ(Revision(m1_), before);
  HttpReply good =
      Call(m1_, "DELETE", absl::StrCat(base, "?expected_revision=", before));
  EXPECT_EQ(good.status, 200) << good.body;
}

TEST_F(MandatorTest, BadInputGetsAClearErrorAndChangesNothing) {
  ASSERT_EQ(
      Call(m1_, "PUT", "/api/v1/configs/bad/k", R"({"value":"v"})").status,
      200);
  const int64_t before = Revision(m1_);
  struct Case {
    std::string method, uri, body;
    int status;
  };
  const std::string big(zk::kMaxValueBytes + 1, 'a');
  const Case cases[] = {
      {"PUT", "/api/v1/configs/bad/k", "{not json", 400},
      {"PUT", "/api/v1/configs/bad/k", "[1,2]", 400},
      {"PUT", "/api/v1/configs/bad/k", R"({"novalue":1})", 400},
      {"PUT", "/api/v1/configs/bad/k", R"({"value":"x","encoding":"hex"})",
       400},
      {"PUT", "/api/v1/configs/%2E%2E/k", R"({"value":"x"})", 400},
      {"PUT", "/api/v1/configs/bad/%2E%2E%2Fetc", R"({"value":"x"})", 400},
      {"PUT", "/api/v1/configs/bad/a..b", R"({"value":"x"})", 400},
      {"PUT", "/api/v1/configs/bad/", R"({"value":"x"})", 400},
      {"PUT", "/api/v1/configs/bad/k%2Fx", R"({"value":"x"})", 404},
      {"GET", "/api/v1/configs/%2E%2E/k", "", 400},
      {"GET", "/api/v1/configs/bad/k/history?limit=x", "", 400},
      {"DELETE", "/api/v1/configs/bad/k?expected_revision=-3", "", 400},
      {"POST", "/api/v1/configs/bad/k/rollback", R"({"to":1})", 400},
      {"POST", "/api/v1/configs/bad/k", "{}", 404},
      {"PUT", "/api/v1/configs/bad/big",
       absl::StrCat(R"({"value":")", big, R"("})"), 400},
  };
  for (const Case& c : cases) {
    HttpReply reply = Call(m1_, c.method, c.uri, c.body);
    EXPECT_EQ(reply.status, c.status)
        << c.method << " " << c.uri << ": " << reply.body.substr(0, 300);
    if (c.status == 400) {
      EXPECT_EQ(ErrorCode(reply), "INVALID_ARGUMENT");
    }
  }
  // The same bad input sent to a follower is refused there, not forwarded.
  HttpReply via_follower =
      Call(m2_, "PUT", "/api/v1/configs/%2E%2E/k", R"({"value":"x"})");
  EXPECT_EQ(via_follower.status, 400);
  EXPECT_EQ(via_follower.Header("x-kess-forwarded-to"), "");
  // A body declared above 24 MiB is refused before it is read.
  {
    absl::StatusOr<int> status = transport::testing::HeadOnlyRequestStatus(
        m1_->http_port(), "PUT", "/api/v1/configs/bad/k",
        kMaxRequestBodyBytes + 1, {{"Content-Type", "application/json"}},
        absl::Seconds(30));
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(*status, 413);
  }
  EXPECT_EQ(Revision(m1_), before);
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs/bad/big").status, 404);
}

TEST_F(MandatorTest, SixteenMiBThroughTheApi) {
  std::string value(zk::kMaxValueBytes, 'z');
  value[12345] = 'q';
  HttpReply put = Call(m2_, "PUT", "/api/v1/configs/large/v",
                       absl::StrCat(R"({"value":")", value, R"("})"));
  ASSERT_EQ(put.status, 200) << put.body.substr(0, 300);
  HttpReply get = Call(m2_, "GET", "/api/v1/configs/large/v");
  ASSERT_EQ(get.status, 200);
  EXPECT_TRUE(Json(get)->getValue<std::string>("value") == value);
}

TEST_F(MandatorTest, AFollowerForwardsWritesToTheLeader) {
  HttpReply put =
      Call(m2_, "PUT", "/api/v1/configs/fwd/k?x=1", R"({"value":"via m2"})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.Header("x-kess-forwarded-to"), m1_->http_address());
  EXPECT_EQ(Json(Call(m1_, "GET", "/api/v1/configs/fwd/k"))
                ->getValue<std::string>("value"),
            "via m2");
  // Errors of the leader come back as they are.
  HttpReply stale = Call(m2_, "PUT", "/api/v1/configs/fwd/k",
                         R"({"value":"x","expected_revision":1})");
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(ErrorCode(stale), "ABORTED");
  HttpReply del = Call(m2_, "DELETE", "/api/v1/configs/fwd/k");
  EXPECT_EQ(del.status, 200) << del.body;

  // A write that was already forwarded once is not forwarded again.
  HttpReply loop = Call(m2_, "PUT", "/api/v1/configs/fwd/k", R"({"value":"x"})",
                        {{kForwardedByHeader, "m9"}});
  EXPECT_EQ(loop.status, 503);
  EXPECT_EQ(loop.Header("x-kess-leader"), m1_->http_address());
}

TEST_F(MandatorTest, TheSlaveDatacenterRefusesWritesAndNamesTheMain) {
  HttpReply put = Call(s1_, "PUT", "/api/v1/configs/x/k", R"({"value":"v"})");
  EXPECT_EQ(put.status, 409);
  EXPECT_EQ(ErrorCode(put), "FAILED_PRECONDITION");
  EXPECT_NE(put.body.find("dc1"), std::string::npos) << put.body;
  EXPECT_EQ(Call(s1_, "GET", "/api/v1/configs").status, 200);
}

TEST_F(MandatorTest, StatusHealthAndMetrics) {
  auto status = Json(Call(m2_, "GET", "/api/v1/status"));
  EXPECT_EQ(status->getValue<std::string>("datacenter"), "dc1");
  EXPECT_TRUE(status->getValue<bool>("is_main"));
  EXPECT_EQ(status->getValue<std::string>("member_id"), "m2");
  EXPECT_FALSE(status->getValue<bool>("is_leader"));
  EXPECT_EQ(status->getObject("leader")->getValue<std::string>("id"), "m1");
  EXPECT_EQ(status->getObject("leader")->getValue<std::string>("http_address"),
            m1_->http_address());
  EXPECT_EQ(status->getValue<std::string>("zookeeper"), "connected");
  EXPECT_NE(status->getValue<std::string>("zk_session_id"), "0x0");
  EXPECT_TRUE(
      Json(Call(m1_, "GET", "/api/v1/status"))->getValue<bool>("is_leader"));

  EXPECT_EQ(Call(m1_, "GET", "/healthz").status, 200);
  HttpReply metrics = Call(m1_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("kess_mandator_is_leader 1"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("kess_mandator_write_queue_depth"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("kess_mandator_revision"), std::string::npos);
  EXPECT_NE(Call(m2_, "GET", "/metrics").body.find("kess_mandator_is_leader 0"),
            std::string::npos);
}

// Every mandator publishes its scheduler's transport address in its member
// node, where the leader's collector finds it, and answers there.
TEST_F(MandatorTest, TheSchedulerIsPublishedInTheMemberNode) {
  auto reader = testing::FakeReader(zk_);
  zk::Layout layout = *zk::Layout::Create("/api/kess");
  auto node = reader->Get(*layout.MemberPath(zk::MANDATOR, "m2"));
  ASSERT_TRUE(node.ok()) << node.status();
  auto info = zk::DecodeAs<zk::MemberInfo>(node->data, "member m2");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->address(), m2_->address());
  EXPECT_EQ(info->http_address(), m2_->http_address());

  auto loop = transport::EventLoop::Create("test-client");
  ASSERT_TRUE(loop.ok());
  transport::ClientOptions o;
  ASSERT_TRUE(transport::SplitHostPort(info->address(), &o.host, &o.port).ok());
  metrics::Registry registry;
  o.registry = &registry;
  auto client = transport::Client::Create(loop->get(), o);
  ASSERT_TRUE(client.ok());
  auto reply = (*client)->CallSync(protocol::kGetPartialTableMethod, "", kWait);
  ASSERT_TRUE(reply.ok()) << reply.status();
  protocol::PartialTable table;
  ASSERT_TRUE(table.ParseFromString(*reply));
  EXPECT_EQ(table.mandator_id(), "m2");
  EXPECT_EQ(table.datacenter(), "dc1");
}

// Distributors hold only the reader password: they may register their own
// member node, and nothing else; not even delete a member node (every
// distributor shares that password).
TEST_F(MandatorTest, ReadersMayRegisterDistributorsAndNothingElse) {
  auto reader = testing::FakeReader(zk_);
  zk::Layout layout = *zk::Layout::Create("/api/kess");
  auto own = zk::DistributorMemberNodeAcl(testing::TestAuth().reader);
  ASSERT_TRUE(own.ok());
  std::string member = *layout.MemberPath(zk::DISTRIBUTOR, "d1");
  auto created =
      reader->Create(member, "x", zk::CreateMode::kEphemeral, *own);
  EXPECT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(reader->Delete(member).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->Set(member, "y").status().code(),
            absl::StatusCode::kPermissionDenied);

  std::string mandator_member = *layout.MemberPath(zk::MANDATOR, "rogue");
  EXPECT_EQ(
      reader->Create(mandator_member, "x", zk::CreateMode::kEphemeral, *own)
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->Set(layout.RevisionPath(), "x").status().code(),
            absl::StatusCode::kPermissionDenied);
}

// kess_mandator_elections_won_total counts each time a mandator takes the
// leadership (the leader-flapping alert of deploy/prometheus/kess-rules.yml
// sums its increase over a DC): the first leader, then the one that takes
// over when it goes.
TEST(MandatorElectionMetricsTest, ElectionsWonCountsEveryLeadership) {
  zk::testing::FakeZkServer dc1;
  auto start = [&](const std::string& id, metrics::Registry* registry) {
    MandatorOptions o;
    o.id = id;
    o.datacenter = "dc1";
    o.is_main = true;
    o.zk = "dc1-zk";
    o.zk_connector = testing::FakeConnector({{"dc1-zk", &dc1}});
    o.auth = testing::TestAuth();
    o.registry = registry;
    auto m = Mandator::Create(o);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(m).value() : nullptr;
  };
  auto won = [](metrics::Registry* registry) {
    return registry
        ->GetCounter("kess_mandator_elections_won_total", "")
        ->Value();
  };
  metrics::Registry registry1, registry2;  // outlive their mandators
  metrics::Registry* r1 = &registry1;
  metrics::Registry* r2 = &registry2;
  auto m1 = start("m1", r1);
  ASSERT_NE(m1, nullptr);
  ASSERT_TRUE(WaitFor([&] { return m1->IsLeader(); }, kWait));
  auto m2 = start("m2", r2);
  ASSERT_NE(m2, nullptr);
  EXPECT_EQ(won(r1), 1);
  EXPECT_EQ(won(r2), 0);
  EXPECT_NE(r2->RenderText().find("kess_mandator_elections_won_total 0"),
            std::string::npos)
      << "a follower exposes the counter at 0";

  m1.reset();  // withdraws: m2 takes over
  ASSERT_TRUE(WaitFor([&] { return m2->IsLeader(); }, kWait));
  EXPECT_EQ(won(r2), 1);
  m2.reset();  // before its ZooKeeper
}

}  // namespace
}  // namespace mandator
}  // namespace kess

namespace kess {
namespace mandator {
namespace {

// A slave DC's leader replicates the main DC (through the Replicator of
// replication/) and reports its progress in /api/v1/status.
TEST(SlaveMandatorTest, TheSlaveLeaderReplicatesTheMainDatacenter) {
  zk::testing::FakeZkServer main_zk, slave_zk;
  const core::ZkConnector connector =
      testing::FakeConnector({{"dc1-zk", &main_zk}, {"dc2-zk", &slave_zk}});
  auto start = [&](const std::string& id, bool is_main) {
    MandatorOptions o;
    o.id = id;
    o.datacenter = is_main ? "dc1" : "dc2";
    o.is_main = is_main;
    o.zk = is_main ? "dc1-zk" : "dc2-zk";
    o.main_zk = "dc1-zk";
    o.main_datacenter = "dc1";
    o.zk_connector = connector;
    o.auth = testing::TestAuth();
    o.zk_session_timeout = absl::Seconds(4);
    o.registry = new metrics::Registry();  // leaked
    return Mandator::Create(o);
  };
  auto m1 = start("m1", true);
  ASSERT_TRUE(m1.ok()) << m1.status();
  auto s1 = start("s1", false);
  ASSERT_TRUE(s1.ok()) << s1.status();
  ASSERT_TRUE(
      WaitFor([&] { return (*m1)->IsLeader() && (*s1)->IsLeader(); }, kWait));
  auto put = HttpCall((*m1)->http_address(), "PUT", "/api/v1/configs/repl/k",
                      R"({"value":"from dc1"})");
  ASSERT_TRUE(put.ok() && put->status == 200);
  auto replicated = [&] {
    auto got = HttpCall((*s1)->http_address(), "GET", "/api/v1/configs/repl/k");
    return got.ok() && got->status == 200 &&
           got->body.find("from dc1") != std::string::npos;
  };
  ASSERT_TRUE(WaitFor(replicated, kWait));
  ASSERT_TRUE(WaitFor(
      [&] {
        StatusInfo s = (*s1)->Status();
        return s.main_revision.has_value() && *s.main_revision >= 1 &&
               s.revision == *s.main_revision;
      },
      kWait));
  auto status = HttpCall((*s1)->http_address(), "GET", "/api/v1/status");
  ASSERT_TRUE(status.ok());
  EXPECT_NE(status->body.find("\"replication_lag_revisions\":0"),
            std::string::npos)
      << status->body;
  s1->reset();  // demotes: replication stops before the slave goes away
  m1->reset();
}

// Invariants 3 and 11: the leader's ZooKeeper ensemble goes away. From the
// moment its client hears of it, the leader refuses writes (503, nothing
// written) and /healthz says so; once ZooKeeper is back it takes writes
// again.
TEST(MandatorOutageTest, ALeaderThatLosesZooKeeperRefusesWritesAtOnce) {
  zk::testing::FakeZkServer dc1;
  MandatorOptions o;
  o.id = "m1";
  o.datacenter = "dc1";
  o.is_main = true;
  o.zk = "dc1-zk";
  o.zk_connector = testing::FakeConnector({{"dc1-zk", &dc1}});
  o.auth = testing::TestAuth();
  o.registry = new metrics::Registry();  // leaked
  auto m1 = Mandator::Create(o);
  ASSERT_TRUE(m1.ok()) << m1.status();
  ASSERT_TRUE(WaitFor([&] { return (*m1)->IsLeader(); }, kWait));
  const std::string address = (*m1)->http_address();

  dc1.Stop();
  dc1.DrainCallbacks();  // every client has heard of it
  EXPECT_FALSE((*m1)->IsLeader());
  auto refused = HttpCall(address, "PUT", "/api/v1/configs/outage/k",
                          R"({"value":"v"})", kWait);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 503) << refused->body;
  auto health = HttpCall(address, "GET", "/healthz", "", kWait);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 503);

  dc1.Start();
  ASSERT_TRUE(WaitFor([&] { return (*m1)->IsLeader(); }, kWait));
  auto absent = HttpCall(address, "GET", "/api/v1/configs/outage/k", "", kWait);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(absent->status, 404) << "the refused write was written";
  auto put = HttpCall(address, "PUT", "/api/v1/configs/outage/k",
                      R"({"value":"v"})", kWait);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->status, 200) << put->body;
  m1->reset();  // before its ZooKeeper
}

}  // namespace
}  // namespace mandator
}  // namespace kess
