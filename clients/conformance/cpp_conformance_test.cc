// The C++ SDK runs every conformance vector (README.md), reading only the
// vector files, as a client in another language does: configs through
// ConfigClient, route files and pick scenarios through Discovery (on the
// vectors' cache directory, with a ManualClock), the seeded sequences
// through SelectInstance and FastRandom, and hashes.json against the
// hashes.
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "Poco/JSON/Parser.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/conformance/vectors.h"
#include "gtest/gtest.h"
#include "model/file_cache/format.h"
#include "model/route_table.h"
#include "sdk/clock.h"
#include "sdk/config_client.h"
#include "sdk/discovery.h"
#include "sdk/failure_tracker.h"
#include "sdk/fast_random.h"
#include "sdk/load_balancer.h"
#include "sdk/policy/hrw.h"
#include "sdk/route_snapshot.h"
#include "sdk/stable_hash.h"

namespace kess {
namespace clients {
namespace conformance {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

const char kVectors[] = "clients/conformance/vectors";
constexpr double kTolerance = 1e-9;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Vector(const std::string& rel) {
  return ReadText(absl::StrCat(kVectors, "/", rel));
}

Object::Ptr Load(const std::string& rel) {
  Poco::JSON::Parser parser;
  return parser.parse(Vector(rel)).extract<Object::Ptr>();
}

std::string Str(const Object::Ptr& o, const std::string& k) {
  return o->getValue<std::string>(k);
}
int64_t Int(const Object::Ptr& o, const std::string& k) {
  return o->get(k).convert<Poco::Int64>();
}
double Dbl(const Object::Ptr& o, const std::string& k) {
  return o->get(k).convert<double>();
}
std::vector<std::string> Strings(const Array::Ptr& a) {
  std::vector<std::string> out;
  if (a.isNull()) return out;
  for (size_t i = 0; i < a->size(); ++i) out.push_back(a->getElement<std::string>(i));
  return out;
}
std::vector<int64_t> Int64s(const Array::Ptr& a) {
  std::vector<int64_t> out;
  if (a.isNull()) return out;
  for (size_t i = 0; i < a->size(); ++i) out.push_back(a->getElement<Poco::Int64>(i));
  return out;
}
uint64_t Hex(const std::string& s) {
  uint64_t v = 0;
  EXPECT_TRUE(absl::SimpleHexAtoi(s, &v)) << s;
  return v;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/cacheXXXXXX");
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path_ = mkdtemp(buf.data());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Puts `content` at `path` the way the agent does: a temp file starting
// with '.', renamed over.
void Place(const std::string& path, const std::string& content) {
  const std::string dir = path.substr(0, path.rfind('/'));
  ASSERT_EQ(system(("mkdir -p '" + dir + "'").c_str()), 0);
  const std::string tmp = dir + "/.tmp-runner";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0);
}

// A sequence step's file: placed at `path`, or removed where it is null.
void PlaceStep(const std::string& path, const Object::Ptr& step) {
  if (step->isNull("file")) {
    unlink(path.c_str());
  } else {
    Place(path, Vector(Str(step, "file")));
  }
}

sdk::FailureTracker::Options TrackerOptions(const Object::Ptr& o) {
  sdk::FailureTracker::Options options;
  options.initial_ejection = absl::Milliseconds(Int(o, "initial_ejection_ms"));
  options.max_ejection = absl::Milliseconds(Int(o, "max_ejection_ms"));
  options.recovering_weight = Dbl(o, "recovering_weight");
  options.successes_to_reset = static_cast<int>(Int(o, "successes_to_reset"));
  options.forget_after = absl::Milliseconds(Int(o, "forget_after_ms"));
  return options;
}

// ---- pick scenarios ----

// The vectors' cache directory as real files (the reader refuses to follow
// symbolic links, and runfiles are links), copied once.
const std::string& CacheDir() {
  static const std::string* dir = [] {
    auto* path = new std::string(absl::StrCat(getenv("TEST_TMPDIR"), "/cache"));
    Object::Ptr tables = Load("tables.json");
    Array::Ptr list = tables->getArray("tables");
    for (size_t i = 0; i < list->size(); ++i) {
      Object::Ptr t = list->getObject(i);
      Place(absl::StrCat(*path, "/routes/", Str(t, "service"), ".json"),
            Vector(Str(t, "file")));
    }
    return path;
  }();
  return *dir;
}

// One client of one scenario: a Discovery on the vectors' cache, and the
// same table, policy and tracker as plain SDK parts for the checks
// Discovery does not expose (factors, seeded picks).
class ScenarioClient {
 public:
  ScenarioClient(const std::string& service, const Object::Ptr& policy,
                 const sdk::FailureTracker::Options& failover)
      : service_(service), tracker_(failover) {
    sdk::Discovery::Options o;
    o.cache_dir = CacheDir();
    o.agent_http_address = "";
    o.watch_directories = false;
    o.poll_interval = absl::Hours(1);
    o.clock = &clock_;
    o.failover = failover;
    const std::string name = Str(policy, "name");
    o.balancer = name;
    sdk::LoadBalancerOptions lb;
    if (name == "local_first") {
      o.local_datacenter = Str(policy, "local_datacenter");
      o.min_local_healthy = static_cast<int>(Int(policy, "min_local_healthy"));
      o.local_first_inner = Str(policy, "inner");
      lb.local_datacenter = o.local_datacenter;
      lb.min_local_healthy = o.min_local_healthy;
      lb.local_first_inner = o.local_first_inner;
    }
    picker_ = name == "local_first" ? o.local_first_inner : name;
    auto discovery = sdk::Discovery::Create(o);
    EXPECT_TRUE(discovery.ok()) << discovery.status();
    discovery_ = *std::move(discovery);
    auto balancer = sdk::LoadBalancerRegistry::Create(name, lb);
    EXPECT_TRUE(balancer.ok()) << balancer.status();
    balancer_ = *std::move(balancer);
    auto table = discovery_->GetTable(service);
    EXPECT_TRUE(table.ok()) << table.status();
    snapshot_ = sdk::RouteSnapshot::Build(*table);
  }

