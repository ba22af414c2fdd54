#include "tests/faults/dc_invariants.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/cluster/dc_snapshot.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace testing {
namespace {

constexpr size_t kKeptViolations = 20;

}  // namespace

struct DcRevisionMonitor::Dc {
  std::string name;
  std::unique_ptr<zk::ZkClient> zk;  // null: could not connect
  zk::Layout layout;
  std::atomic<int64_t> highest{-1};
};

DcRevisionMonitor::DcRevisionMonitor(MultiDcCluster* dcs, ConfigKeys keys,
                                     absl::Duration period)
    : keys_(std::move(keys)), period_(period) {
  auto add = [&](std::string name,
                 absl::StatusOr<std::unique_ptr<zk::ZkClient>> zk) {
    auto dc = std::make_unique<Dc>();
    dc->name = std::move(name);
    dc->layout = dcs->layout();
    if (zk.ok()) {
      dc->zk = std::move(zk).value();
    } else {
      Violation(absl::StrCat(
          dc->name, ": cannot read its ZooKeeper: ", zk.status().ToString()));
    }
    dcs_.push_back(std::move(dc));
  };
  add("dc1", dcs->ConnectMainReader());
  for (int d = 0; d < dcs->slave_dc_count(); ++d) {
    add(MultiDcCluster::SlaveDcName(d), dcs->ConnectSlaveReader(d));
  }
  for (const auto& dc : dcs_) {
    if (dc->zk != nullptr)
      threads_.emplace_back([this, p = dc.get()] { Run(p); });
  }
}

DcRevisionMonitor::~DcRevisionMonitor() { Stop(); }

void DcRevisionMonitor::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void DcRevisionMonitor::Violation(std::string what) {
  ++violation_count_;
  absl::MutexLock lock(&mu_);
  if (violations_.size() < kKeptViolations) {
    violations_.push_back(std::move(what));
  }
}

std::vector<std::string> DcRevisionMonitor::violations() const {
  absl::MutexLock lock(&mu_);
  return violations_;
}

int64_t DcRevisionMonitor::HighestRevision(const std::string& name) const {
  for (const auto& dc : dcs_) {
    if (dc->name == name) return dc->highest;
  }
  return -1;
}

void DcRevisionMonitor::AddTo(InvariantResult* result) const {
  result->dc_samples_checked += samples_;
  int64_t listed = 0;
  for (const std::string& v : violations()) {
    result->AddViolation(absl::StrCat("DC monitor: ", v));
    ++listed;
  }
  // Only the first few lines are kept; count the rest too.
  for (; listed < violation_count_; ++listed) ++result->violation_count;
}

void DcRevisionMonitor::Run(Dc* dc) {
  // One pipelined batch per sample: /kess/revision, then every key's record.
  std::vector<zk::GetRequest> requests;
  std::vector<std::string> names;  // "ns/key", per record request
  requests.push_back({dc->layout.RevisionPath(), nullptr});
  for (const auto& [ns, key] : keys_) {
    absl::StatusOr<std::string> path = dc->layout.ConfigPath(ns, key);
    if (!path.ok()) {
      Violation(absl::StrCat(dc->name, ": bad key ", ns, "/", key));
      continue;
    }
    requests.push_back({*path, nullptr});
    names.push_back(absl::StrCat(ns, "/", key));
  }
  int64_t highest = 0;
  std::map<std::string, int64_t> records;  // "ns/key" -> highest revision
  const absl::Time end = absl::Now() + kMaxDuration;
  for (int64_t i = 0; i < kMaxSamples && !stop_ && absl::Now() < end; ++i) {
    std::vector<absl::StatusOr<zk::GetResult>> got = dc->zk->GetMany(requests);
    bool answered = got.size() == requests.size() && got[0].ok();
    for (size_t r = 1; answered && r < got.size(); ++r) {
      answered = got[r].ok() || absl::IsNotFound(got[r].status());
    }
    if (!answered) {
      ++unreadable_;
      absl::SleepFor(period_);
      continue;
    }
    ++samples_;
    auto summary =
        zk::DecodeAs<zk::RevisionSummary>(got[0]->data, requests[0].path);
    if (!summary.ok()) {
      Violation(absl::StrCat(dc->name, ": ", summary.status().ToString()));
    } else {
      if (summary->revision() < highest) {
        Violation(absl::StrCat(dc->name, "'s revision went back from ", highest,
                               " to ", summary->revision()));
      }
      highest = std::max(highest, summary->revision());
      dc->highest = highest;
    }
    for (size_t r = 1; r < got.size(); ++r) {
      const std::string& name = names[r - 1];
      auto seen = records.find(name);
      if (!got[r].ok()) {  // NotFound
        if (seen != records.end()) {
          Violation(absl::StrCat(dc->name, ": ", name, " vanished after ",
                                 "revision ", seen->second));
          records.erase(seen);
        }
        continue;
      }
      auto record =
          zk::DecodeAs<zk::ConfigRecord>(got[r]->data, requests[r].path);
      if (!record.ok()) {
        Violation(absl::StrCat(dc->name, ": ", record.status().ToString()));
        continue;
      }
      if (seen != records.end() && record->revision() < seen->second) {
        Violation(absl::StrCat(dc->name, ": ", name, " went back from ",
                               "revision ", seen->second, " to ",
                               record->revision()));
      }
      int64_t& high = records[name];
      high = std::max(high, record->revision());
    }
    absl::SleepFor(period_);
  }
}

