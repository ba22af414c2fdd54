#include "agent/distributor_order.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/backoff.h"
#include "gtest/gtest.h"

namespace kess {
namespace agent {
namespace {

std::vector<std::string> Pool(int n) {
  std::vector<std::string> pool;
  for (int i = 0; i < n; ++i)
    pool.push_back(absl::StrCat("10.0.0.", i, ":7000"));
  return pool;
}

TEST(DistributorOrderTest, StableAndComplete) {
  auto pool = Pool(7);
  auto a = DistributorOrder("host-1", pool);
  ASSERT_EQ(a.size(), 7u);
  std::vector<std::string> reversed(pool.rbegin(), pool.rend());
  EXPECT_EQ(DistributorOrder("host-1", reversed), a);  // list order ignored
  EXPECT_EQ(StableHash("abc"), StableHash("abc"));
  auto dup = pool;
  dup.push_back(pool[0]);
  EXPECT_EQ(DistributorOrder("host-1", dup), a);
}

TEST(DistributorOrderTest, HostsSpreadEvenly) {
  auto pool = Pool(7);
  std::map<std::string, int> first, second;
  const int kHosts = 14000;
  for (int h = 0; h < kHosts; ++h) {
    auto order = DistributorOrder(absl::StrCat("host-", h), pool);
    ++first[order[0]];
    ++second[order[1]];
  }
  ASSERT_EQ(first.size(), 7u);
  for (const auto& [d, n] : first) {
    EXPECT_NEAR(n, kHosts / 7, kHosts / 7 * 0.1) << d;
  }
  for (const auto& [d, n] : second) {
    EXPECT_NEAR(n, kHosts / 7, kHosts / 7 * 0.1) << d;
  }
}

TEST(DistributorOrderTest, RemovingOneMovesOnlyItsHostsEvenly) {
  auto pool = Pool(7);
  auto smaller = pool;
  smaller.erase(smaller.begin() + 3);
  std::map<std::string, int> moved_to;
  for (int h = 0; h < 7000; ++h) {
    std::string host = absl::StrCat("host-", h);
    auto before = DistributorOrder(host, pool);
    auto after = DistributorOrder(host, smaller);
    if (before[0] != pool[3]) {
      EXPECT_EQ(after[0], before[0]) << host;
    } else {
      EXPECT_EQ(after[0], before[1]) << host;  // the host's own next choice
      ++moved_to[after[0]];
    }
  }
  EXPECT_EQ(moved_to.size(), 6u);  // spread over all the others
}

TEST(BackoffTest, GrowsWithJitterAndResets) {
  Backoff backoff(absl::Milliseconds(100), absl::Seconds(1), 42);
  absl::Duration d0 = backoff.NextDelay();
  EXPECT_GE(d0, absl::Milliseconds(50));
  EXPECT_LE(d0, absl::Milliseconds(100));
  absl::Duration d1 = backoff.NextDelay();
  EXPECT_GE(d1, absl::Milliseconds(100));
  EXPECT_LE(d1, absl::Milliseconds(200));
  for (int i = 0; i < 20; ++i) {
    absl::Duration d = backoff.NextDelay();
    EXPECT_LE(d, absl::Seconds(1));
  }
  EXPECT_GE(backoff.NextDelay(), absl::Milliseconds(500));
  backoff.Reset();
  EXPECT_LE(backoff.NextDelay(), absl::Milliseconds(100));
  // Two hosts with different seeds do not wait the same.
  Backoff a(absl::Seconds(1), absl::Seconds(60), 1);
  Backoff b(absl::Seconds(1), absl::Seconds(60), 2);
  int same = 0;
  for (int i = 0; i < 10; ++i) same += a.NextDelay() == b.NextDelay();
  EXPECT_LT(same, 3);
  for (int i = 0; i < 100; ++i) {
    absl::Duration j = a.Jitter(absl::Seconds(1), 0.2);
    EXPECT_GE(j, absl::Milliseconds(800));
    EXPECT_LE(j, absl::Milliseconds(1200));
  }
}

TEST(BackoffTest, SubMillisecondDurationsRoundUp) {
  Backoff backoff(absl::Microseconds(500), absl::Milliseconds(10), 7);
  EXPECT_LE(backoff.NextDelay(), absl::Milliseconds(1));
  absl::Duration second = backoff.NextDelay();  // cap 2 ms: in [1, 2] ms
  EXPECT_GE(second, absl::Milliseconds(1));
  EXPECT_LE(second, absl::Milliseconds(2));
  for (int i = 0; i < 100; ++i) {
    EXPECT_GE(backoff.Jitter(absl::Microseconds(1), 0.5),
              absl::Milliseconds(1));
  }
}

}  // namespace
}  // namespace agent
}  // namespace kess
