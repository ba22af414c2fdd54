// The load balancers, with statistics: picks follow the weights
// (chi-square goodness of fit, thresholds at p = 1e-6 and fixed seeds so
// they do not flake, plus a check that the same test does reject a wrong
// distribution), HRW remaps only the share of an added or removed
// instance, local_first falls over exactly below its minimum, and the
// healthy -> suspect -> least recently ejected tiers.
#include "sdk/load_balancer.h"

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sdk/failure_tracker.h"
#include "sdk/fast_random.h"
#include "sdk/policy/hrw.h"
#include "sdk/stable_hash.h"
#include "sdk/testing/route_tables.h"

namespace kess {
namespace sdk {
namespace {

using policy::HrwNegLog2;
using testing::ChiSquare;
using testing::ChiSquarePValue;
using testing::Instance;
using testing::Snapshot;

constexpr double kTinyP = 1e-6;  // a correct balancer fails 1 run in 10^6
constexpr int64_t kNow = 1000000;

std::unique_ptr<LoadBalancer> Make(const std::string& name,
                                   const LoadBalancerOptions& options = {}) {
  auto lb = LoadBalancerRegistry::Create(name, options);
  EXPECT_TRUE(lb.ok()) << lb.status();
  return std::move(lb).value();
}

std::string Pick(const LoadBalancer& lb, const RouteSnapshot& snapshot,
                 absl::string_view key, FastRandom* random = nullptr,
                 const Availability* availability = nullptr) {
  auto picked = SelectInstance(lb, snapshot, availability, key, kNow, random);
  EXPECT_TRUE(picked.ok()) << picked.status();
  return picked.ok() ? (*picked)->id : "";
}

std::map<std::string, int> CountPicks(
    const LoadBalancer& lb, const RouteSnapshot& snapshot, int n, uint64_t seed,
    const Availability* availability = nullptr) {
  FastRandom random(seed);
  std::map<std::string, int> counts;
  for (int i = 0; i < n; ++i) {
    ++counts[Pick(lb, snapshot, "", &random, availability)];
  }
  return counts;
}

std::string Key(int i) { return absl::StrCat("key-", i); }

std::vector<RouteInstance> Numbered(int n, int weight = 100,
                                    const std::string& prefix = "inst-") {
  std::vector<RouteInstance> instances;
  for (int i = 0; i < n; ++i) {
    instances.push_back(
        Instance(absl::StrCat(prefix, i < 10 ? "0" : "", i), "dc1", weight));
  }
  return instances;
}

std::map<std::string, double> WeightShares(const RouteSnapshot& snapshot) {
  std::map<std::string, double> shares;
  for (const RouteInstance& i : snapshot.table().instances) {
    shares[i.id] = i.weight;
  }
  return shares;
}

// Availability with `entries` set for some snapshot indices.
std::shared_ptr<const Availability> MakeAvailability(
    const RouteSnapshot& snapshot,
    const std::map<uint32_t, Availability::Entry>& entries) {
  std::vector<Availability::Entry> all(snapshot.size());
  for (const auto& [index, entry] : entries) all[index] = entry;
  return std::make_shared<const Availability>(std::move(all), 0.1);
}
Availability::Entry Ejected(int64_t ejected_ms = kNow - 10) {
  return {ejected_ms, kNow + 1000, kNow + 2000};
}
// Half way through the ramp: 0.1 + 0.9 * 0.5 = 0.55 of its weight.
Availability::Entry HalfRecovered() {
  return {kNow - 1500, kNow - 500, kNow + 500};
}

TEST(StableHashTest, FixedValuesEveryProcessAgreesOn) {
  // Computed by an independent Python implementation of the documented
  // formulas (FNV-1a-64 + splitmix64 finalizer, MurmurHash3 fmix64).
  EXPECT_EQ(StableHash(""), 0x552d3fb62b3c344fULL);
  EXPECT_EQ(StableHash("checkout-7f3a"), 0x216da7a71b783d9cULL);
  EXPECT_EQ(HashPair(StableHash("user-42"), StableHash("checkout-7f3a")),
            0xcb62cdf36d13eb96ULL);
}

TEST(WeightedRandomTest, PicksMatchTheWeights) {
  std::vector<RouteInstance> instances;
  for (int i = 0; i < 20; ++i) {
    instances.push_back(Instance(absl::StrCat("w", i), "dc1", 50 * (i + 1)));
  }
  auto snapshot = Snapshot(instances);
  auto lb = Make("weighted_random");
  const auto counts = CountPicks(*lb, *snapshot, 400000, /*seed=*/42);
  const double stat = ChiSquare(counts, WeightShares(*snapshot));
  EXPECT_GT(ChiSquarePValue(stat, 19), kTinyP) << "chi2 " << stat;
  // The same test does tell a wrong distribution apart (uniform).
  std::map<std::string, double> uniform;
  for (const auto& i : instances) uniform[i.id] = 1;
  EXPECT_LT(ChiSquarePValue(ChiSquare(counts, uniform), 19), kTinyP);
}

TEST(WeightedRandomTest, ExtremeWeightsAndOddSizes) {
  // The alias table with weights 1..10000 side by side, and group sizes
  // that are not powers of two. 3,000,000 picks keep every expected count
  // at 27 or more, as the chi-square approximation wants.
  for (int n : {1, 2, 3, 7, 33}) {
    std::vector<RouteInstance> instances;
    for (int i = 0; i < n; ++i) {
      instances.push_back(Instance(absl::StrCat("x", i), "dc1",
                                   i % 3 == 0 ? 10000 : (i % 3 == 1 ? 1 : 77)));
    }
    auto snapshot = Snapshot(instances);
    const auto counts =
        CountPicks(*Make("weighted_random"), *snapshot, 3000000, 100 + n);
    if (n == 1) {
      EXPECT_EQ(counts.at("x0"), 3000000);
      continue;
    }
    const double stat = ChiSquare(counts, WeightShares(*snapshot));
    EXPECT_GT(ChiSquarePValue(stat, n - 1), kTinyP) << n << " chi2 " << stat;
  }
}

TEST(WeightedRandomTest, SkipsEjectedAndLowersRecoveringWeight) {
  auto snapshot = Snapshot(Numbered(5));
  auto availability =
      MakeAvailability(*snapshot, {{0, Ejected()}, {1, HalfRecovered()}});
  ASSERT_DOUBLE_EQ(availability->Factor(1, kNow), 0.55);
  auto lb = Make("weighted_random");
  auto counts = CountPicks(*lb, *snapshot, 200000, 7, availability.get());
  EXPECT_EQ(counts.count("inst-00"), 0u);
  std::map<std::string, double> expected = {
      {"inst-01", 0.55}, {"inst-02", 1}, {"inst-03", 1}, {"inst-04", 1}};
  EXPECT_GT(ChiSquarePValue(ChiSquare(counts, expected), 3), kTinyP);
}

TEST(WeightedRandomTest, ExactPathWhenMostWeightIsEjected) {
  // 99 % of the weight is ejected: rejection sampling gives up, the exact
  // pass still picks by weight among the rest.
  std::vector<RouteInstance> instances = {Instance("big", "dc1", 9900),
                                          Instance("a", "dc1", 30),
                                          Instance("b", "dc1", 70)};
  auto snapshot = Snapshot(instances);
  auto availability =
      MakeAvailability(*snapshot, {{*snapshot->IndexOf("big"), Ejected()}});
  auto counts = CountPicks(*Make("weighted_random"), *snapshot, 100000, 3,
                           availability.get());
  EXPECT_EQ(counts.count("big"), 0u);
  EXPECT_GT(ChiSquarePValue(ChiSquare(counts, {{"a", 30}, {"b", 70}}), 1),
            kTinyP);
}

TEST(HrwTest, NegLog2IsAccurate) {
  FastRandom random(1);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t h = i < 4 ? (i == 0 ? 0 : ~0ULL >> i) : random.Next();
    const double u = (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
    ASSERT_NEAR(HrwNegLog2(h), -std::log2(u), 1e-10) << h;
  }
}

TEST(HrwTest, SameKeySameInstanceWhateverTheTableOrder) {
  auto instances = Numbered(30);
  auto a = Snapshot(instances);
  std::reverse(instances.begin(), instances.end());
  auto b = Snapshot(instances);
  auto lb = Make("hrw");
  std::set<std::string> used;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = Pick(*lb, *a, Key(i));
    ASSERT_EQ(id, Pick(*lb, *b, Key(i)));
    ASSERT_EQ(id, Pick(*lb, *a, Key(i)));
    used.insert(id);
  }
  EXPECT_EQ(used.size(), 30u);
}

TEST(HrwTest, KeysSpreadEvenlyAndByWeight) {
  auto lb = Make("hrw");
  for (bool weighted : {false, true}) {
    std::vector<RouteInstance> instances;
    for (int i = 0; i < 20; ++i) {
      instances.push_back(Instance(absl::StrCat("h", i), "dc1",
                                   weighted ? 100 * (i % 5 + 1) : 100));
    }
    auto snapshot = Snapshot(instances);
    std::map<std::string, int> counts;
    for (int i = 0; i < 200000; ++i) ++counts[Pick(*lb, *snapshot, Key(i))];
    const double stat = ChiSquare(counts, WeightShares(*snapshot));
    EXPECT_GT(ChiSquarePValue(stat, 19), kTinyP)
        << (weighted ? "weighted" : "uniform") << " chi2 " << stat;
  }
}

TEST(HrwTest, AddingAnInstanceMovesOnlyKeysToIt) {
  auto lb = Make("hrw");
  for (bool weighted : {false, true}) {
    std::vector<RouteInstance> instances = Numbered(20);
    if (weighted) {
      for (size_t i = 0; i < instances.size(); ++i) {
        instances[i].weight = 50 + 25 * (i % 4);  // 50..125
      }
    }
    auto before = Snapshot(instances);
    const int added_weight = 100;
    instances.push_back(Instance("inst-new", "dc1", added_weight));
    auto after = Snapshot(instances);
    double total = 0;
    for (const auto& i : instances) total += i.weight;
    const double expected = added_weight / total;  // 1/21 when uniform

    constexpr int kKeys = 100000;
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
      const std::string old_id = Pick(*lb, *before, Key(i));
      const std::string new_id = Pick(*lb, *after, Key(i));
      if (old_id == new_id) continue;
      ++moved;
      ASSERT_EQ(new_id, "inst-new") << Key(i) << " moved between old ones";
    }
    const double fraction = static_cast<double>(moved) / kKeys;
    EXPECT_GT(fraction, expected * 0.8) << weighted;
    EXPECT_LT(fraction, expected * 1.2) << weighted;
  }
}

TEST(HrwTest, RemovingAnInstanceMovesOnlyItsKeys) {
  auto lb = Make("hrw");
  std::vector<RouteInstance> instances = Numbered(21);
  auto before = Snapshot(instances);
  instances.erase(instances.begin() + 7);  // inst-07
  auto after = Snapshot(instances);
  int moved = 0;
  std::map<std::string, int> moved_to;
  for (int i = 0; i < 100000; ++i) {
    const std::string old_id = Pick(*lb, *before, Key(i));
    const std::string new_id = Pick(*lb, *after, Key(i));
    if (old_id != "inst-07") {
      ASSERT_EQ(old_id, new_id) << Key(i);
    } else {
      ++moved;
      ++moved_to[new_id];
    }
  }
  EXPECT_GT(moved, 100000 / 21 * 0.8);
  EXPECT_LT(moved, 100000 / 21 * 1.2);
  EXPECT_EQ(moved_to.size(), 20u);  // spread over all the others
}

TEST(HrwTest, EjectedInstanceLosesOnlyItsKeys) {
  auto lb = Make("hrw");
  auto snapshot = Snapshot(Numbered(10));
  auto availability =
      MakeAvailability(*snapshot, {{*snapshot->IndexOf("inst-03"), Ejected()}});
  for (int i = 0; i < 20000; ++i) {
    const std::string normal = Pick(*lb, *snapshot, Key(i));
    const std::string failover =
        Pick(*lb, *snapshot, Key(i), nullptr, availability.get());
    ASSERT_NE(failover, "inst-03");
    if (normal != "inst-03") {
      ASSERT_EQ(normal, failover) << Key(i);
    }
  }
}

TEST(HrwTest, WeightedPathAgreesWithTheUniformFastPath) {
  auto lb = Make("hrw");
  auto snapshot = Snapshot(Numbered(50));
  // An availability object with nobody ejected forces the weighted path.
  auto all_up = MakeAvailability(*snapshot, {});
  SelectContext fast, slow;
  fast.state = slow.state = InstanceState::kHealthy;
  fast.group = slow.group = &snapshot->groups(InstanceState::kHealthy).all;
  slow.availability = all_up.get();
  for (int i = 0; i < 20000; ++i) {
    const std::string key = Key(i);
    fast.key = slow.key = key;
    ASSERT_EQ((*lb->Select(*snapshot, fast))->id,
              (*lb->Select(*snapshot, slow))->id);
  }
}

TEST(HrwTest, SkippingTheLogarithmNeverChangesTheResult) {
  // The definition, computed naively: the smallest
  // HrwNegLog2(HashPair(key, id)) / weight.
  std::vector<RouteInstance> instances;
  for (int i = 0; i < 200; ++i) {
    instances.push_back(
        Instance(absl::StrCat("m", i), "dc1", 1 + (i * 7919) % 10000));
  }
  auto snapshot = Snapshot(instances);
  auto lb = Make("hrw");
  for (int k = 0; k < 5000; ++k) {
    const std::string key = Key(k);
    const RouteInstance* best = nullptr;
    double best_score = 0;
    for (const RouteInstance& i : snapshot->table().instances) {
      const double score =
          HrwNegLog2(HashPair(StableHash(key), StableHash(i.id))) / i.weight;
      if (best == nullptr || score < best_score) {
        best = &i;
        best_score = score;
      }
    }
    ASSERT_EQ(Pick(*lb, *snapshot, key), best->id) << key;
  }
}

TEST(HrwTest, EmptyKeyPicksAtRandomByWeight) {
  std::vector<RouteInstance> instances = {Instance("a", "dc1", 100),
                                          Instance("b", "dc1", 300),
                                          Instance("c", "dc1", 600)};
  auto snapshot = Snapshot(instances);
  auto counts = CountPicks(*Make("hrw"), *snapshot, 100000, 11);
  EXPECT_GT(ChiSquarePValue(ChiSquare(counts, WeightShares(*snapshot)), 2),
            kTinyP);
}

// dc1 (local) has `local` healthy instances, dc2 has 10.
std::vector<RouteInstance> TwoDatacenters(int local) {
  std::vector<RouteInstance> instances;
  for (int i = 0; i < local; ++i) {
    instances.push_back(Instance(absl::StrCat("local-", i), "dc1"));
  }
  for (int i = 0; i < 10; ++i) {
    instances.push_back(Instance(absl::StrCat("remote-", i), "dc2"));
  }
  return instances;
}

int CountLocal(const std::map<std::string, int>& counts) {
  int local = 0;
  for (const auto& [id, n] : counts) {
    if (absl::StartsWith(id, "local-")) local += n;
  }
  return local;
}

TEST(LocalFirstTest, FallsOverExactlyWhenLocalHealthyBelowMinimum) {
  LoadBalancerOptions options;
  options.local_datacenter = "dc1";
  options.min_local_healthy = 3;
  auto lb = Make("local_first", options);
  constexpr int kPicks = 20000;
  for (int local = 0; local <= 5; ++local) {
    auto snapshot = Snapshot(TwoDatacenters(local));
    auto counts = CountPicks(*lb, *snapshot, kPicks, 100 + local);
    if (local >= 3) {
      EXPECT_EQ(CountLocal(counts), kPicks) << local;
    } else {
      // All datacenters, by weight: local/(local+10) of the picks local.
      std::map<std::string, double> expected;
      for (const auto& i : snapshot->table().instances) expected[i.id] = 1;
      EXPECT_GT(ChiSquarePValue(ChiSquare(counts, expected), local + 9), kTinyP)
          << local;
    }
  }
}

TEST(LocalFirstTest, SuspectAndEjectedLocalInstancesDoNotCount) {
  LoadBalancerOptions options;
  options.local_datacenter = "dc1";
  options.min_local_healthy = 3;
  auto lb = Make("local_first", options);
  auto instances = TwoDatacenters(3);
  auto snapshot = Snapshot(instances);
  EXPECT_EQ(CountLocal(CountPicks(*lb, *snapshot, 1000, 1)), 1000);

  // One of the three ejected: 2 < 3, fall over.
  auto availability =
      MakeAvailability(*snapshot, {{*snapshot->IndexOf("local-0"), Ejected()}});
  auto counts = CountPicks(*lb, *snapshot, 10000, 2, availability.get());
  EXPECT_EQ(counts.count("local-0"), 0u);
  EXPECT_GT(CountLocal(counts), 0);
  EXPECT_LT(CountLocal(counts), 10000 / 2);

  // One of the three suspect: 2 healthy < 3, fall over.
  instances[0].state = InstanceState::kSuspect;
  auto suspect = Snapshot(instances);
  counts = CountPicks(*lb, *suspect, 10000, 3);
  EXPECT_EQ(counts.count("local-0"), 0u);
  EXPECT_LT(CountLocal(counts), 10000 / 2);
}

TEST(LocalFirstTest, WrapsHrwForKeyAffinity) {
  LoadBalancerOptions options;
  options.local_datacenter = "dc1";
  options.min_local_healthy = 2;
  options.local_first_inner = "hrw";
  auto lb = Make("local_first", options);
  auto snapshot = Snapshot(TwoDatacenters(4));
  std::set<std::string> used;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = Pick(*lb, *snapshot, Key(i));
    EXPECT_TRUE(absl::StartsWith(id, "local-")) << id;
    EXPECT_EQ(id, Pick(*lb, *snapshot, Key(i)));
    used.insert(id);
  }
  EXPECT_EQ(used.size(), 4u);
}