  const std::string& picker() const { return picker_; }

  void Report(int64_t t_ms, const std::string& id, bool failure,
              bool* changed = nullptr) {
    clock_.Set(t_ms);
    const bool c = failure ? tracker_.ReportFailure(id, t_ms)
                           : tracker_.ReportSuccess(id, t_ms);
    if (changed != nullptr) *changed = c;
    if (failure) {
      discovery_->ReportFailure(service_, id);
    } else {
      discovery_->ReportSuccess(service_, id);
    }
    reported_.insert(id);
  }

  // Checks `expect` (a scenario's expect or a failover check) at `now_ms`.
  void Check(const Object::Ptr& expect, const std::vector<std::string>& keys,
             int64_t now_ms, const Object::Ptr& empirical,
             const std::string& where) {
    SCOPED_TRACE(where);
    clock_.Set(now_ms);
    std::shared_ptr<const sdk::Availability> availability =
        tracker_.Build(*snapshot_, now_ms);
    const std::string tier = Str(expect, "tier");
    if (tier == "none") {
      auto picked = discovery_->Select(service_, "user-0");
      EXPECT_TRUE(absl::IsNotFound(picked.status())) << picked.status();
      return;
    }
    std::map<std::string, double> eligible;
    Array::Ptr list = expect->getArray("eligible");
    for (size_t i = 0; i < list->size(); ++i) {
      Object::Ptr e = list->getObject(i);
      eligible[Str(e, "id")] = Dbl(e, "share");
    }
    ASSERT_FALSE(eligible.empty());
    // The tier: every eligible instance has its state (or it is the last
    // resort).
    for (const auto& [id, share] : eligible) {
      auto index = snapshot_->IndexOf(id);
      ASSERT_TRUE(index.has_value()) << id;
      if (tier != "last_resort") {
        EXPECT_EQ(InstanceStateName(snapshot_->instance(*index).state), tier)
            << id;
      }
    }
    if (picker_ == "hrw") {
      std::vector<std::string> expected = Strings(expect->getArray("hrw_picks"));
      ASSERT_EQ(expected.size(), keys.size());
      for (size_t i = 0; i < keys.size(); ++i) {
        auto picked = discovery_->Select(service_, keys[i]);
        ASSERT_TRUE(picked.ok()) << picked.status();
        EXPECT_EQ((*picked)->id, expected[i]) << "key \"" << keys[i] << "\"";
        EXPECT_EQ(eligible.count((*picked)->id), 1u) << (*picked)->id;
      }
    } else {
      // The seeded sequence, exactly.
      Object::Ptr seq = expect->getObject("random_sequence");
      sdk::FastRandom random(Hex(Str(seq, "seed")));
      std::vector<std::string> expected = Strings(seq->getArray("picks"));
      for (size_t i = 0; i < expected.size(); ++i) {
        auto picked = sdk::SelectInstance(*balancer_, *snapshot_,
                                          availability.get(), "", now_ms,
                                          &random);
        ASSERT_TRUE(picked.ok()) << picked.status();
        EXPECT_EQ((*picked)->id, expected[i]) << "pick " << i;
      }
      // The shares, empirically (fixed seed).
      const int64_t draws = Int(empirical, "draws");
      const double sigmas = Dbl(empirical, "sigmas");
      std::map<std::string, int64_t> counts;
      sdk::FastRandom seeded(12345);
      for (int64_t i = 0; i < draws; ++i) {
        auto picked = sdk::SelectInstance(*balancer_, *snapshot_,
                                          availability.get(), "", now_ms,
                                          &seeded);
        ASSERT_TRUE(picked.ok());
        ++counts[(*picked)->id];
      }
      for (const auto& [id, count] : counts) {
        EXPECT_EQ(eligible.count(id), 1u) << id << " is not eligible";
      }
      for (const auto& [id, p] : eligible) {
        const double observed = static_cast<double>(counts[id]) / draws;
        const double bound =
            sigmas * std::sqrt(p * (1 - p) / draws) + 1.0 / draws;
        EXPECT_LE(std::abs(observed - p), bound)
            << id << ": share " << observed << ", expected " << p;
      }
      // Discovery's own picks (its thread-local PRNG) stay eligible.
      for (int i = 0; i < 200; ++i) {
        auto picked = discovery_->Select(service_);
        ASSERT_TRUE(picked.ok()) << picked.status();
        EXPECT_EQ(eligible.count((*picked)->id), 1u) << (*picked)->id;
      }
    }
    if (tier == "last_resort" || eligible.size() == 1) {
      auto picked = discovery_->Select(service_, "any-key");
      ASSERT_TRUE(picked.ok());
      EXPECT_EQ((*picked)->id, eligible.begin()->first);
    }
    if (expect->has("factors")) {
      Object::Ptr factors = expect->getObject("factors");
      for (uint32_t i = 0; i < snapshot_->size(); ++i) {
        const std::string& id = snapshot_->instance(i).id;
        const double expected = factors->has(id) ? Dbl(factors, id) : 1.0;
        const double actual =
            availability == nullptr || !availability->ActiveAt(now_ms)
                ? 1.0
                : availability->Factor(i, now_ms);
        EXPECT_NEAR(actual, expected, kTolerance) << id;
      }
    }
    if (expect->has("failures")) {
      Object::Ptr failures = expect->getObject("failures");
      for (const std::string& id : reported_) {
        const int64_t expected = failures->has(id) ? Int(failures, id) : 0;
        EXPECT_EQ(tracker_.failures(id), expected) << id;
      }
    }
  }

