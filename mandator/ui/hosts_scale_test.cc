// The Hosts page's API at fleet scale: 50,000 hosts in a mandator's host
// registry (the scheduler's PartialTable::Hosts() as the daemon wires it),
// served over a real HTTP server on 127.0.0.1. Prints the bytes and time of
// the unpaginated list, of page 1 and of the summary (bench/RESULTS.md),
// and checks that the paged answers stay bounded.
//
//   bazel test //mandator/ui:hosts_scale_test --test_output=all
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/json_util.h"
#include "gtest/gtest.h"
#include "mandator/scheduler/partial_table.h"
#include "mandator/ui/cluster_view.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

constexpr int kHosts = 50000;
constexpr int kDistributors = 50;

TEST(HostsScaleTest, FiftyThousandHostsInBoundedPages) {
  zk::testing::FakeZkServer zk_server;
  zk::testing::FakeZkClient zk_client(&zk_server);
  const zk::Layout layout;
  ASSERT_TRUE(zk_client.Create("/kess", "").ok());
  ASSERT_TRUE(zk_client.Create("/kess/members", "").ok());
  const std::string dir = *layout.MembersDir(zk::MANDATOR);
  ASSERT_TRUE(zk_client.Create(dir, "").ok());

  // 50,000 hosts: all at revision 1000 but two (997 for 40 s, 960 for 9
  // minutes), spread over 50 distributors.
  std::vector<scheduler::PartialTable::HostView> registry;
  registry.reserve(kHosts);
  for (int i = 0; i < kHosts; ++i) {
    scheduler::PartialTable::HostView h;
    h.host_id = absl::StrFormat("host-%05d.dc1.example.com", i);
    h.distributor = absl::StrCat("10.1.", i % kDistributors, ".7:7300");
    h.revision = 1000;
    h.synced_revision = 1000;
    h.last_heartbeat_age_ms = i % 5000;
    h.synced_age_ms = 600000;
    registry.push_back(std::move(h));
  }
  registry[12345].synced_revision = 997;
  registry[12345].synced_age_ms = 40000;
  registry[40000].synced_revision = 960;
  registry[40000].synced_age_ms = 540000;

  HttpServer::Options http;
  http.threads = 2;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(http);
  ASSERT_TRUE(server.ok()) << server.status();

  ClusterView::Options options;
  options.self_id = "m1";
  options.datacenter = "dc1";
  options.is_main = true;
  options.zk = "127.0.0.1:2181";
  options.local = &zk_client;
  options.layout = layout;
  options.self_status_json = [] { return std::string("{}"); };
  options.local_hosts = [&registry] { return registry; };
  options.host_index_ttl = absl::Hours(1);  // cold once, then warm
  ClusterView view(options);
  view.Register(server->get());
  ASSERT_TRUE((*server)->Start().ok());
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  zk::MemberInfo self;
  self.set_id("m1");
  self.set_role(zk::MANDATOR);
  self.set_datacenter("dc1");
  self.set_http_address(address);
  ASSERT_TRUE(
      zk_client.Create(*layout.MemberPath(zk::MANDATOR, "m1"), zk::Encode(self)).ok());

  struct Measured {
    size_t bytes = 0;
    double ms = 0;
    Poco::JSON::Object::Ptr body;
  };
  auto get = [&](const std::string& uri) {
    Measured m;
    const absl::Time start = absl::Now();
    absl::StatusOr<HttpReply> reply =
        HttpCall(address, "GET", uri, "", absl::Seconds(60));
    m.ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    EXPECT_TRUE(reply.ok()) << reply.status();
    if (!reply.ok()) return m;
    EXPECT_EQ(reply->status, 200) << uri << ": " << reply->body.substr(0, 300);
    m.bytes = reply->body.size();
    absl::StatusOr<Poco::JSON::Object::Ptr> parsed =
        ParseJsonObject(reply->body);
    EXPECT_TRUE(parsed.ok()) << uri;
    m.body = parsed.ok() ? *parsed
                         : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
    return m;
  };

  // The paged ones first, so that the unpaginated call cannot warm them.
  const Measured cold = get("/api/v1/hosts?limit=50");
  const Measured page1 = get("/api/v1/hosts?limit=50");
  const Measured summary = get("/api/v1/hosts/summary");
  const Measured laggards =
      get("/api/v1/hosts?behind=true&sort=lag&limit=50");
  const Measured search = get("/api/v1/hosts?q=4999&limit=50");
  const Measured full = get("/api/v1/hosts");

  std::printf(
      "hosts_scale_test: %d hosts, %d distributors, 1 mandator\n"
      "  GET /api/v1/hosts (unpaginated)            %9zu bytes %8.1f ms\n"
      "  GET /api/v1/hosts?limit=50 (cold: gather)  %9zu bytes %8.1f ms\n"
      "  GET /api/v1/hosts?limit=50 (page 1)        %9zu bytes %8.1f ms\n"
      "  GET /api/v1/hosts/summary                  %9zu bytes %8.1f ms\n"
      "  GET ...?behind=true&sort=lag&limit=50      %9zu bytes %8.1f ms\n"
      "  GET ...?q=4999&limit=50 (search)           %9zu bytes %8.1f ms\n",
      kHosts, kDistributors, full.bytes, full.ms, cold.bytes, cold.ms,
      page1.bytes, page1.ms, summary.bytes, summary.ms, laggards.bytes,
      laggards.ms, search.bytes, search.ms);
  std::fflush(stdout);

  ASSERT_FALSE(full.body.isNull());
  EXPECT_EQ(full.body->getArray("hosts")->size(), static_cast<size_t>(kHosts));
  ASSERT_FALSE(page1.body.isNull());
  EXPECT_EQ(page1.body->getArray("hosts")->size(), 50u);
  EXPECT_EQ(page1.body->getValue<int64_t>("total"), kHosts);
  EXPECT_TRUE(page1.body->has("next_page_token"));
  ASSERT_FALSE(summary.body.isNull());
  EXPECT_EQ(summary.body->getValue<int64_t>("hosts"), kHosts);
  EXPECT_EQ(summary.body->getValue<int64_t>("at_newest"), kHosts - 2);
  EXPECT_EQ(summary.body->getValue<int64_t>("behind"), 2);
  EXPECT_EQ(summary.body->getValue<int64_t>("distributors_total"),
            kDistributors);
  Poco::JSON::Array::Ptr worst = summary.body->getArray("laggards");
  ASSERT_EQ(worst->size(), 2u);
  EXPECT_EQ(worst->getObject(0)->getValue<int64_t>("lag"), 40);
  EXPECT_EQ(worst->getObject(0)->getValue<int64_t>("synced_age_ms"), 540000);
  ASSERT_FALSE(laggards.body.isNull());
  EXPECT_EQ(laggards.body->getValue<int64_t>("total"), 2);
  ASSERT_FALSE(search.body.isNull());
  // 04999, 14999, ..., 44999 and 49990..49999
  EXPECT_EQ(search.body->getValue<int64_t>("total"), 15);

  // Bounded size: a page and the summary do not grow with the fleet.
  EXPECT_LT(page1.bytes, 32u * 1024);
  EXPECT_LT(summary.bytes, 64u * 1024);
  EXPECT_LT(laggards.bytes, 4u * 1024);
  EXPECT_GT(full.bytes, 100 * page1.bytes);
  // Bounded time once gathered (generous: the machine is shared).
  EXPECT_LT(page1.ms, 500);
  EXPECT_LT(summary.ms, 500);
  EXPECT_LT(laggards.ms, 500);
  (*server)->Stop();
}

}  // namespace
}  // namespace ui
}  // namespace mandator
}  // namespace kess
