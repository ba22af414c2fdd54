#include "clients/conformance/vectors.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "clients/conformance/json_writer.h"
#include "common/value_encoding.h"
#include "model/file_cache/format.h"
#include "model/file_cache/reader.h"
#include "model/route_table.h"
#include "sdk/clock.h"
#include "sdk/config_client.h"
#include "sdk/discovery.h"
#include "sdk/failure_tracker.h"
#include "sdk/fast_random.h"
#include "sdk/load_balancer.h"
#include "sdk/policy/hrw.h"
#include "sdk/policy/local_first.h"
#include "sdk/policy/weighted_random.h"
#include "sdk/route_snapshot.h"
#include "sdk/stable_hash.h"

namespace kess {
namespace clients {
namespace conformance {
namespace {

using file_cache::CacheEntry;
using file_cache::CacheKey;
using sdk::Availability;
using sdk::FailureTracker;
using sdk::FastRandom;
using sdk::LoadBalancer;
using sdk::RouteSnapshot;

using Files = std::map<std::string, std::string>;

// The vectors' fixed times: mtime/written of the files, registration.
constexpr int64_t kMtimeMs = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int64_t kWrittenMs = kMtimeMs + 123;
// How many picks of a seeded weighted-random run are pinned.
constexpr int kSequenceLength = 64;
constexpr uint64_t kSequenceSeed = 0x6b657373;  // "kess"

std::string Hex64(uint64_t v) { return absl::StrFormat("%016x", v); }

JsonValue Str(const std::string& s) { return JsonValue::String(s); }
JsonValue Int(int64_t i) { return JsonValue::Int(i); }
JsonValue Dbl(double d) { return JsonValue::Double(d); }

// Adds the vector file `name`: {"description": ..., "<list_key>": list}.
void AddDocument(const std::string& name, const std::string& list_key,
                 JsonValue list, const std::string& description,
                 Files* files) {
  JsonValue doc = JsonValue::Object();
  doc.Set("description", Str(description));
  doc.Set(list_key, std::move(list));
  (*files)[name] = doc.Print();
}

// splitmix64: the deterministic source of the big table's weights.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// ---- route tables ----

RouteInstance Instance(const std::string& id, const std::string& dc,
                       int weight, InstanceState state = InstanceState::kHealthy,
                       const std::string& check_status = "") {
  RouteInstance in;
  in.id = id;
  in.host = "host-" + id;
  // Loopback addresses only; the port is derived from the id.
  in.address =
      absl::StrCat("127.0.0.1:", 20000 + StableHash(id) % 20000);
  in.datacenter = dc;
  in.weight = weight;
  in.state = state;
  in.health = state == InstanceState::kDisabled ? "draining" : "up";
  in.metadata = {{"version", "1.0." + std::to_string(StableHash(id) % 7)}};
  in.registered_ms = kMtimeMs - 86400000;
  in.check_status = check_status;
  if (!check_status.empty()) {
    in.check_output = check_status == "passing" ? "HTTP 200" : "HTTP 503";
  }
  return in;
}

struct TableSpec {
  std::string service;
  bool tombstone = false;
  int64_t revision = 0;
  std::vector<RouteInstance> instances;
  std::string description;
};

std::vector<TableSpec> Tables() {
  using S = InstanceState;
  std::vector<TableSpec> tables;
  {
    TableSpec t{"conf-uniform", false, 101, {}, "5 healthy instances, equal weights, one DC"};
    for (int i = 1; i <= 5; ++i) {
      t.instances.push_back(Instance("u-" + std::to_string(i), "dc1", 100));
    }
    tables.push_back(t);
  }
  {
    TableSpec t{"conf-weights", false, 102, {},
                "12 healthy instances, weights 1 to 10000, one DC"};
    const int weights[] = {1, 2, 3, 5, 10, 50, 100, 500, 1000, 2500, 5000,
                           10000};
    int i = 0;
    for (int w : weights) {
      t.instances.push_back(
          Instance(absl::StrFormat("w-%02d", ++i), "dc1", w));
    }
    tables.push_back(t);
  }
  {
    TableSpec t{"conf-tiers", false, 103, {},
                "healthy (one with check_status critical, one warning), "
                "suspect (one critical) and disabled instances"};
    t.instances = {
        Instance("t-healthy-1", "dc1", 100),
        Instance("t-healthy-2", "dc1", 300, S::kHealthy, "critical"),
        Instance("t-healthy-3", "dc2", 100, S::kHealthy, "warning"),
        Instance("t-suspect-1", "dc1", 100, S::kSuspect, "critical"),
        Instance("t-suspect-2", "dc2", 200, S::kSuspect),
        Instance("t-disabled-1", "dc1", 10000, S::kDisabled),
        Instance("t-disabled-2", "dc2", 100, S::kDisabled, "passing"),
    };
    tables.push_back(t);
  }
  {
    TableSpec t{"conf-suspect-only", false, 104, {},
                "no healthy instance: suspect ones and a disabled one"};
    t.instances = {
        Instance("so-suspect-1", "dc1", 100, S::kSuspect),
        Instance("so-suspect-2", "dc2", 400, S::kSuspect, "critical"),
        Instance("so-disabled-1", "dc1", 100, S::kDisabled),
    };
    tables.push_back(t);
  }
  {
    TableSpec t{"conf-disabled-only", false, 105, {},
                "only disabled instances: nothing can be picked"};
    t.instances = {
        Instance("do-disabled-1", "dc1", 100, S::kDisabled),
        Instance("do-disabled-2", "dc2", 100, S::kDisabled),
    };
    tables.push_back(t);
  }
  {
    TableSpec t{"conf-multi-dc", false, 106, {},
                "four DCs: dc1 3 healthy + 1 suspect, dc2 3 healthy, dc3 1 "
                "healthy + 1 disabled, dc4 1 suspect"};
    t.instances = {
        Instance("dc1-a", "dc1", 100),
        Instance("dc1-b", "dc1", 200),
        Instance("dc1-c", "dc1", 50),
        Instance("dc1-d", "dc1", 100, S::kSuspect),
        Instance("dc2-a", "dc2", 100),
        Instance("dc2-b", "dc2", 50),
        Instance("dc2-c", "dc2", 400),
        Instance("dc3-a", "dc3", 1000),
        Instance("dc3-b", "dc3", 100, S::kDisabled),
        Instance("dc4-a", "dc4", 100, S::kSuspect),
    };
    tables.push_back(t);
  }
  tables.push_back({"conf-empty", false, 107, {}, "a table with no instances"});
  tables.push_back(
      {"conf-tombstone", true, 108, {}, "a tombstone: the service was deleted"});
  {
    TableSpec t{"conf-uniform-100", false, 109, {},
                "100 healthy instances, equal weights, dc1 and dc2"};
    for (int i = 0; i < 100; ++i) {
      t.instances.push_back(Instance(absl::StrFormat("eq-%03d", i),
                                     i % 2 == 0 ? "dc1" : "dc2", 100));
    }
    tables.push_back(t);
  }
  {
    TableSpec t{"conf-big", false, 110, {},
                "1000 instances big-0000..big-0999: dc = dc(1 + i % 3), "
                "weight = 1 + splitmix64(i) % 10000, suspect when i % 50 == 7, "
                "disabled when i % 97 == 3 (and not suspect), check_status "
                "critical when i % 50 == 7, passing when i % 10 == 1"};
    for (int i = 0; i < 1000; ++i) {
      S state = S::kHealthy;
      if (i % 50 == 7) {
        state = S::kSuspect;
      } else if (i % 97 == 3) {
        state = S::kDisabled;
      }
      std::string check;
      if (i % 50 == 7) {
        check = "critical";
      } else if (i % 10 == 1) {
        check = "passing";
      }
      t.instances.push_back(Instance(
          absl::StrFormat("big-%04d", i), absl::StrCat("dc", 1 + i % 3),
          static_cast<int>(1 + SplitMix64(i) % 10000), state, check));
    }
    tables.push_back(t);
  }
  return tables;
}

std::string RouteFile(const std::string& service, int64_t revision,
                      bool absent, const std::string& value) {
  CacheEntry e;
  e.key = CacheKey::Route(service);
  e.revision = revision;
  e.absent = absent;
  e.value = absent ? "" : value;
  e.content_type = absent ? "" : "application/json";
  e.mtime_ms = kMtimeMs;
  e.written_ms = kWrittenMs;
  return file_cache::EncodeEntry(e);
}

std::string RouteFile(const TableSpec& t) {
  RouteTable table;
  table.service = t.service;
  table.revision = t.revision;
  table.instances = t.instances;
  return RouteFile(t.service, t.revision, t.tombstone, RouteTableToJson(table));
}

// What a client holds for a table: the instances (none for a tombstone).
std::shared_ptr<const RouteSnapshot> SnapshotOf(const TableSpec& t) {
  auto table = std::make_shared<RouteTable>();
  table->service = t.service;
  table->revision = t.revision;
  if (!t.tombstone) table->instances = t.instances;
  return RouteSnapshot::Build(std::move(table));
}

// ---- pick scenarios ----

std::vector<std::string> RequestKeys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 176; ++i) keys.push_back(absl::StrCat("user-", i));
  const char* special[] = {
      "a", "A", "0", "42", "-1", "user-00", "USER-0", "user-0 ",
      "key with spaces", "tab\tkey", "slash/key", "quote\"key", "back\\slash",
      "ctrl\x01key", "\xc3\xbc" "ber", "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87-1",
      "\xe9\x94\xae", "emoji-\xf0\x9f\x98\x80", "dc1", "conf-uniform",
      "session:9f86d081884c7d65", "order#100045", "big-0001"};
  for (const char* s : special) keys.push_back(s);
  keys.push_back(std::string(300, 'x'));
  return keys;  // 200
}

struct Policy {
  std::string name;  // hrw, weighted_random, local_first
  std::string local_datacenter;
  int min_local_healthy = 1;
  std::string inner;  // local_first: hrw or weighted_random

