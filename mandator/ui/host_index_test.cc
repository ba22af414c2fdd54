#include "mandator/ui/host_index.h"

#include <set>
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

HostRow Row(const std::string& dc, const std::string& id, int64_t synced,
            const std::string& distributor = "d1") {
  HostRow r;
  r.datacenter = dc;
  r.host_id = id;
  r.distributor = distributor;
  r.revision = synced;
  r.synced_revision = synced;
  r.synced_age_ms = 1000;
  r.agent_version = "0.9.1";
  r.mandators = {"m1"};
  return r;
}

Poco::JSON::Object::Ptr Parse(const std::string& json) {
  absl::StatusOr<Poco::JSON::Object::Ptr> o = ParseJsonObject(json);
  EXPECT_TRUE(o.ok()) << json;
  return o.ok() ? *o : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
}

// Walks every page of `query`; the host ids in order.
std::vector<std::string> Walk(const HostIndex& index, HostQuery query,
                              int64_t* total = nullptr) {
  std::vector<std::string> ids;
  for (int pages = 0; pages < 1000; ++pages) {
    absl::StatusOr<std::string> page = index.PageJson(query);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    Poco::JSON::Object::Ptr o = Parse(*page);
    if (total != nullptr) *total = o->getValue<int64_t>("total");
    Poco::JSON::Array::Ptr hosts = o->getArray("hosts");
    EXPECT_LE(hosts->size(), query.limit);
    for (size_t i = 0; i < hosts->size(); ++i) {
      ids.push_back(hosts->getObject(i)->getValue<std::string>("host_id"));
    }
    if (!o->has("next_page_token")) break;
    query.page_token = o->getValue<std::string>("next_page_token");
  }
  return ids;
}

HostIndex Fleet() {
  std::vector<HostRow> rows;
  for (int i = 0; i < 95; ++i) {
    rows.push_back(Row(i % 2 ? "dc2" : "dc1", absl::StrCat("h", 100 + i), 50,
                       i % 3 ? "d1" : "d2"));
  }
  rows.push_back(Row("dc1", "late-1", 49));
  rows.push_back(Row("dc2", "late-2", 40, "d2"));
  rows.push_back(Row("dc2", "late-3", 40));
  rows.push_back(Row("dc1", "old-agent", 0));  // unknown
  rows.push_back(Row("dc1", "far", 1));
  // Every revision out for long (now 1,000,000 ms, grace 60 s).
  return HostIndex(rows, {"dc3"}, {{1, 0}, {40, 0}, {49, 0}, {50, 0}}, 1000000,
                   60000);
}

TEST(HostIndexTest, ALaggingHostCatchesUpUntilTheGrace) {
  std::vector<HostRow> rows = {Row("dc1", "new", 50), Row("dc1", "mid", 49),
                               Row("dc1", "old", 40)};
  // 40 out long ago, 49 too; 50 only 5 s ago: "mid" has not pulled yet.
  HostIndex index(rows, {}, {{40, 0}, {49, 1000}, {50, 995000}}, 1000000,
                  60000);
  Poco::JSON::Object::Ptr s = Parse(index.SummaryJson());
  EXPECT_EQ(s->getValue<int64_t>("at_newest"), 1);
  EXPECT_EQ(s->getValue<int64_t>("catching_up"), 1);
  EXPECT_EQ(s->getValue<int64_t>("behind"), 1);
  Poco::JSON::Array::Ptr laggards = s->getArray("laggards");
  ASSERT_EQ(laggards->size(), 1u);
  Poco::JSON::Object::Ptr old = laggards->getObject(0);
  EXPECT_EQ(old->getValue<std::string>("host_id"), "old");
  EXPECT_EQ(old->getValue<int64_t>("lag"), 10);
  EXPECT_EQ(old->getValue<int64_t>("behind_ms"), 999000);  // since 49 was out
  HostQuery q;
  q.behind = true;
  EXPECT_EQ(Walk(index, q), (std::vector<std::string>{"old"}));
  q.behind = false;
  q.min_lag = 1;
  q.sort = "lag";
  EXPECT_EQ(Walk(index, q), (std::vector<std::string>{"old", "mid"}));
  // A revision never seen before counts as out now.
  HostIndex fresh(rows, {}, {}, 1000000, 60000);
  EXPECT_EQ(Parse(fresh.SummaryJson())->getValue<int64_t>("behind"), 0);
  EXPECT_EQ(Parse(fresh.SummaryJson())->getValue<int64_t>("catching_up"), 2);
}