 private:
  const std::string service_;
  sdk::ManualClock clock_;
  std::unique_ptr<sdk::Discovery> discovery_;
  std::unique_ptr<sdk::LoadBalancer> balancer_;
  std::shared_ptr<const sdk::RouteSnapshot> snapshot_;
  sdk::FailureTracker tracker_;
  std::string picker_;
  std::set<std::string> reported_;
};

void RunScenarioFile(const std::string& file) {
  Object::Ptr doc = Load(file);
  Object::Ptr empirical = doc->getObject("empirical");
  Array::Ptr scenarios = doc->getArray("scenarios");
  ASSERT_GT(scenarios->size(), 0u);
  for (size_t i = 0; i < scenarios->size(); ++i) {
    Object::Ptr s = scenarios->getObject(i);
    const std::string name = Str(s, "name");
    Object::Ptr failover = s->getObject("failover");
    sdk::FailureTracker::Options options;
    if (!failover.isNull()) options = TrackerOptions(failover->getObject("options"));
    ScenarioClient client(Str(s, "service"), s->getObject("policy"), options);
    int64_t now = 0;
    if (!failover.isNull()) {
      Array::Ptr reports = failover->getArray("reports");
      for (size_t r = 0; r < reports->size(); ++r) {
        Object::Ptr report = reports->getObject(r);
        client.Report(Int(report, "t_ms"), Str(report, "id"),
                      Str(report, "result") == "failure");
      }
      now = Int(failover, "now_ms");
    }
    client.Check(s->getObject("expect"), Strings(s->getArray("keys")), now,
                 empirical, name);
  }
}

TEST(ConformanceTest, Hrw) { RunScenarioFile("hrw.json"); }
TEST(ConformanceTest, WeightedRandom) { RunScenarioFile("weighted_random.json"); }
TEST(ConformanceTest, LocalFirst) { RunScenarioFile("local_first.json"); }
TEST(ConformanceTest, Tiers) { RunScenarioFile("tiers.json"); }

TEST(ConformanceTest, Failover) {
  Object::Ptr doc = Load("failover.json");
  Array::Ptr sequences = doc->getArray("sequences");
  ASSERT_GT(sequences->size(), 0u);
  Object::Ptr empirical = new Object();
  empirical->set("draws", 20000);
  empirical->set("sigmas", 6.0);
  for (size_t i = 0; i < sequences->size(); ++i) {
    Object::Ptr seq = sequences->getObject(i);
    const std::string name = Str(seq, "name");
    ScenarioClient client(Str(seq, "service"), seq->getObject("policy"),
                          TrackerOptions(seq->getObject("options")));
    const std::vector<std::string> keys = Strings(seq->getArray("keys"));
    Array::Ptr steps = seq->getArray("steps");
    for (size_t k = 0; k < steps->size(); ++k) {
      Object::Ptr step = steps->getObject(k);
      const int64_t t = Int(step, "t_ms");
      const std::string where = absl::StrCat(name, " step ", k, " t=", t);
      if (step->has("check")) {
        client.Check(step->getObject("check"), keys, t, empirical, where);
      } else {
        bool changed = false;
        client.Report(t, Str(step, "id"), Str(step, "report") == "failure",
                      &changed);
        EXPECT_EQ(changed, step->getValue<bool>("changed")) << where;
      }
    }
  }
}

// ---- config files ----

// What a fresh ConfigClient reads for the key whose file is `content`:
// the version delivered to a watcher, or Get's error.
struct ConfigRead {
  bool delivered = false;
  sdk::ConfigValue value;
  absl::Status error;
};

std::unique_ptr<sdk::ConfigClient> NewConfigClient(const std::string& dir) {
  sdk::ConfigClient::Options o;
  o.cache_dir = dir;
  o.agent_http_address = "";
  o.watch_directories = false;
  o.poll_interval = absl::Hours(1);
  auto client = sdk::ConfigClient::Create(o);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

void ExpectHeld(const Object::Ptr& expect, const sdk::ConfigValue* value,
                const absl::Status& error, const std::string& where) {
  SCOPED_TRACE(where);
  const std::string outcome = Str(expect, "outcome");
  if (outcome == "value" || outcome == "absent") {
    ASSERT_NE(value, nullptr) << error;
    EXPECT_EQ(value->deleted, outcome == "absent");
    EXPECT_EQ(value->revision, Int(expect, "revision"));
    if (outcome == "value") {
      EXPECT_EQ(absl::Base64Escape(value->value), Str(expect, "value_b64"));
      EXPECT_EQ(value->content_type, Str(expect, "content_type"));
      EXPECT_EQ(value->mtime_ms, Int(expect, "mtime_ms"));
    }
    return;
  }
  ASSERT_EQ(value, nullptr);
  const std::string reason =
      outcome == "rejected" ? Str(expect, "reason")
      : Str(expect, "error") == "rejected" ? Str(expect, "reason")
                                            : "";
  if (reason.empty()) {
    EXPECT_TRUE(absl::IsNotFound(error)) << error;
  } else {
    EXPECT_TRUE(absl::IsDataLoss(error)) << error;
    auto actual = ReasonClassOf(error);
    ASSERT_TRUE(actual.ok()) << actual.status();
    EXPECT_EQ(*actual, reason) << error;
  }
}

TEST(ConformanceTest, ConfigFiles) {
  Object::Ptr doc = Load("config_files.json");
  Array::Ptr cases = doc->getArray("cases");
  ASSERT_GT(cases->size(), 0u);
  for (size_t i = 0; i < cases->size(); ++i) {
    Object::Ptr c = cases->getObject(i);
    const std::string ns = Str(c, "namespace"), key = Str(c, "key");
    TempDir dir;
    Place(absl::StrCat(dir.path(), "/configs/", ns, "/", key, ".json"),
          Vector(Str(c, "file")));
    auto client = NewConfigClient(dir.path());
    std::vector<sdk::ConfigValue> seen;
    auto watch = client->Watch(
        ns, key, [&](const sdk::ConfigValue& v) { seen.push_back(v); });
    ASSERT_TRUE(watch.ok());
    client->PollNow();
    ASSERT_LE(seen.size(), 1u);
    absl::Status error = client->Get(ns, key).status();
    ExpectHeld(c->getObject("expect"), seen.empty() ? nullptr : &seen[0],
               error, Str(c, "name"));
    watch->reset();
  }
}

TEST(ConformanceTest, ConfigSequences) {
  Object::Ptr doc = Load("config_sequences.json");
  Array::Ptr sequences = doc->getArray("sequences");
  ASSERT_GT(sequences->size(), 0u);
  for (size_t i = 0; i < sequences->size(); ++i) {
    Object::Ptr seq = sequences->getObject(i);
    const std::string ns = Str(seq, "namespace"), key = Str(seq, "key");
    TempDir dir;
    const std::string path =
        absl::StrCat(dir.path(), "/configs/", ns, "/", key, ".json");
    auto client = NewConfigClient(dir.path());
    std::vector<sdk::ConfigValue> seen;
    auto watch = client->Watch(
        ns, key, [&](const sdk::ConfigValue& v) { seen.push_back(v); });
    ASSERT_TRUE(watch.ok());
    client->PollNow();
    std::optional<sdk::ConfigValue> held;  // newest delivered
    Array::Ptr steps = seq->getArray("steps");
    for (size_t k = 0; k < steps->size(); ++k) {
      Object::Ptr step = steps->getObject(k);
      const std::string where = absl::StrCat(Str(seq, "name"), " step ", k);
      PlaceStep(path, step);
      const size_t before = seen.size();
      client->PollNow();
      std::vector<int64_t> delivered;
      for (size_t d = before; d < seen.size(); ++d) {
        delivered.push_back(seen[d].revision);
        held = seen[d];
      }
      EXPECT_EQ(delivered, Int64s(step->getArray("delivered"))) << where;
      // Get agrees with the newest delivered version (NotFound for a
      // tombstone).
      absl::StatusOr<sdk::ConfigValue> got = client->Get(ns, key);
      if (held && !held->deleted) {
        ASSERT_TRUE(got.ok()) << where << ": " << got.status();
        EXPECT_EQ(got->revision, held->revision) << where;
        EXPECT_EQ(got->value, held->value) << where;
      } else if (held) {
        EXPECT_TRUE(absl::IsNotFound(got.status())) << where;
      }
      ExpectHeld(step->getObject("held"), held ? &*held : nullptr,
                 got.status(), where);
    }
    watch->reset();
  }
}

// ---- route files ----

// A Discovery on the cache directory `dir` only (no agent, no directory
// watch, polled by the test).
std::unique_ptr<sdk::Discovery> NewDiscovery(const std::string& dir) {
  sdk::Discovery::Options o;
  o.cache_dir = dir;
  o.agent_http_address = "";
  o.watch_directories = false;
  o.poll_interval = absl::Hours(1);
  auto discovery = sdk::Discovery::Create(o);
  EXPECT_TRUE(discovery.ok()) << discovery.status();
  return discovery.ok() ? *std::move(discovery) : nullptr;
}

// `table` is the one `expect` describes: its revision and instance ids.
void ExpectTable(const absl::StatusOr<std::shared_ptr<const RouteTable>>& table,
                 const Object::Ptr& expect, const std::string& where) {
  ASSERT_TRUE(table.ok()) << where << ": " << table.status();
  EXPECT_EQ((*table)->revision, Int(expect, "revision")) << where;
  std::vector<std::string> ids;
  for (const RouteInstance& in : (*table)->instances) ids.push_back(in.id);
  EXPECT_EQ(ids, Strings(expect->getArray("ids"))) << where;
}

TEST(ConformanceTest, RouteFiles) {
  Object::Ptr doc = Load("route_files.json");
  Array::Ptr cases = doc->getArray("cases");
  ASSERT_GT(cases->size(), 0u);
  for (size_t i = 0; i < cases->size(); ++i) {
    Object::Ptr c = cases->getObject(i);
    const std::string name = Str(c, "name"), service = Str(c, "service");
    const std::string content = Vector(Str(c, "file"));
    TempDir dir;
    Place(absl::StrCat(dir.path(), "/routes/", service, ".json"), content);
    std::unique_ptr<sdk::Discovery> discovery = NewDiscovery(dir.path());
    ASSERT_NE(discovery, nullptr);
    auto table = discovery->GetTable(service);
    Object::Ptr expect = c->getObject("expect");
    if (Str(expect, "outcome") == "table") {
      ExpectTable(table, expect, name);
      continue;
    }
    EXPECT_TRUE(absl::IsNotFound(table.status())) << name;
    // The reason class, from the file and the table.
    auto entry = file_cache::DecodeEntry(content);
    const std::string reason = Str(expect, "reason");
    EXPECT_EQ(!entry.ok(), reason == "garbled_file") << name;
    if (entry.ok()) {
      auto parsed = RouteTableFromJson(entry->value);
      EXPECT_EQ(parsed.ok(), reason == "wrong_service") << name;
    }
  }
}

TEST(ConformanceTest, RouteSequences) {
  Object::Ptr doc = Load("route_sequences.json");
  Array::Ptr sequences = doc->getArray("sequences");
  ASSERT_GT(sequences->size(), 0u);
  for (size_t i = 0; i < sequences->size(); ++i) {
    Object::Ptr seq = sequences->getObject(i);
    const std::string service = Str(seq, "service");
    TempDir dir;
    const std::string path = absl::StrCat(dir.path(), "/routes/", service, ".json");
    std::unique_ptr<sdk::Discovery> discovery = NewDiscovery(dir.path());
    ASSERT_NE(discovery, nullptr);
    std::vector<int64_t> seen;
    auto watch = discovery->Watch(
        service,
        [&](std::shared_ptr<const RouteTable> t) { seen.push_back(t->revision); });
    ASSERT_TRUE(watch.ok());
    discovery->PollNow();
    Array::Ptr steps = seq->getArray("steps");
    for (size_t k = 0; k < steps->size(); ++k) {
      Object::Ptr step = steps->getObject(k);
      const std::string where = absl::StrCat(Str(seq, "name"), " step ", k);
      PlaceStep(path, step);
      const size_t before = seen.size();
      discovery->PollNow();
      std::vector<int64_t> delivered(seen.begin() + before, seen.end());
      EXPECT_EQ(delivered, Int64s(step->getArray("delivered"))) << where;
      Object::Ptr held = step->getObject("held");
      auto table = discovery->GetTable(service);
      if (Str(held, "outcome") == "none") {
        EXPECT_TRUE(absl::IsNotFound(table.status())) << where;
        continue;
      }
      ExpectTable(table, held, where);
    }
    watch->reset();
  }
}

// ---- hashes.json ----

TEST(ConformanceTest, Hashes) {
  Object::Ptr doc = Load("hashes.json");
  Array::Ptr stable = doc->getArray("stable_hash");
  ASSERT_GT(stable->size(), 0u);
  for (size_t i = 0; i < stable->size(); ++i) {
    Object::Ptr e = stable->getObject(i);
    std::string input;
    ASSERT_TRUE(absl::Base64Unescape(Str(e, "input_b64"), &input));
    EXPECT_EQ(StableHash(input), Hex(Str(e, "stable_hash")));
  }
  Array::Ptr pairs = doc->getArray("hash_pair");
  for (size_t i = 0; i < pairs->size(); ++i) {
    Object::Ptr e = pairs->getObject(i);
    const uint64_t k = StableHash(Str(e, "key")), id = StableHash(Str(e, "id"));
    EXPECT_EQ(k, Hex(Str(e, "key_hash")));
    EXPECT_EQ(id, Hex(Str(e, "id_hash")));
    EXPECT_EQ(sdk::HashPair(k, id), Hex(Str(e, "pair")));
    EXPECT_NEAR(sdk::policy::HrwNegLog2(sdk::HashPair(k, id)),
                Dbl(e, "neg_log2"), kTolerance);
  }
  Array::Ptr neg = doc->getArray("neg_log2");
  for (size_t i = 0; i < neg->size(); ++i) {
    Object::Ptr e = neg->getObject(i);
    EXPECT_NEAR(sdk::policy::HrwNegLog2(Hex(Str(e, "h"))), Dbl(e, "neg_log2"),
                kTolerance);
  }
  Array::Ptr rnd = doc->getArray("fast_random");
  for (size_t i = 0; i < rnd->size(); ++i) {
    Object::Ptr e = rnd->getObject(i);
    sdk::FastRandom r(Hex(Str(e, "seed")));
    for (const std::string& next : Strings(e->getArray("next"))) {
      EXPECT_EQ(r.Next(), Hex(next));
    }
    Array::Ptr unit = e->getArray("then_unit_double");
    for (size_t k = 0; k < unit->size(); ++k) {
      EXPECT_EQ(r.UnitDouble(), unit->getElement<double>(k));
    }
  }
  Array::Ptr aliases = doc->getArray("alias_tables");
  for (size_t i = 0; i < aliases->size(); ++i) {
    Object::Ptr e = aliases->getObject(i);
    Array::Ptr weights = e->getArray("weights");
    auto table = std::make_shared<RouteTable>();
    table->service = "alias";
    for (size_t k = 0; k < weights->size(); ++k) {
      RouteInstance in;
      in.id = absl::StrCat("i-", k < 10 ? "0" : "", k);
      in.weight = weights->getElement<int>(k);
      table->instances.push_back(in);
    }
    auto snapshot = sdk::RouteSnapshot::Build(table);
    const sdk::InstanceGroup& g = snapshot->groups(InstanceState::kHealthy).all;
    Array::Ptr threshold = e->getArray("threshold");
    Array::Ptr alias = e->getArray("alias");
    ASSERT_EQ(g.alias.size(), threshold->size());
    for (size_t k = 0; k < g.alias.size(); ++k) {
      EXPECT_EQ(g.alias[k].threshold,
                static_cast<uint64_t>(threshold->getElement<Poco::Int64>(k)));
      EXPECT_EQ(g.alias[k].alias,
                static_cast<uint32_t>(alias->getElement<int>(k)));
    }
    sdk::FastRandom r(0x6b657373);
    Array::Ptr draws = e->getArray("draws_seeded");
    for (size_t k = 0; k < draws->size(); ++k) {
      EXPECT_EQ(g.Draw(r.Next()),
                static_cast<size_t>(draws->getElement<int>(k)));
    }
  }
}

}  // namespace
}  // namespace conformance
}  // namespace clients
}  // namespace kess