TEST(SelectInstanceTest, HealthyThenSuspectThenLeastRecentlyEjected) {
  auto lb = Make("weighted_random");
  std::vector<RouteInstance> instances = {
      Instance("h1"), Instance("h2"),
      Instance("s1", "dc1", 100, InstanceState::kSuspect),
      Instance("d1", "dc1", 100, InstanceState::kDisabled)};
  auto snapshot = Snapshot(instances);
  auto counts = CountPicks(*lb, *snapshot, 2000, 5);
  EXPECT_EQ(counts["h1"] + counts["h2"], 2000);

  // Both healthy ejected: the suspect one.
  const uint32_t h1 = *snapshot->IndexOf("h1"), h2 = *snapshot->IndexOf("h2"),
                 s1 = *snapshot->IndexOf("s1");
  auto healthy_out =
      MakeAvailability(*snapshot, {{h1, Ejected()}, {h2, Ejected()}});
  EXPECT_EQ(CountPicks(*lb, *snapshot, 500, 6, healthy_out.get())["s1"], 500);

  // Everything ejected: the least recently ejected, never "no instance".
  auto all_out = MakeAvailability(*snapshot, {{h1, Ejected(kNow - 5)},
                                              {h2, Ejected(kNow - 50)},
                                              {s1, Ejected(kNow - 500)}});
  EXPECT_EQ(Pick(*lb, *snapshot, "", nullptr, all_out.get()), "h2");

  // Only suspect and disabled instances: the suspect one.
  auto only_suspect = Snapshot({instances[2], instances[3]});
  EXPECT_EQ(Pick(*lb, *only_suspect, ""), "s1");

  // Only disabled instances (or none): NotFound.
  for (auto table : {Snapshot({instances[3]}), Snapshot({})}) {
    auto picked = SelectInstance(*lb, *table, nullptr, "", kNow);
    EXPECT_TRUE(absl::IsNotFound(picked.status())) << picked.status();
  }
}