void CheckEveryDcConverged(MultiDcCluster& dcs, absl::Duration patience,
                           InvariantResult* result) {
  const absl::Time deadline = absl::Now() + patience;
  absl::StatusOr<std::unique_ptr<zk::ZkClient>> main = dcs.ConnectMainReader();
  if (!main.ok()) {
    result->AddViolation(
        absl::StrCat("cannot read the main DC: ", main.status().ToString()));
    return;
  }
  std::vector<std::unique_ptr<zk::ZkClient>> slaves;
  for (int d = 0; d < dcs.slave_dc_count(); ++d) {
    auto slave = dcs.ConnectSlaveReader(d);
    if (!slave.ok()) {
      result->AddViolation(absl::StrCat("cannot read ",
                                        MultiDcCluster::SlaveDcName(d), ": ",
                                        slave.status().ToString()));
      return;
    }
    slaves.push_back(std::move(slave).value());
  }
  auto revision = [&](zk::ZkClient& zk) -> int64_t {
    auto read = zk::ReadRevision(zk, dcs.layout());
    return read.ok() ? read->first.revision() : -1;
  };
  // differences[d]: why slave DC d was not equal at the last comparison;
  // "" once it was.
  std::vector<std::string> differences(slaves.size(), "not compared");
  int64_t compared = 0;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    // 1. Every slave DC at main's revision (cheap polls).
    const int64_t target = revision(**main);
    bool at_target = target >= 0;
    for (size_t d = 0; d < slaves.size(); ++d) {
      const int64_t now = revision(*slaves[d]);
      if (now != target) {
        at_target = false;
        differences[d] =
            absl::StrCat("at revision ", now, ", main at ", target);
      }
    }
    // 2. Then the whole trees, main unchanged around them.
    if (at_target) {
      auto main_snap = ReadDc(**main, dcs.layout());
      bool all_same = main_snap.ok() && main_snap->revision == target;
      compared = 0;
      for (size_t d = 0; main_snap.ok() && d < slaves.size(); ++d) {
        auto slave_snap = ReadDc(*slaves[d], dcs.layout());
        if (!slave_snap.ok()) {
          differences[d] = slave_snap.status().ToString();
          all_same = false;
          continue;
        }
        ::testing::AssertionResult same = SameData(*main_snap, *slave_snap);
        differences[d] = same ? "" : same.message();
        all_same = all_same && same;
        compared += static_cast<int64_t>(slave_snap->configs.size());
      }
      if (all_same && revision(**main) == target) {
        result->dc_configs_compared += compared;
        return;
      }
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(attempt < 50 ? 100 : 500));
  }
  for (size_t d = 0; d < slaves.size(); ++d) {
    if (differences[d].empty()) continue;
    result->AddViolation(
        absl::StrCat(MultiDcCluster::SlaveDcName(static_cast<int>(d)),
                     " not converged to the main DC after ",
                     absl::FormatDuration(patience), ": ", differences[d]));
  }
}

}  // namespace testing
}  // namespace kess