TEST(HostIndexTest, SummaryCountsByLagDcAndDistributor) {
  HostIndex index = Fleet();
  EXPECT_EQ(index.newest_revision(), 50);
  Poco::JSON::Object::Ptr s = Parse(index.SummaryJson());
  EXPECT_EQ(s->getValue<int64_t>("hosts"), 100);
  EXPECT_EQ(s->getValue<int64_t>("at_newest"), 95);
  EXPECT_EQ(s->getValue<int64_t>("behind"), 4);
  EXPECT_EQ(s->getValue<int64_t>("unknown_revision"), 1);
  Poco::JSON::Array::Ptr lag = s->getArray("lag");
  ASSERT_EQ(lag->size(), 4u);
  EXPECT_EQ(lag->getObject(0)->getValue<int64_t>("hosts"), 1);  // 1
  EXPECT_EQ(lag->getObject(1)->getValue<int64_t>("hosts"), 2);  // 10, 10
  EXPECT_EQ(lag->getObject(2)->getValue<int64_t>("hosts"), 1);  // 49
  EXPECT_EQ(lag->getObject(3)->getValue<int64_t>("hosts"), 0);
  Poco::JSON::Array::Ptr dcs = s->getArray("datacenters");
  ASSERT_EQ(dcs->size(), 2u);
  EXPECT_EQ(dcs->getObject(0)->getValue<std::string>("name"), "dc1");
  EXPECT_EQ(dcs->getObject(0)->getValue<int64_t>("hosts"), 48 + 3);
  EXPECT_EQ(dcs->getObject(0)->getValue<int64_t>("behind"), 2);
  EXPECT_EQ(dcs->getObject(1)->getValue<int64_t>("behind"), 2);
  EXPECT_EQ(s->getValue<int64_t>("distributors_total"), 2);
  // The laggards, most behind first, each with its lag and since when.
  Poco::JSON::Array::Ptr laggards = s->getArray("laggards");
  ASSERT_EQ(laggards->size(), 4u);
  EXPECT_EQ(laggards->getObject(0)->getValue<std::string>("host_id"), "far");
  EXPECT_EQ(laggards->getObject(0)->getValue<int64_t>("lag"), 49);
  EXPECT_EQ(laggards->getObject(0)->getValue<int64_t>("synced_age_ms"), 1000);
  EXPECT_EQ(laggards->getObject(0)->getValue<std::string>("agent_version"),
            "0.9.1");
  EXPECT_EQ(laggards->getObject(1)->getValue<std::string>("host_id"),
            "late-2");
  EXPECT_EQ(laggards->getObject(2)->getValue<std::string>("host_id"),
            "late-3");
  EXPECT_EQ(laggards->getObject(3)->getValue<std::string>("host_id"),
            "late-1");
  EXPECT_EQ(s->getArray("unreachable")->getElement<std::string>(0), "dc3");
}

TEST(HostIndexTest, PagesWalkEveryHostOnceInNameOrder) {
  HostIndex index = Fleet();
  HostQuery q;
  q.limit = 7;
  int64_t total = 0;
  std::vector<std::string> ids = Walk(index, q, &total);
  EXPECT_EQ(total, 100);
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 100u);
  EXPECT_EQ(ids.front(), "far");  // dc1 first, then by id
  // One page serializes only its rows.
  absl::StatusOr<std::string> first = index.PageJson(q);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Parse(*first)->getArray("hosts")->size(), 7u);
  EXPECT_LT(first->size(), index.FullJson().size() / 5);
}

TEST(HostIndexTest, FiltersAndTheirTotals) {
  HostIndex index = Fleet();
  HostQuery q;
  q.limit = 2;
  q.behind = true;
  int64_t total = 0;
  EXPECT_EQ(Walk(index, q, &total),
            (std::vector<std::string>{"far", "late-1", "late-2", "late-3"}));
  EXPECT_EQ(total, 4);
  q.sort = "lag";
  EXPECT_EQ(Walk(index, q, &total),
            (std::vector<std::string>{"far", "late-2", "late-3", "late-1"}));
  q.min_lag = 10;
  EXPECT_EQ(Walk(index, q),
            (std::vector<std::string>{"far", "late-2", "late-3"}));
  q = HostQuery();
  q.datacenter = "dc2";
  q.distributor = "d2";
  q.prefix = "late";
  EXPECT_EQ(Walk(index, q), (std::vector<std::string>{"late-2"}));
  q = HostQuery();
  q.contains = "19";
  q.limit = 1000;
  EXPECT_EQ(Walk(index, q, &total),
            (std::vector<std::string>{"h190", "h192", "h194", "h119", "h191",
                                      "h193"}));  // dc1 (even i), then dc2
  EXPECT_EQ(total, 6);
}

TEST(HostIndexTest, TokensNameTheLastRowNotAPosition) {
  std::vector<HostRow> rows = {Row("dc1", "a", 5), Row("dc1", "b", 5),
                               Row("dc1", "d", 5)};
  HostIndex before(rows, {});
  HostQuery q;
  q.limit = 2;
  Poco::JSON::Object::Ptr page = Parse(*before.PageJson(q));
  q.page_token = page->getValue<std::string>("next_page_token");
  // Rebuilt with a host added before and one after the token's row.
  rows.push_back(Row("dc1", "0", 5));
  rows.push_back(Row("dc1", "c", 5));
  HostIndex after(rows, {});
  std::vector<std::string> rest = Walk(after, q);
  EXPECT_EQ(rest, (std::vector<std::string>{"c", "d"}));
}

TEST(HostIndexTest, BadQueriesAreRefused) {
  HostIndex index = Fleet();
  HostQuery q;
  q.page_token = "not-a-token";
  EXPECT_EQ(index.PageJson(q).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"limit", "0"},
           {"limit", "1001"},
           {"limit", "x"},
           {"behind", "maybe"},
           {"min_lag", "-1"},
           {"sort", "random"}}) {
    HttpRequest r;
    r.query[name] = value;
    EXPECT_TRUE(IsPagedHostRequest(r));
    EXPECT_EQ(ParseHostQuery(r).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name << "=" << value;
  }
  HttpRequest plain;
  EXPECT_FALSE(IsPagedHostRequest(plain));
  HttpRequest ok;
  ok.query["limit"] = "1000";
  ok.query["behind"] = "true";
  absl::StatusOr<HostQuery> parsed = ParseHostQuery(ok);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->limit, 1000u);
  EXPECT_TRUE(parsed->behind);
}

}  // namespace
}  // namespace ui
}  // namespace mandator
}  // namespace kess
