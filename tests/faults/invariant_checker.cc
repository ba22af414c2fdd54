#include "tests/faults/invariant_checker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "model/file_cache/reader.h"
#include "common/value_encoding.h"
#include "tests/cluster/dc_snapshot.h"

namespace kess {
namespace testing {
namespace {

constexpr size_t kKeptViolations = 20;

void Violation(InvariantResult* r, std::string what) {
  r->AddViolation(std::move(what));
}

struct MainValue {
  int64_t revision = 0;
  uint32_t crc = 0;
  std::string value;
};

// The main DC's current revision and value of every key in `keys`, read
// from its ZooKeeper directly. A missing key has revision 0.
absl::StatusOr<std::map<std::string, MainValue>> ReadMain(
    CacheTierCluster* cluster, const ConfigKeys& keys) {
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<zk::ZkClient> zk,
                        cluster->dcs().ConnectMainReader());
  KESS_ASSIGN_OR_RETURN(DcSnapshot snap, ReadDc(*zk, cluster->dcs().layout()));
  std::map<std::string, MainValue> out;
  for (const auto& [ns, key] : keys) {
    MainValue& v = out[absl::StrCat(ns, "/", key)];
    auto it = snap.configs.find(absl::StrCat(ns, "/", key));
    if (it == snap.configs.end()) continue;
    v.revision = it->second.record.revision();
    v.value = it->second.value;
    v.crc = Crc32(v.value);
  }
  return out;
}

// Differences between every agent's cache and `main`; empty = converged.
std::vector<std::string> Differences(
    const std::vector<AgentHost*>& agents, const ConfigKeys& keys,
    const std::map<std::string, MainValue>& main, int64_t* files) {
  std::vector<std::string> diffs;
  *files = 0;
  for (const AgentHost* agent : agents) {
    file_cache::FileCacheReader reader(agent->cache_dir());
    for (const auto& [ns, key] : keys) {
      ++*files;
      const MainValue& want = main.at(absl::StrCat(ns, "/", key));
      auto got = reader.Read(file_cache::CacheKey::Config(ns, key));
      const std::string where =
          absl::StrCat("agent ", agent->host_id(), " ", ns, "/", key);
      if (!got.ok()) {
        if (want.revision != 0) {
          diffs.push_back(absl::StrCat(where, ": no readable file (",
                                       got.status().ToString(),
                                       "), main has revision ", want.revision));
        }
        continue;
      }
      if (got->revision != want.revision) {
        diffs.push_back(absl::StrCat(where, ": revision ", got->revision,
                                     ", main has ", want.revision));
      } else if (Crc32(got->value) != want.crc) {
        diffs.push_back(absl::StrCat(where, ": revision ", got->revision,
                                     " but crc32 ", Crc32(got->value),
                                     ", main has ", want.crc));
      }
    }
  }
  return diffs;
}

}  // namespace

void InvariantResult::AddViolation(std::string what) {
  ++violation_count;
  if (violations.size() < kKeptViolations) {
    violations.push_back(std::move(what));
  }
}

std::string InvariantResult::Describe() const {
  std::string out =
      absl::StrCat("writes=", writes_checked, " files=", files_checked,
                   " reads=", reads_checked,
                   " route_samples=", route_samples_checked, " (unreadable ",
                   route_samples_unreadable, ")",
                   " dc_samples=", dc_samples_checked,
                   " dc_configs=", dc_configs_compared,
                   " converged_after=", absl::FormatDuration(converged_after),
                   " violations=", violation_count);
  for (const std::string& v : violations) absl::StrAppend(&out, "\n  ", v);
  return out;
}

void InvariantChecker::NoteAck(const std::string& ns, const std::string& key,
                               int64_t revision, const std::string& value) {
  absl::MutexLock lock(&mu_);
  ++acks_;
  Ack& ack = newest_[absl::StrCat(ns, "/", key)];
  if (revision > ack.revision) ack = Ack{revision, value};
}

int64_t InvariantChecker::acks() const {
  absl::MutexLock lock(&mu_);
  return acks_;
}

void InvariantChecker::AddRouteSamples(
    InvariantResult* result, int64_t samples, int64_t unreadable,
    int64_t violation_count, const std::vector<std::string>& violations) {
  result->route_samples_checked += samples;
  result->route_samples_unreadable += unreadable;
  int64_t listed = 0;
  for (const std::string& v : violations) {
    Violation(result, absl::StrCat("route: ", v));
    ++listed;
  }
  // The sampler keeps only its first few lines; count the rest too.
  for (; listed < violation_count; ++listed) ++result->violation_count;
}

InvariantResult InvariantChecker::Check(const ConfigKeys& keys,
                                        const CacheReaderLoop* reader,
                                        absl::Duration converge_timeout) {
  InvariantResult result;
  const std::vector<AgentHost*> agents = cluster_->AllAgents();

  // 1. Convergence, polled; the last differences are the violations.
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + converge_timeout;
  absl::StatusOr<std::map<std::string, MainValue>> main;
  std::vector<std::string> diffs;
  while (true) {
    main = ReadMain(cluster_, keys);
    if (main.ok()) {
      diffs = Differences(agents, keys, *main, &result.files_checked);
      if (diffs.empty()) break;
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  result.converged_after = absl::Now() - start;
  if (!main.ok()) {
    Violation(&result, absl::StrCat("cannot read the main DC: ",
                                    main.status().ToString()));
    return result;
  }
  for (std::string& d : diffs) {
    Violation(&result,
              absl::StrCat("not converged after ",
                           absl::FormatDuration(converge_timeout), ": ", d));
  }

  // 2. What readers saw.
  if (reader != nullptr) {
    result.reads_checked = reader->reads();
    if (reader->backwards() > 0 || reader->torn() > 0) {
      Violation(&result, absl::StrCat("reader loop: ", reader->backwards(),
                                      " reads went backwards, ", reader->torn(),
                                      " torn; first: ", reader->first_error()));
    }
  }

  // 3. Acknowledged writes, against main's current data.
  absl::MutexLock lock(&mu_);
  result.writes_checked = acks_;
  for (const auto& [name, ack] : newest_) {
    auto it = main->find(name);
    if (it == main->end()) continue;  // a key outside `keys`
    const MainValue& now = it->second;
    if (now.revision < ack.revision) {
      Violation(&result,
                absl::StrCat(name, ": write acknowledged at revision ",
                             ack.revision, " but main has ", now.revision));
    } else if (now.revision == ack.revision && now.value != ack.value) {
      Violation(&result, absl::StrCat(name, ": revision ", ack.revision,
                                      " holds another value than the one "
                                      "acknowledged"));
    }
  }
  return result;
}

}  // namespace testing
}  // namespace kess