  std::string picker() const { return name == "local_first" ? inner : name; }

  JsonValue ToJson() const {
    JsonValue j = JsonValue::Object();
    j.Set("name", Str(name));
    if (name == "local_first") {
      j.Set("local_datacenter", Str(local_datacenter));
      j.Set("min_local_healthy", Int(min_local_healthy));
      j.Set("inner", Str(inner));
    }
    return j;
  }
};

struct Report {
  int64_t t_ms;
  std::string id;
  bool failure;
};

struct Failover {
  FailureTracker::Options options;
  std::vector<Report> reports;
  int64_t now_ms = 0;
};

JsonValue OptionsJson(const FailureTracker::Options& o) {
  JsonValue j = JsonValue::Object();
  j.Set("initial_ejection_ms", Int(absl::ToInt64Milliseconds(o.initial_ejection)));
  j.Set("max_ejection_ms", Int(absl::ToInt64Milliseconds(o.max_ejection)));
  j.Set("recovering_weight", Dbl(o.recovering_weight));
  j.Set("successes_to_reset", Int(o.successes_to_reset));
  j.Set("forget_after_ms", Int(absl::ToInt64Milliseconds(o.forget_after)));
  return j;
}

// A balancer that picks nothing by itself: it records what it was offered
// (the tier, and the members with a factor above 0) and returns the first,
// so that SelectInstance and local_first decide eligibility exactly as they
// do for the real policies.
class Recorder : public LoadBalancer {
 public:
  struct Seen {
    bool called_ok = false;
    InstanceState state = InstanceState::kHealthy;
    std::vector<std::pair<uint32_t, double>> members;  // index, factor
  };
  explicit Recorder(Seen* seen) : seen_(seen) {}

  absl::StatusOr<const RouteInstance*> Select(
      const RouteSnapshot& snapshot,
      const sdk::SelectContext& ctx) const override {
    std::vector<std::pair<uint32_t, double>> members;
    for (uint32_t index : ctx.group->members) {
      const double f = ctx.Factor(index);
      if (f > 0) members.emplace_back(index, f);
    }
    if (members.empty()) return absl::NotFoundError("");
    seen_->called_ok = true;
    seen_->state = ctx.state;
    seen_->members = members;
    return &snapshot.instance(members[0].first);
  }