TEST(RegistryTest, BuiltInsCustomStrategiesAndErrors) {
  auto names = LoadBalancerRegistry::Names();
  for (const char* name : {"hrw", "local_first", "weighted_random"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end());
  }
  auto unknown = LoadBalancerRegistry::Create("round_robin");
  EXPECT_TRUE(absl::IsNotFound(unknown.status()));
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "hrw"));

  // A user strategy: always the first candidate.
  class First : public LoadBalancer {
   public:
    absl::StatusOr<const RouteInstance*> Select(
        const RouteSnapshot& snapshot,
        const SelectContext& ctx) const override {
      for (uint32_t index : ctx.group->members) {
        if (ctx.Factor(index) > 0) return &snapshot.instance(index);
      }
      return absl::NotFoundError("");
    }
  };
  ASSERT_TRUE(LoadBalancerRegistry::Register("first", [](const auto&) {
                return absl::StatusOr<std::unique_ptr<LoadBalancer>>(
                    std::make_unique<First>());
              }).ok());
  EXPECT_TRUE(
      absl::IsAlreadyExists(LoadBalancerRegistry::Register("hrw", nullptr)));
  auto first = Make("first");
  auto snapshot = Snapshot(Numbered(3));
  EXPECT_EQ(Pick(*first, *snapshot, ""), "inst-00");
  // local_first can wrap it.
  LoadBalancerOptions options;
  options.local_datacenter = "dc1";
  options.local_first_inner = "first";
  EXPECT_EQ(Pick(*Make("local_first", options), *snapshot, ""), "inst-00");
  options.local_first_inner = "nope";
  EXPECT_FALSE(LoadBalancerRegistry::Create("local_first", options).ok());
}

}  // namespace
}  // namespace sdk
}  // namespace kess
