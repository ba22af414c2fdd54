// Read rights end to end (docs/security.md, "Read rights"): a real two-DC
// cluster whose distributors require client certificates
// (--tls_client_auth) and whose agents each present a certificate of their
// own host (kess://host/h<i>). A namespace's read ACL, set through the
// main leader's API and replicated to the slave DC, decides which hosts'
// agents get its configs:
//  - a host it does not name gets nothing (no file), is counted as denied,
//    and the cluster keeps serving everything else to it;
//  - revoking a host's right drops its cached copy (a tombstone) within the
//    propagation time, and later changes never reach it;
//  - granting the right to another host delivers the current value.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "model/file_cache/reader.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"

namespace kess {
namespace {

using testing::AgentHost;
using testing::CacheTierCluster;
using testing::CacheTierClusterOptions;
using testing::WaitFor;

constexpr absl::Duration kPropagation = absl::Seconds(30);

// What an agent's file cache holds for config ns/key.
enum class Held { kNothing, kTombstone, kValue };

Held Cached(const AgentHost& agent, const std::string& ns,
            const std::string& key, std::string* value = nullptr) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  absl::StatusOr<file_cache::CacheEntry> entry =
      reader.Read(file_cache::CacheKey::Config(ns, key));
  if (!entry.ok()) return Held::kNothing;
  if (entry->absent) return Held::kTombstone;
  if (value != nullptr) *value = entry->value;
  return Held::kValue;
}

class ReadRightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CacheTierClusterOptions o;
    o.dcs.registration_rights = true;  // a host certificate per agent
    o.distributors_per_dc = 1;
    o.agents_per_dc = 2;  // h1 and h2 in each DC
    o.distributor_flags = {"--tls_client_auth"};
    auto cluster = CacheTierCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value();
    for (int d = 0; d < cluster_->tier_dc_count(); ++d) {
      for (auto& agent : cluster_->tier_dc(d).agents) {
        (agent->host_id() == "h1" ? h1_ : h2_).push_back(agent.get());
      }
    }
    ASSERT_EQ(h1_.size(), 2u);
    ASSERT_EQ(h2_.size(), 2u);
  }

  // `method` `path` at the main leader as the admin; the answer's
  // "revision".
  int64_t Write(const std::string& method, const std::string& path,
                const std::string& body) {
    std::ifstream file(cluster_->dcs().admin_password_file());
    std::string secret;
    std::getline(file, secret);
    testing::MandatorProcess* leader =
        testing::WaitLeader(cluster_->dcs().main(), absl::Seconds(30));
    EXPECT_NE(leader, nullptr);
    if (leader == nullptr) return -1;
    absl::StatusOr<HttpReply> reply =
        HttpCall(leader->http_address(), method, path, body, absl::Seconds(20),
                 {{"Authorization", "Bearer " + secret}});
    EXPECT_TRUE(reply.ok()) << reply.status();
    if (!reply.ok()) return -1;
    EXPECT_EQ(reply->status, 200) << path << ": " << reply->body;
    Poco::JSON::Object::Ptr answer = testing::JsonBody(reply->body);
    return answer ? answer->optValue<Poco::Int64>("revision", -1) : -1;
  }

  // PUT /api/v1/acls/namespaces/<ns>.
  int64_t SetAcl(const std::string& ns, const std::string& hosts_json) {
    return Write("PUT", absl::StrCat("/api/v1/acls/namespaces/", ns),
                 absl::StrCat("{\"hosts\":", hosts_json,
                              ",\"author\":\"test\"}"));
  }

  int64_t Put(const std::string& ns, const std::string& key,
              const std::string& value) {
    return Write("PUT", absl::StrCat("/api/v1/configs/", ns, "/", key),
                 testing::PutBody(value));
  }

  bool AllHold(const std::vector<AgentHost*>& agents, const std::string& ns,
               const std::string& key, const std::string& value) {
    return WaitFor(
        [&] {
          for (AgentHost* a : agents) {
            std::string got;
            if (Cached(*a, ns, key, &got) != Held::kValue || got != value) {
              return false;
            }
          }
          return true;
        },
        kPropagation, absl::Milliseconds(50));
  }

  std::vector<AgentHost*> All() const {
    std::vector<AgentHost*> all = h1_;
    all.insert(all.end(), h2_.begin(), h2_.end());
    return all;
  }

  double DeniedTotal() {
    double total = 0;
    for (int d = 0; d < cluster_->tier_dc_count(); ++d) {
      for (auto& dist : cluster_->tier_dc(d).distributors) {
        absl::StatusOr<double> v =
            testing::MetricValue(dist->Metrics(),
                                 "kess_distributor_read_denied_total",
                                 "kind=\"config\"");
        if (v.ok()) total += *v;
      }
    }
    return total;
  }

  std::unique_ptr<CacheTierCluster> cluster_;
  std::vector<AgentHost*> h1_, h2_;  // one of each per DC
};

TEST_F(ReadRightsTest, DeniedHostGetsNothingAndRevocationDropsTheCopy) {
  ASSERT_GT(SetAcl("secret", "[\"h1\"]"), 0);
  ASSERT_GT(Put("secret", "k", "s1"), 0);
  ASSERT_GT(Put("open", "k", "o1"), 0);  // a later revision
  for (AgentHost* a : All()) {
    ASSERT_TRUE(
        a->Subscribe(testing::ConfigSubscription({{"secret", "k"}, {"open", "k"}}))
            .ok());
  }
  // The cluster serves everyone what they may read, in both DCs ...
  ASSERT_TRUE(AllHold(All(), "open", "k", "o1"));
  ASSERT_TRUE(AllHold(h1_, "secret", "k", "s1"));
  // ... and the other host got nothing of the namespace (open/k came later
  // than secret/k, so everything up to it was answered).
  for (AgentHost* a : h2_) {
    EXPECT_EQ(Cached(*a, "secret", "k"), Held::kNothing) << a->host_id();
  }
  EXPECT_GT(DeniedTotal(), 0);

  // Revoke h1 (the ACL now names a host that does not exist): its copy
  // becomes a tombstone in both DCs within the propagation time.
  ASSERT_GT(SetAcl("secret", "[\"h9\"]"), 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        for (AgentHost* a : h1_) {
          if (Cached(*a, "secret", "k") != Held::kTombstone) return false;
        }
        return true;
      },
      kPropagation, absl::Milliseconds(50)));
  // Later changes reach nobody; the rest keeps flowing.
  ASSERT_GT(Put("secret", "k", "s2"), 0);
  ASSERT_GT(Put("open", "k", "o2"), 0);
  ASSERT_TRUE(AllHold(All(), "open", "k", "o2"));
  for (AgentHost* a : h1_) {
    EXPECT_EQ(Cached(*a, "secret", "k"), Held::kTombstone) << a->host_id();
  }
  for (AgentHost* a : h2_) {
    EXPECT_EQ(Cached(*a, "secret", "k"), Held::kNothing) << a->host_id();
  }

  // Grant h2 (glob): it gets the current value, h1 stays without.
  ASSERT_GT(SetAcl("secret", "[\"h2*\"]"), 0);
  EXPECT_TRUE(AllHold(h2_, "secret", "k", "s2"));
  for (AgentHost* a : h1_) {
    EXPECT_EQ(Cached(*a, "secret", "k"), Held::kTombstone) << a->host_id();
  }
}

}  // namespace
}  // namespace kess