 private:
  Seen* const seen_;
};

std::unique_ptr<LoadBalancer> Make(const Policy& p,
                                   std::unique_ptr<LoadBalancer> picker) {
  if (p.name != "local_first") return picker;
  return sdk::policy::NewLocalFirstLoadBalancer(
      std::move(picker), p.local_datacenter, p.min_local_healthy);
}

std::unique_ptr<LoadBalancer> MakePicker(const std::string& name) {
  if (name == "hrw") return sdk::policy::NewHrwLoadBalancer();
  return sdk::policy::NewWeightedRandomLoadBalancer();
}

// The expected answers for one table, policy and failover state.
JsonValue Expect(const RouteSnapshot& snapshot, const Policy& policy,
                 const Availability* availability, int64_t now_ms,
                 const std::vector<std::string>& keys) {
  JsonValue expect = JsonValue::Object();
  Recorder::Seen seen;
  auto recorder = Make(policy, std::make_unique<Recorder>(&seen));
  absl::StatusOr<const RouteInstance*> probe =
      sdk::SelectInstance(*recorder, snapshot, availability, "", now_ms);
  if (!probe.ok()) {
    expect.Set("tier", Str("none"));
    expect.Set("eligible", JsonValue::Array());
    return expect;
  }
  std::vector<std::pair<uint32_t, double>> eligible;
  if (seen.called_ok) {
    expect.Set("tier", Str(InstanceStateName(seen.state)));
    eligible = seen.members;
  } else {
    expect.Set("tier", Str("last_resort"));
    eligible.emplace_back(*snapshot.IndexOf((*probe)->id), 1.0);
  }
  double total = 0;
  for (const auto& [index, f] : eligible) {
    total += std::max(snapshot.instance(index).weight, 1) * f;
  }
  JsonValue list = JsonValue::Array();
  for (const auto& [index, f] : eligible) {
    JsonValue e = JsonValue::Object();
    e.Set("id", Str(snapshot.instance(index).id));
    // 10 significant digits: the shares are checked with a tolerance.
    const double share =
        std::max(snapshot.instance(index).weight, 1) * f / total;
    e.Set("share", Dbl(std::stod(absl::StrFormat("%.10g", share))));
    list.Push(std::move(e));
  }
  expect.Set("eligible", std::move(list));

  auto balancer = Make(policy, MakePicker(policy.picker()));
  if (policy.picker() == "hrw") {
    JsonValue picks = JsonValue::Array();
    for (const std::string& key : keys) {
      absl::StatusOr<const RouteInstance*> p =
          sdk::SelectInstance(*balancer, snapshot, availability, key, now_ms);
      picks.Push(Str((*p)->id));
    }
    expect.Set("hrw_picks", std::move(picks));
  } else {
    FastRandom random(kSequenceSeed);
    JsonValue picks = JsonValue::Array();
    for (int i = 0; i < kSequenceLength; ++i) {
      absl::StatusOr<const RouteInstance*> p = sdk::SelectInstance(
          *balancer, snapshot, availability, "", now_ms, &random);
      picks.Push(Str((*p)->id));
    }
    JsonValue seq = JsonValue::Object();
    seq.Set("seed", Str(Hex64(kSequenceSeed)));
    seq.Set("picks", std::move(picks));
    expect.Set("random_sequence", std::move(seq));
  }
  return expect;
}

JsonValue FactorsJson(const RouteSnapshot& snapshot,
                      const Availability* availability, int64_t now_ms) {
  JsonValue factors = JsonValue::Object();
  if (availability == nullptr || !availability->ActiveAt(now_ms)) {
    return factors;
  }
  for (uint32_t i = 0; i < snapshot.size(); ++i) {
    const double f = availability->Factor(i, now_ms);
    if (f != 1.0) factors.Set(snapshot.instance(i).id, Dbl(f));
  }
  return factors;
}

struct ScenarioSpec {
  std::string name;
  std::string service;
  Policy policy;
  std::optional<Failover> failover;
  int keys = 200;
};

JsonValue Scenario(const std::map<std::string, TableSpec>& tables,
                   const ScenarioSpec& s) {
  const TableSpec& t = tables.at(s.service);
  std::shared_ptr<const RouteSnapshot> snapshot = SnapshotOf(t);
  std::vector<std::string> keys = RequestKeys();
  keys.resize(s.keys);
  JsonValue j = JsonValue::Object();
  j.Set("name", Str(s.name));
  j.Set("service", Str(s.service));
  j.Set("policy", s.policy.ToJson());
  std::shared_ptr<const Availability> availability;
  int64_t now_ms = 0;
  if (s.failover) {
    FailureTracker tracker(s.failover->options);
    JsonValue f = JsonValue::Object();
    f.Set("options", OptionsJson(s.failover->options));
    JsonValue reports = JsonValue::Array();
    for (const Report& r : s.failover->reports) {
      if (r.failure) {
        tracker.ReportFailure(r.id, r.t_ms);
      } else {
        tracker.ReportSuccess(r.id, r.t_ms);
      }
      JsonValue rj = JsonValue::Object();
      rj.Set("t_ms", Int(r.t_ms));
      rj.Set("id", Str(r.id));
      rj.Set("result", Str(r.failure ? "failure" : "success"));
      reports.Push(std::move(rj));
    }
    f.Set("reports", std::move(reports));
    now_ms = s.failover->now_ms;
    f.Set("now_ms", Int(now_ms));
    j.Set("failover", std::move(f));
    availability = tracker.Build(*snapshot, now_ms);
  }
  if (s.policy.picker() == "hrw") {
    JsonValue kj = JsonValue::Array();
    for (const std::string& k : keys) kj.Push(Str(k));
    j.Set("keys", std::move(kj));
  }
  JsonValue expect =
      Expect(*snapshot, s.policy, availability.get(), now_ms, keys);
  if (s.failover) {
    expect.Set("factors", FactorsJson(*snapshot, availability.get(), now_ms));
  }
  j.Set("expect", std::move(expect));
  return j;
}

std::string ScenarioFile(const std::map<std::string, TableSpec>& tables,
                         const std::string& description,
                         const std::vector<ScenarioSpec>& specs) {
  JsonValue doc = JsonValue::Object();
  doc.Set("description", Str(description));
  JsonValue empirical = JsonValue::Object();
  empirical.Set("draws", Int(100000));
  empirical.Set("sigmas", Dbl(6.0));
  doc.Set("empirical", std::move(empirical));
  JsonValue list = JsonValue::Array();
  for (const ScenarioSpec& s : specs) list.Push(Scenario(tables, s));
  doc.Set("scenarios", std::move(list));
  return doc.Print();
}

Policy Hrw() { return {"hrw", "", 1, ""}; }
Policy Wr() { return {"weighted_random", "", 1, ""}; }
Policy LocalFirst(const std::string& dc, int min, const std::string& inner) {
  return {"local_first", dc, min, inner};
}

Failover Fail(std::vector<Report> reports, int64_t now_ms) {
  Failover f;
  f.reports = std::move(reports);
  f.now_ms = now_ms;
  return f;
}

void PickVectors(const std::vector<TableSpec>& table_list, Files* files) {
  std::map<std::string, TableSpec> tables;
  for (const TableSpec& t : table_list) tables[t.service] = t;

  std::vector<ScenarioSpec> hrw;
  for (const TableSpec& t : table_list) {
    hrw.push_back({"hrw/" + t.service, t.service, Hrw(), std::nullopt});
  }
  (*files)["hrw.json"] = ScenarioFile(
      tables,
      "HRW (weighted rendezvous) picks: for every key, the id Select "
      "returns with policy hrw",
      hrw);

  std::vector<ScenarioSpec> wr;
  for (const TableSpec& t : table_list) {
    wr.push_back(
        {"weighted_random/" + t.service, t.service, Wr(), std::nullopt});
  }
  wr.push_back({"weighted_random/conf-weights/recovering", "conf-weights",
                Wr(),
                Fail({{0, "w-12", true}, {10, "w-11", true}}, 1500)});
  (*files)["weighted_random.json"] = ScenarioFile(
      tables,
      "weighted random: the eligible instances and each one's expected "
      "share (checked empirically), and the exact sequence of a seeded run "
      "(optional: only for clients that implement FastRandom and the alias "
      "table exactly)",
      wr);

  std::vector<ScenarioSpec> lf;
  for (const std::string service : {"conf-multi-dc", "conf-big"}) {
    for (const std::string dc : {"dc1", "dc2", "dc3", "dc4", "dc9"}) {
      for (int min : {0, 1, 2, 3, 4}) {
        // The big table: the local DC and a missing one, the default min.
        if (service == "conf-big" && (min != 1 || (dc != "dc1" && dc != "dc9"))) {
          continue;
        }
        for (const std::string inner : {"hrw", "weighted_random"}) {
          ScenarioSpec s{absl::StrCat("local_first/", service, "/", dc,
                                      "/min", min, "/", inner),
                         service, LocalFirst(dc, min, inner), std::nullopt,
                         100};
          lf.push_back(s);
        }
      }
    }
  }
  // conf-big has 323 healthy instances in dc1: enough for 323, not 324.
  lf.push_back({"local_first/conf-big/dc1/min323/hrw", "conf-big",
                LocalFirst("dc1", 323, "hrw"), std::nullopt, 100});
  lf.push_back({"local_first/conf-big/dc1/min324/hrw", "conf-big",
                LocalFirst("dc1", 324, "hrw"), std::nullopt, 100});
  // Ejection lowers the local count: dc1 has 3 healthy; ejecting one
  // leaves 2, ejecting two leaves 1.
  for (int min : {2, 3}) {
    lf.push_back({absl::StrCat("local_first/conf-multi-dc/dc1/min", min,
                               "/hrw/one_ejected"),
                  "conf-multi-dc", LocalFirst("dc1", min, "hrw"),
                  Fail({{0, "dc1-a", true}}, 500), 100});
  }
  lf.push_back({"local_first/conf-multi-dc/dc1/min3/hrw/one_recovering",
                "conf-multi-dc", LocalFirst("dc1", 3, "hrw"),
                Fail({{0, "dc1-a", true}}, 1250), 100});
  lf.push_back({"local_first/conf-tiers/dc1/min2/weighted_random",
                "conf-tiers", LocalFirst("dc1", 2, "weighted_random"),
                std::nullopt, 100});
  lf.push_back({"local_first/conf-tiers/dc1/min2/weighted_random/"
                "healthy_ejected",
                "conf-tiers", LocalFirst("dc1", 2, "weighted_random"),
                Fail({{0, "t-healthy-1", true},
                      {1, "t-healthy-2", true},
                      {2, "t-healthy-3", true}},
                     100),
                100});
  (*files)["local_first.json"] = ScenarioFile(
      tables,
      "local first: which instances are eligible for each local DC and "
      "min_local_healthy, the HRW picks or the weighted shares among them",
      lf);

  std::vector<ScenarioSpec> tiers;
  for (const std::string service :
       {"conf-tiers", "conf-suspect-only", "conf-disabled-only", "conf-empty",
        "conf-tombstone"}) {
    for (const Policy& p : {Hrw(), Wr()}) {
      tiers.push_back({absl::StrCat("tiers/", service, "/", p.name), service,
                       p, std::nullopt});
    }
  }
  const std::vector<Report> all_healthy = {{0, "t-healthy-1", true},
                                           {100, "t-healthy-2", true},
                                           {200, "t-healthy-3", true}};
  std::vector<Report> everything = all_healthy;
  everything.push_back({300, "t-suspect-2", true});
  everything.push_back({400, "t-suspect-1", true});
  for (const Policy& p : {Hrw(), Wr()}) {
    tiers.push_back({"tiers/conf-tiers/" + p.name + "/healthy_ejected",
                     "conf-tiers", p, Fail(all_healthy, 500)});
    tiers.push_back({"tiers/conf-tiers/" + p.name + "/all_ejected",
                     "conf-tiers", p, Fail(everything, 500)});
    tiers.push_back({"tiers/conf-tiers/" + p.name + "/healthy_recovering",
                     "conf-tiers", p, Fail(all_healthy, 1100)});
  }
  // All ejected with the healthy ones ejected later: the least recently
  // ejected is still a healthy one (healthy before suspect).
  std::vector<Report> suspect_first = {{0, "t-suspect-1", true},
                                       {10, "t-suspect-2", true},
                                       {20, "t-healthy-3", true},
                                       {30, "t-healthy-1", true},
                                       {40, "t-healthy-2", true}};
  tiers.push_back({"tiers/conf-tiers/hrw/all_ejected_suspect_first",
                   "conf-tiers", Hrw(), Fail(suspect_first, 500)});
  tiers.push_back({"tiers/conf-suspect-only/weighted_random/all_ejected",
                   "conf-suspect-only", Wr(),
                   Fail({{0, "so-suspect-2", true}, {5, "so-suspect-1", true}},
                        600)});
  (*files)["tiers.json"] = ScenarioFile(
      tables,
      "state tiers: healthy first, suspect only when no healthy instance is "
      "available, disabled never, the least recently ejected when all are "
      "ejected; check_status alone changes nothing",
      tiers);
}

// ---- failover sequences ----

struct Step {
  int64_t t_ms;
  enum { kFailure, kSuccess, kCheck } op;
  std::string id;
};

JsonValue FailoverSequence(const std::string& name, const TableSpec& t,
                           const Policy& policy,
                           const FailureTracker::Options& options,
                           const std::vector<Step>& steps) {
  std::shared_ptr<const RouteSnapshot> snapshot = SnapshotOf(t);
  FailureTracker tracker(options);
  std::vector<std::string> keys = RequestKeys();
  keys.resize(20);
  std::set<std::string> reported;
  JsonValue j = JsonValue::Object();
  j.Set("name", Str(name));
  j.Set("service", Str(t.service));
  j.Set("policy", policy.ToJson());
  j.Set("options", OptionsJson(options));
  if (policy.picker() == "hrw") {
    JsonValue kj = JsonValue::Array();
    for (const std::string& k : keys) kj.Push(Str(k));
    j.Set("keys", std::move(kj));
  }
  JsonValue list = JsonValue::Array();
  for (const Step& s : steps) {
    JsonValue sj = JsonValue::Object();
    sj.Set("t_ms", Int(s.t_ms));
    if (s.op == Step::kCheck) {
      std::shared_ptr<const Availability> availability =
          tracker.Build(*snapshot, s.t_ms);
      JsonValue check = Expect(*snapshot, policy, availability.get(), s.t_ms,
                               keys);
      check.Set("factors", FactorsJson(*snapshot, availability.get(), s.t_ms));
      JsonValue failures = JsonValue::Object();
      for (const std::string& id : reported) {
        if (tracker.failures(id) > 0) failures.Set(id, Int(tracker.failures(id)));
      }
      check.Set("failures", std::move(failures));
      sj.Set("check", std::move(check));
    } else {
      const bool failure = s.op == Step::kFailure;
      reported.insert(s.id);
      const bool changed = failure ? tracker.ReportFailure(s.id, s.t_ms)
                                   : tracker.ReportSuccess(s.id, s.t_ms);
      sj.Set("report", Str(failure ? "failure" : "success"));
      sj.Set("id", Str(s.id));
      sj.Set("changed", JsonValue::Bool(changed));
    }
    list.Push(std::move(sj));
  }
  j.Set("steps", std::move(list));
  return j;
}

void FailoverVectors(const std::vector<TableSpec>& table_list, Files* files) {
  std::map<std::string, TableSpec> tables;
  for (const TableSpec& t : table_list) tables[t.service] = t;
  const FailureTracker::Options defaults;
  using S = Step;
  JsonValue list = JsonValue::Array();

  {  // Exponential backoff up to the cap, the ramp after each ejection.
    std::vector<Step> steps;
    int64_t now = 1000000;
    const int64_t durations[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (int64_t d : durations) {
      steps.push_back({now, S::kFailure, "u-1"});
      steps.push_back({now + 1, S::kFailure, "u-1"});  // in flight: ignored
      steps.push_back({now + d - 1, S::kCheck, ""});
      steps.push_back({now + d, S::kCheck, ""});
      steps.push_back({now + d + d / 4, S::kCheck, ""});
      steps.push_back({now + d + d / 2, S::kCheck, ""});
      now += d + d / 2;  // fails again while recovering
    }
    steps.push_back({now + 30000, S::kCheck, ""});
    list.Push(FailoverSequence("backoff_and_ramp", tables.at("conf-uniform"),
                               Hrw(), defaults, steps));
  }
  {  // Successes forget the failures, also while ejected.
    std::vector<Step> steps = {
        {0, S::kFailure, "u-2"},      {100, S::kCheck, ""},
        {200, S::kSuccess, "u-2"},    {300, S::kSuccess, "u-2"},
        {350, S::kCheck, ""},         {400, S::kSuccess, "u-2"},
        {450, S::kCheck, ""},         {500, S::kFailure, "u-2"},
        {1499, S::kCheck, ""},        {1500, S::kCheck, ""},
        {1600, S::kFailure, "u-2"},   {1700, S::kSuccess, "u-2"},
        {1800, S::kFailure, "u-2"},   {1900, S::kCheck, ""},
        {5000, S::kSuccess, "u-9"},   {5001, S::kCheck, ""},
    };
    list.Push(FailoverSequence("successes_reset", tables.at("conf-uniform"),
                               Hrw(), defaults, steps));
  }
  {  // A quiet period after the recovery forgets the failures.
    std::vector<Step> steps = {
        {0, S::kFailure, "u-3"},      {2000, S::kFailure, "u-3"},
        {3000, S::kCheck, ""},        {65999, S::kFailure, "u-3"},
        {66000, S::kCheck, ""},       {70000, S::kCheck, ""},
        {200000, S::kFailure, "u-3"}, {200999, S::kCheck, ""},
        {201000, S::kCheck, ""},
    };
    list.Push(FailoverSequence("forget_after_quiet_period",
                               tables.at("conf-uniform"), Hrw(), defaults,
                               steps));
  }
  {  // Ejecting healthy instances one by one, then the suspect ones.
    std::vector<Step> steps = {
        {0, S::kCheck, ""},
        {10, S::kFailure, "t-healthy-2"}, {20, S::kCheck, ""},
        {30, S::kFailure, "t-healthy-1"}, {40, S::kFailure, "t-healthy-3"},
        {50, S::kCheck, ""},
        {60, S::kFailure, "t-suspect-1"}, {70, S::kCheck, ""},
        {80, S::kFailure, "t-suspect-2"}, {90, S::kCheck, ""},
        {1010, S::kCheck, ""},            {1035, S::kCheck, ""},
        {2100, S::kCheck, ""},
    };
    list.Push(FailoverSequence("tiers_under_ejection", tables.at("conf-tiers"),
                               Hrw(), defaults, steps));
    list.Push(FailoverSequence("tiers_under_ejection_weighted",
                               tables.at("conf-tiers"), Wr(), defaults,
                               steps));
  }
  {  // Local first falls over when ejections leave too few local ones.
    std::vector<Step> steps = {
        {0, S::kCheck, ""},
        {10, S::kFailure, "dc1-b"}, {20, S::kCheck, ""},
        {30, S::kFailure, "dc1-a"}, {40, S::kCheck, ""},
        {1010, S::kCheck, ""},      {1040, S::kCheck, ""},
    };
    list.Push(FailoverSequence("local_first_under_ejection",
                               tables.at("conf-multi-dc"),
                               LocalFirst("dc1", 2, "hrw"), defaults, steps));
  }
  {  // Other options: 250 ms initial, 1 s cap, 50 % while recovering, 1
     // success resets, forgotten after 5 s.
    FailureTracker::Options o;
    o.initial_ejection = absl::Milliseconds(250);
    o.max_ejection = absl::Seconds(1);
    o.recovering_weight = 0.5;
    o.successes_to_reset = 1;
    o.forget_after = absl::Seconds(5);
    std::vector<Step> steps = {
        {0, S::kFailure, "w-12"},    {100, S::kCheck, ""},
        {250, S::kFailure, "w-12"},  {300, S::kCheck, ""},
        {750, S::kFailure, "w-12"},  {1749, S::kCheck, ""},
        {1750, S::kFailure, "w-12"}, {2750, S::kCheck, ""},
        {3250, S::kCheck, ""},       {3300, S::kSuccess, "w-12"},
        {3301, S::kCheck, ""},       {3400, S::kFailure, "w-12"},
        {3500, S::kCheck, ""},       {4000, S::kFailure, "w-11"},
        {4000, S::kFailure, "w-10"}, {4100, S::kCheck, ""},
        {10000, S::kCheck, ""},
    };
    list.Push(FailoverSequence("custom_options", tables.at("conf-weights"),
                               Wr(), o, steps));
  }
  AddDocument("failover.json", "sequences", std::move(list),
              "caller-side failure tracking: reports at given times, and at "
              "each check the weight factors, failure counts, eligible "
              "instances and picks", files);
}

// ---- hashes and the PRNG ----

void HashVectors(Files* files) {
  JsonValue doc = JsonValue::Object();
  doc.Set("description",
          Str("the fixed hashes, HRW's -log2, the PRNG and alias tables; "
              "64-bit values as 16 lower-case hex digits"));
  JsonValue stable = JsonValue::Array();
  const std::vector<std::string> inputs = {
      "", "a", "b", "user-0", "user-1", "u-1", "big-0000",
      "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87-1", std::string(1, '\0'),
      std::string("a\0b", 3), std::string(300, 'x')};
  for (const std::string& in : inputs) {
    JsonValue e = JsonValue::Object();
    e.Set("input_b64", Str(absl::Base64Escape(in)));
    e.Set("stable_hash", Str(Hex64(StableHash(in))));
    stable.Push(std::move(e));
  }
  doc.Set("stable_hash", std::move(stable));

  JsonValue pairs = JsonValue::Array();
  const std::vector<std::pair<std::string, std::string>> pair_inputs = {
      {"user-0", "u-1"},  {"user-0", "u-2"},  {"user-1", "u-1"},
      {"a", "w-01"},      {"a", "w-12"},      {"session:9f86d081884c7d65", "big-0500"},
      {"", "u-1"}};
  for (const auto& [key, id] : pair_inputs) {
    const uint64_t h = sdk::HashPair(StableHash(key), StableHash(id));
    JsonValue e = JsonValue::Object();
    e.Set("key", Str(key));
    e.Set("id", Str(id));
    e.Set("key_hash", Str(Hex64(StableHash(key))));
    e.Set("id_hash", Str(Hex64(StableHash(id))));
    e.Set("pair", Str(Hex64(h)));
    e.Set("neg_log2", Dbl(sdk::policy::HrwNegLog2(h)));
    pairs.Push(std::move(e));
  }
  doc.Set("hash_pair", std::move(pairs));

  JsonValue neg = JsonValue::Array();
  const uint64_t hs[] = {0,
                         1,
                         0x7ff,
                         0x800,
                         0x8000000000000000ULL,
                         0xb504f333f9de6484ULL,
                         0xb504f333f9de6800ULL,
                         0xfffffffffffff800ULL,
                         0xffffffffffffffffULL,
                         0x123456789abcdef0ULL};
  for (uint64_t h : hs) {
    JsonValue e = JsonValue::Object();
    e.Set("h", Str(Hex64(h)));
    e.Set("neg_log2", Dbl(sdk::policy::HrwNegLog2(h)));
    neg.Push(std::move(e));
  }
  doc.Set("neg_log2", std::move(neg));

  JsonValue rnd = JsonValue::Array();
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, kSequenceSeed}) {
    FastRandom r(seed);
    JsonValue next = JsonValue::Array();
    for (int i = 0; i < 8; ++i) next.Push(Str(Hex64(r.Next())));
    JsonValue unit = JsonValue::Array();
    for (int i = 0; i < 4; ++i) unit.Push(Dbl(r.UnitDouble()));
    JsonValue e = JsonValue::Object();
    e.Set("seed", Str(Hex64(seed)));
    e.Set("next", std::move(next));
    e.Set("then_unit_double", std::move(unit));
    rnd.Push(std::move(e));
  }
  doc.Set("fast_random", std::move(rnd));

  JsonValue aliases = JsonValue::Array();
  const std::vector<std::vector<int>> weight_sets = {
      {100}, {1, 1}, {1, 3}, {100, 200, 50}, {1, 2, 3, 5, 10, 50, 100, 500,
                                              1000, 2500, 5000, 10000}};
  for (const std::vector<int>& weights : weight_sets) {
    auto table = std::make_shared<RouteTable>();
    table->service = "alias";
    for (size_t i = 0; i < weights.size(); ++i) {
      table->instances.push_back(
          Instance(absl::StrFormat("i-%02d", i), "dc1", weights[i]));
    }
    auto snapshot = RouteSnapshot::Build(table);
    const sdk::InstanceGroup& g =
        snapshot->groups(InstanceState::kHealthy).all;
    JsonValue e = JsonValue::Object();
    JsonValue w = JsonValue::Array();
    for (int x : weights) w.Push(Int(x));
    e.Set("weights", std::move(w));
    JsonValue th = JsonValue::Array();
    JsonValue al = JsonValue::Array();
    for (const auto& c : g.alias) {
      th.Push(Int(static_cast<int64_t>(c.threshold)));
      al.Push(Int(c.alias));
    }
    e.Set("threshold", std::move(th));
    e.Set("alias", std::move(al));
    JsonValue draws = JsonValue::Array();
    FastRandom r(kSequenceSeed);
    for (int i = 0; i < 16; ++i) {
      draws.Push(Int(static_cast<int64_t>(g.Draw(r.Next()))));
    }
    e.Set("draws_seeded", std::move(draws));
    aliases.Push(std::move(e));
  }
  doc.Set("alias_tables", std::move(aliases));
  (*files)["hashes.json"] = doc.Print();
}

// ---- temp directories for the file-reading vectors ----

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl =
        absl::StrCat(base != nullptr ? base : "/tmp", "/kess-vectors-XXXXXX");
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::string cmd = "rm -rf '" + path_ + "'";
      if (system(cmd.c_str()) != 0) {
        // best effort
      }
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

absl::Status WriteFile(const std::string& path, const std::string& content) {
  const size_t slash = path.rfind('/');
  std::string cmd = "mkdir -p '" + path.substr(0, slash) + "'";
  if (system(cmd.c_str()) != 0) return absl::InternalError("mkdir " + path);
  const std::string tmp = path.substr(0, slash) + "/.tmp-vectors";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) return absl::InternalError("write " + tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("rename " + path);
  }
  return absl::OkStatus();
}

// ---- config files ----

}  // namespace

absl::StatusOr<std::string> ReasonClassOf(const absl::Status& status) {
  const absl::string_view m = status.message();
  if (absl::StrContains(m, "not JSON") ||
      absl::StrContains(m, "not a JSON object")) {
    return std::string("not_json");
  }
  if (absl::StrContains(m, "missing field")) return std::string("missing_field");
  if (absl::StrContains(m, "is not an integer") ||
      absl::StrContains(m, "is not a string") ||
      absl::StrContains(m, "is not a boolean")) {
    return std::string("wrong_type");
  }
  if (absl::StrContains(m, "unknown format version")) {
    return std::string("unknown_format");
  }
  if (absl::StrContains(m, "unknown type")) return std::string("unknown_type");
  if (absl::StrContains(m, "unknown encoding")) {
    return std::string("unknown_encoding");
  }
  if (absl::StrContains(m, "not valid base64")) return std::string("bad_base64");
  if (absl::StrContains(m, "crc32 of the value")) {
    return std::string("crc_mismatch");
  }
  if (absl::StrContains(m, ": holds ")) return std::string("key_mismatch");
  if (absl::StrContains(m, "is invalid:") ||
      absl::StrContains(m, "name is empty")) {
    return std::string("invalid_name");
  }
  return absl::InternalError(
      absl::StrCat("no reason class for: ", status.ToString()));
}

namespace {

std::string ConfigFile(const std::string& ns, const std::string& key,
                       int64_t revision, const std::string& value,
                       bool absent = false,
                       const std::string& content_type = "text/plain") {
  CacheEntry e;
  e.key = CacheKey::Config(ns, key);
  e.revision = revision;
  e.absent = absent;
  e.value = absent ? "" : value;
  e.content_type = absent ? "" : content_type;
  e.mtime_ms = kMtimeMs;
  e.written_ms = kWrittenMs;
  return file_cache::EncodeEntry(e);
}

// `text` with the first occurrence of `from` replaced by `to`.
std::string Replace(std::string text, const std::string& from,
                    const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) {
    fprintf(stderr, "vectors: \"%s\" not found in %s\n", from.c_str(),
            text.c_str());
    abort();
  }
  return text.replace(at, from.size(), to);
}

// `text` (a cache file) with its crc32 field off by one.
std::string BumpCrc(std::string text) {
  const std::string field = "\"crc32\":";
  const size_t at = text.find(field) + field.size();
  const size_t end = text.find(',', at);
  int64_t crc = 0;
  if (!absl::SimpleAtoi(text.substr(at, end - at), &crc)) abort();
  return text.replace(at, end - at, std::to_string(crc ^ 1));
}

JsonValue EntryJson(const CacheEntry& e) {
  JsonValue j = JsonValue::Object();
  j.Set("outcome", Str(e.absent ? "absent" : "value"));
  j.Set("revision", Int(e.revision));
  if (!e.absent) {
    j.Set("value_b64", Str(absl::Base64Escape(e.value)));
    j.Set("content_type", Str(e.content_type));
    j.Set("mtime_ms", Int(e.mtime_ms));
  }
  return j;
}

struct ConfigCase {
  std::string name;
  std::string description;
  std::string content;
  std::string ns = "shop";
  std::string key = "db.timeout";
};

std::vector<ConfigCase> ConfigCases() {
  const std::string good = ConfigFile("shop", "db.timeout", 42, "30s");
  const std::string crc = std::to_string(Crc32("30s"));  // above 2^31
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::string multibyte =
      "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80";
  std::vector<ConfigCase> cases = {
      {"utf8", "a UTF-8 value (its crc32 is above 2^31)", good},
      {"utf8_multibyte", "UTF-8 with 2, 3 and 4 byte characters, raw",
       ConfigFile("shop", "db.timeout", 43, multibyte)},
      {"utf8_escaped",
       "the same value with JSON \\u escapes (a surrogate pair for the "
       "emoji): the value bytes are the UTF-8 of the decoded string",
       Replace(ConfigFile("shop", "db.timeout", 43, multibyte),
               "\"value\":\"" + multibyte + "\"",
               "\"value\":\"h\\u00e9llo w\\u00f6rld \\u2713 "
               "\\ud83d\\ude00\"")},
      {"utf8_json_value", "a JSON document as the value (quotes escaped)",
       ConfigFile("shop", "db.timeout", 44,
                  "{\"pool\": 8, \"hosts\": [\"db-1\", \"db-2\"]}",
                  false, "application/json")},
      {"empty_value", "an empty value (crc32 0)",
       ConfigFile("shop", "db.timeout", 45, "")},
      {"base64_binary", "every byte 0..255, base64",
       ConfigFile("shop", "db.timeout", 46, all_bytes, false,
                  "application/octet-stream")},
      {"base64_nul", "a value with a NUL byte is written as base64",
       ConfigFile("shop", "db.timeout", 47, std::string("a\0b", 3))},
      {"tombstone", "deleted upstream at revision 50",
       ConfigFile("shop", "db.timeout", 50, "", true)},
      {"extra_fields", "unknown extra fields (any JSON type) are ignored",
       Replace(good, "\"format\":1,",
               "\"format\":1,\"future\":{\"a\":[1,2.5,null]},\"x\":null,"
               "\"y\":\"z\",")},
      {"field_order", "fields in another order, spaces and newlines",
       "{\n  \"value\": \"30s\", \"encoding\": \"utf8\", \"crc32\": " +
           crc +
           ",\n  \"revision\": 42, \"key\": \"db.timeout\", "
       "\"namespace\": \"shop\", \"type\": \"config\", \"format\": 1,\n  "
       "\"absent\": false, \"content_type\": \"text/plain\", \"mtime_ms\": "
       "1767225600000, \"written_ms\": 1767225600123\n}\n"},
      {"revision_above_2_53",
       "revision 9007199254740993 (2^53 + 1): read as a 64-bit integer, not "
       "a double",
       Replace(good, "\"revision\":42,", "\"revision\":9007199254740993,")},
      {"crc_mismatch", "the crc32 field is off by one bit",
       BumpCrc(good)},
      {"value_tampered", "the value changed, the crc32 did not",
       Replace(good, "\"value\":\"30s\"", "\"value\":\"31s\"")},
      {"unknown_format", "format 2",
       Replace(good, "\"format\":1", "\"format\":2")},
      {"format_missing", "no format field",
       Replace(good, "\"format\":1,", "")},
      {"truncated", "the first half of a good file",
       good.substr(0, good.size() / 2)},
      {"empty_file", "an empty file", ""},
      {"not_an_object", "a JSON array", "[1,2,3]\n"},
      {"garbage", "not JSON at all", "\x01\x02garbage\xff\n"},
      {"revision_string", "revision as a string",
       Replace(good, "\"revision\":42", "\"revision\":\"42\"")},
      {"revision_float", "revision as 42.0",
       Replace(good, "\"revision\":42", "\"revision\":42.0")},
      {"absent_string", "absent as a string",
       Replace(good, "\"absent\":false", "\"absent\":\"false\"")},
      {"crc_string", "crc32 as a string",
       Replace(good, "\"crc32\":" + crc, "\"crc32\":\"" + crc + "\"")},
      {"value_number", "value as a number",
       Replace(ConfigFile("shop", "db.timeout", 42, "30"),
               "\"value\":\"30\"", "\"value\":30")},
      {"unknown_encoding", "encoding hex",
       Replace(good, "\"encoding\":\"utf8\"", "\"encoding\":\"hex\"")},
      {"bad_base64", "encoding base64 with a value that is not base64",
       Replace(Replace(good, "\"encoding\":\"utf8\"",
                       "\"encoding\":\"base64\""),
               "\"value\":\"30s\"", "\"value\":\"!!!!\"")},
      {"unknown_type", "type secret",
       Replace(good, "\"type\":\"config\"", "\"type\":\"secret\"")},
      {"other_key", "a file of another key, read as shop/db.timeout",
       ConfigFile("shop", "db.pool", 42, "30s")},
      {"route_file", "a route file read as a config",
       RouteFile("db.timeout", 42, false, "{}")},
      {"invalid_namespace", "a namespace that is not a valid name",
       Replace(good, "\"namespace\":\"shop\"", "\"namespace\":\"../shop\"")},
  };
  return cases;
}

absl::Status ConfigVectors(Files* files) {
  TempDir dir;
  if (dir.path().empty()) return absl::InternalError("mkdtemp");
  file_cache::FileCacheReader reader(dir.path());
  JsonValue list = JsonValue::Array();
  for (const ConfigCase& c : ConfigCases()) {
    const std::string rel = "configs/" + c.name + ".json";
    (*files)[rel] = c.content;
    const CacheKey key = CacheKey::Config(c.ns, c.key);
    KESS_RETURN_IF_ERROR(WriteFile(
        dir.path() + "/" + file_cache::RelativePath(key), c.content));
    absl::StatusOr<CacheEntry> entry = reader.Read(key);
    JsonValue j = JsonValue::Object();
    j.Set("name", Str(c.name));
    j.Set("description", Str(c.description));
    j.Set("file", Str(rel));
    j.Set("namespace", Str(c.ns));
    j.Set("key", Str(c.key));
    if (entry.ok()) {
      j.Set("expect", EntryJson(*entry));
    } else {
      KESS_ASSIGN_OR_RETURN(std::string reason, ReasonClassOf(entry.status()));
      JsonValue e = JsonValue::Object();
      e.Set("outcome", Str("rejected"));
      e.Set("reason", Str(reason));
      j.Set("expect", std::move(e));
    }
    list.Push(std::move(j));
  }
  AddDocument("config_files.json", "cases", std::move(list),
              "one config file each, read as namespace/key: the value, a "
              "tombstone, or rejected with a reason class", files);
  return absl::OkStatus();
}

// One step of a last-good-value sequence: the file the agent leaves at the
// key's path (or none).
struct SeqStep {
  std::optional<std::string> content;  // nullopt: the file is removed
  std::string description;
};

// Makes `step` happen at `path` (the file written, or removed) and starts
// its vector `*sj`: the description and the file, kept in `files` as `rel`
// (null where there is none).
absl::Status ApplyStep(const SeqStep& step, const std::string& rel,
                       const std::string& path, Files* files, JsonValue* sj) {
  sj->Set("description", Str(step.description));
  if (!step.content) {
    sj->Set("file", JsonValue());
    unlink(path.c_str());
    return absl::OkStatus();
  }
  (*files)[rel] = *step.content;
  sj->Set("file", Str(rel));
  return WriteFile(path, *step.content);
}

absl::Status ConfigSequences(Files* files) {
  const std::string ns = "seq";
  const auto good = [&](const std::string& key, int64_t rev,
                        const std::string& v) {
    return ConfigFile(ns, key, rev, v);
  };
  const std::string garbled_note = "garbled (crc mismatch)";
  struct Seq {
    std::string name;
    std::string key;
    std::vector<SeqStep> steps;
  };
  std::vector<Seq> seqs = {
      {"good_garbled_good",
       "k1",
       {{good("k1", 5, "v5"), "revision 5"},
        {Replace(good("k1", 6, "v6"), "\"value\":\"v6\"", "\"value\":\"vX\""),
         garbled_note},
        {good("k1", 7, "v7"), "revision 7"},
        {std::string("{\"format\":1,\"type\":\"con"), "truncated"},
        {good("k1", 8, "v8"), "revision 8"}}},
      {"older_and_equal_revisions_ignored",
       "k2",
       {{good("k2", 10, "v10"), "revision 10"},
        {good("k2", 9, "v9"), "an older revision: ignored"},
        {good("k2", 10, "v10-other"),
         "the same revision with another value: ignored"},
        {good("k2", 11, "v11"), "revision 11"}}},
      {"missing_file_keeps_value",
       "k3",
       {{std::nullopt, "no file yet"},
        {good("k3", 3, "v3"), "revision 3"},
        {std::nullopt, "the file vanished: keep revision 3"},
        {good("k3", 4, "v4"), "revision 4"}}},
      {"garbled_first",
       "k4",
       {{std::string("not json"), "garbled before any good version"},
        {good("k4", 2, "v2"), "revision 2"}}},
      {"tombstone_then_recreated",
       "k5",
       {{good("k5", 20, "v20"), "revision 20"},
        {ConfigFile(ns, "k5", 21, "", true), "deleted at revision 21"},
        {Replace(good("k5", 22, "v22"), "\"format\":1", "\"format\":3"),
         "unknown format: keep the tombstone"},
        {good("k5", 23, "v23"), "created again at revision 23"}}},
  };

  JsonValue list = JsonValue::Array();
  for (const Seq& seq : seqs) {
    TempDir dir;
    if (dir.path().empty()) return absl::InternalError("mkdtemp");
    sdk::ConfigClient::Options options;
    options.cache_dir = dir.path();
    options.agent_http_address = "";
    options.watch_directories = false;
    options.poll_interval = absl::Hours(1);
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<sdk::ConfigClient> client,
                          sdk::ConfigClient::Create(options));
    std::vector<sdk::ConfigValue> delivered;
    const std::string path = dir.path() + "/configs/" + ns + "/" + seq.key +
                             ".json";
    KESS_RETURN_IF_ERROR(WriteFile(dir.path() + "/configs/" + ns + "/.keep",
                                   ""));
    KESS_ASSIGN_OR_RETURN(
        std::unique_ptr<sdk::ConfigClient::WatchHandle> watch,
        client->Watch(ns, seq.key, [&](const sdk::ConfigValue& v) {
          delivered.push_back(v);
        }));
    client->PollNow();
    JsonValue steps = JsonValue::Array();
    for (size_t i = 0; i < seq.steps.size(); ++i) {
      const SeqStep& step = seq.steps[i];
      JsonValue sj = JsonValue::Object();
      KESS_RETURN_IF_ERROR(ApplyStep(
          step, absl::StrCat("config_sequences/", seq.name, "/", i, ".json"),
          path, files, &sj));
      const size_t before = delivered.size();
      client->PollNow();
      // What the client holds: the entry (tombstones included) or nothing.
      absl::StatusOr<sdk::ConfigValue> got = client->Get(ns, seq.key);
      JsonValue held = JsonValue::Object();
      if (got.ok()) {
        CacheEntry e;
        e.revision = got->revision;
        e.value = got->value;
        e.content_type = got->content_type;
        e.mtime_ms = got->mtime_ms;
        held = EntryJson(e);
      } else if (absl::IsNotFound(got.status()) &&
                 absl::StrContains(got.status().message(), "was deleted")) {
        // The held version is a tombstone.
        const size_t at = got.status().message().rfind(' ');
        int64_t rev = 0;
        if (!absl::SimpleAtoi(got.status().message().substr(at + 1), &rev)) {
          return absl::InternalError("tombstone revision");
        }
        held.Set("outcome", Str("absent"));
        held.Set("revision", Int(rev));
      } else if (absl::IsNotFound(got.status())) {
        held.Set("outcome", Str("none"));
        held.Set("error", Str("not_found"));
      } else {
        held.Set("outcome", Str("none"));
        KESS_ASSIGN_OR_RETURN(std::string reason, ReasonClassOf(got.status()));
        held.Set("error", Str("rejected"));
        held.Set("reason", Str(reason));
      }
      sj.Set("held", std::move(held));
      JsonValue d = JsonValue::Array();
      for (size_t k = before; k < delivered.size(); ++k) {
        d.Push(Int(delivered[k].revision));
      }
      sj.Set("delivered", std::move(d));
      steps.Push(std::move(sj));
    }
    watch.reset();
    JsonValue sj = JsonValue::Object();
    sj.Set("name", Str(seq.name));
    sj.Set("namespace", Str(ns));
    sj.Set("key", Str(seq.key));
    sj.Set("steps", std::move(steps));
    list.Push(std::move(sj));
  }
  AddDocument("config_sequences.json", "sequences", std::move(list),
              "the last good value: one key's file replaced step by step; "
              "after each step what the reader holds and which revisions a "
              "watcher is told about", files);
  return absl::OkStatus();
}

// ---- route files ----

absl::Status RouteFileVectors(const std::vector<TableSpec>& tables,
                              Files* files) {
  const TableSpec& uniform = tables[0];
  RouteTable base;
  base.service = "conf-route";
  base.revision = 300;
  base.instances = uniform.instances;
  const std::string json = RouteTableToJson(base);
  const auto file = [&](const std::string& value) {
    return RouteFile("conf-route", 300, false, value);
  };
  struct Case {
    std::string name;
    std::string description;
    std::string content;
  };
  std::vector<Case> cases = {
      {"valid", "a valid table", file(json)},
      {"tombstone", "deleted upstream: a table with no instances",
       RouteFile("conf-route", 301, true, "")},
      {"crc_mismatch", "the file's crc32 does not match",
       BumpCrc(file(json))},
      {"not_json_table", "the value is not JSON", file("{\"format\":1,")},
      {"table_format_2", "the table's format is 2",
       file(Replace(json, "{\"format\":1", "{\"format\":2"))},
      {"weight_0", "an instance with weight 0",
       file(Replace(json, "\"weight\":100", "\"weight\":0"))},
      {"weight_10001", "an instance with weight 10001",
       file(Replace(json, "\"weight\":100", "\"weight\":10001"))},
      {"unknown_state", "an instance with state \"sleeping\"",
       file(Replace(json, "\"state\":\"healthy\"", "\"state\":\"sleeping\""))},
      {"duplicate_id", "two instances with the same id",
       file(Replace(json, "\"id\":\"u-2\"", "\"id\":\"u-1\""))},
      {"wrong_service", "a table of another service in this service's file",
       file(Replace(json, "\"service\":\"conf-route\"",
                    "\"service\":\"conf-other\""))},
      {"instances_missing", "no instances array",
       file("{\"format\":1,\"service\":\"conf-route\",\"revision\":300}")},
      {"extra_fields", "unknown fields in the table and its instances",
       file(Replace(Replace(json, "{\"format\":1,",
                            "{\"format\":1,\"zone_map\":{\"a\":1},"),
                    "\"weight\":100", "\"weight\":100,\"future\":[true]"))},
      {"empty", "an empty table",
       file("{\"format\":1,\"service\":\"conf-route\",\"revision\":300,"
            "\"instances\":[]}")},
  };
  JsonValue list = JsonValue::Array();
  for (const Case& c : cases) {
    const std::string rel = "route_files/" + c.name + ".json";
    (*files)[rel] = c.content;
    TempDir dir;
    if (dir.path().empty()) return absl::InternalError("mkdtemp");
    KESS_RETURN_IF_ERROR(
        WriteFile(dir.path() + "/routes/conf-route.json", c.content));
    sdk::Discovery::Options options;
    options.cache_dir = dir.path();
    options.agent_http_address = "";
    options.watch_directories = false;
    options.poll_interval = absl::Hours(1);
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<sdk::Discovery> discovery,
                          sdk::Discovery::Create(options));
    absl::StatusOr<std::shared_ptr<const RouteTable>> table =
        discovery->GetTable("conf-route");
    JsonValue j = JsonValue::Object();
    j.Set("name", Str(c.name));
    j.Set("description", Str(c.description));
    j.Set("file", Str(rel));
    j.Set("service", Str("conf-route"));
    JsonValue e = JsonValue::Object();
    if (table.ok()) {
      e.Set("outcome", Str("table"));
      e.Set("revision", Int((*table)->revision));
      JsonValue ids = JsonValue::Array();
      for (const RouteInstance& in : (*table)->instances) ids.Push(Str(in.id));
      e.Set("ids", std::move(ids));
    } else {
      // Discovery keeps no table: say why, from the file and the table.
      absl::StatusOr<CacheEntry> entry = file_cache::DecodeEntry(c.content);
      std::string reason;
      if (!entry.ok()) {
        reason = "garbled_file";
      } else {
        absl::StatusOr<RouteTable> t = RouteTableFromJson(entry->value);
        reason = t.ok() && t->service != "conf-route" ? "wrong_service"
                                                       : "invalid_table";
      }
      e.Set("outcome", Str("rejected"));
      e.Set("reason", Str(reason));
    }
    j.Set("expect", std::move(e));
    list.Push(std::move(j));
  }
  AddDocument("route_files.json", "cases", std::move(list),
              "one route file each, read as service conf-route: the table the "
              "client holds, or rejected (no table) with a reason class",
              files);
  return absl::OkStatus();
}

// The last good table: one service's route file replaced step by step.
absl::Status RouteSequences(const std::vector<TableSpec>& tables,
                            Files* files) {
  const std::string service = "conf-seq";
  const auto table = [&](int64_t revision, int first, int count) {
    RouteTable t;
    t.service = service;
    t.revision = revision;
    for (int i = first; i < first + count; ++i) {
      t.instances.push_back(
          Instance(absl::StrFormat("seq-%02d", i), "dc1", 100));
    }
    return RouteFile(service, revision, false, RouteTableToJson(t));
  };
  RouteTable invalid;
  invalid.service = service;
  invalid.revision = 12;
  invalid.instances.push_back(Instance("seq-01", "dc1", 100));
  const std::string invalid_json = Replace(RouteTableToJson(invalid),
                                           "\"weight\":100", "\"weight\":0");
  const std::vector<SeqStep> steps = {
      {std::nullopt, "no file yet"},
      {table(10, 1, 3), "revision 10: seq-01..03"},
      {BumpCrc(table(11, 1, 4)), "garbled (crc mismatch): keep revision 10"},
      {RouteFile(service, 12, false, invalid_json),
       "revision 12 holds an invalid table (weight 0): keep revision 10"},
      {table(9, 5, 2), "an older revision: ignored"},
      {table(13, 2, 4), "revision 13: seq-02..05"},
      {std::nullopt, "the file vanished: keep revision 13"},
      {RouteFile(service, 14, true, ""), "deleted at revision 14: no instances"},
      {table(15, 1, 1), "created again at revision 15"},
  };
  TempDir dir;
  if (dir.path().empty()) return absl::InternalError("mkdtemp");
  sdk::Discovery::Options options;
  options.cache_dir = dir.path();
  options.agent_http_address = "";
  options.watch_directories = false;
  options.poll_interval = absl::Hours(1);
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<sdk::Discovery> discovery,
                        sdk::Discovery::Create(options));
  std::vector<int64_t> delivered;
  KESS_ASSIGN_OR_RETURN(
      std::unique_ptr<sdk::Discovery::WatchHandle> watch,
      discovery->Watch(service, [&](std::shared_ptr<const RouteTable> t) {
        delivered.push_back(t->revision);
      }));
  discovery->PollNow();
  const std::string path = dir.path() + "/routes/" + service + ".json";
  JsonValue list = JsonValue::Array();
  for (size_t i = 0; i < steps.size(); ++i) {
    const SeqStep& step = steps[i];
    JsonValue sj = JsonValue::Object();
    KESS_RETURN_IF_ERROR(ApplyStep(
        step, absl::StrCat("route_sequences/", service, "/", i, ".json"), path,
        files, &sj));
    const size_t before = delivered.size();
    discovery->PollNow();
    absl::StatusOr<std::shared_ptr<const RouteTable>> held =
        discovery->GetTable(service);
    JsonValue hj = JsonValue::Object();
    if (held.ok()) {
      hj.Set("outcome", Str("table"));
      hj.Set("revision", Int((*held)->revision));
      JsonValue ids = JsonValue::Array();
      for (const RouteInstance& in : (*held)->instances) ids.Push(Str(in.id));
      hj.Set("ids", std::move(ids));
    } else {
      hj.Set("outcome", Str("none"));
    }
    sj.Set("held", std::move(hj));
    JsonValue d = JsonValue::Array();
    for (size_t k = before; k < delivered.size(); ++k) d.Push(Int(delivered[k]));
    sj.Set("delivered", std::move(d));
    list.Push(std::move(sj));
  }
  watch.reset();
  JsonValue seq = JsonValue::Object();
  seq.Set("name", Str("route_last_good_table"));
  seq.Set("service", Str(service));
  seq.Set("steps", std::move(list));
  JsonValue sequences = JsonValue::Array();
  sequences.Push(std::move(seq));
  AddDocument("route_sequences.json", "sequences", std::move(sequences),
              "the last good route table: one service's file replaced step "
              "by step; after each step the table held and the revisions a "
              "watcher is told about", files);
  return absl::OkStatus();
}

void TableIndex(const std::vector<TableSpec>& tables, Files* files) {
  JsonValue doc = JsonValue::Object();
  doc.Set("description",
          Str("the route tables of the pick vectors, as the agent writes them "
          "under cache/routes/<service>.json"));
  JsonValue list = JsonValue::Array();
  for (const TableSpec& t : tables) {
    (*files)["cache/routes/" + t.service + ".json"] = RouteFile(t);
    JsonValue j = JsonValue::Object();
    j.Set("service", Str(t.service));
    j.Set("file", Str("cache/routes/" + t.service + ".json"));
    j.Set("revision", Int(t.revision));
    j.Set("tombstone", JsonValue::Bool(t.tombstone));
    j.Set("instances", Int(static_cast<int64_t>(t.instances.size())));
    j.Set("description", Str(t.description));
    list.Push(std::move(j));
  }
  doc.Set("tables", std::move(list));
  (*files)["tables.json"] = doc.Print();
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> GenerateVectors() {
  Files files;
  const std::vector<TableSpec> tables = Tables();
  TableIndex(tables, &files);
  PickVectors(tables, &files);
  FailoverVectors(tables, &files);
  HashVectors(&files);
  KESS_RETURN_IF_ERROR(ConfigVectors(&files));
  KESS_RETURN_IF_ERROR(ConfigSequences(&files));
  KESS_RETURN_IF_ERROR(RouteFileVectors(tables, &files));
  KESS_RETURN_IF_ERROR(RouteSequences(tables, &files));
  std::string manifest;
  for (const auto& [path, content] : files) absl::StrAppend(&manifest, path, "\n");
  files["MANIFEST"] = manifest;
  return files;
}

}  // namespace conformance
}  // namespace clients
}  // namespace kess
