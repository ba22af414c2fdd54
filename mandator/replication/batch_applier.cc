#include "mandator/replication/batch_applier.h"

#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "mandator/replication/change_applier.h"
#include "mandator/replication/main_side.h"
#include "mandator/replication/route_delta_sync.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

// Room kept in every multi beyond what is estimated (the ACLs of creates
// made with the client's default ACL, framing).
constexpr size_t kMarginBytes = 16 * 1024;

bool IsDelete(zk::ChangeKind kind) {
  return kind == zk::CONFIG_DELETE || kind == zk::ROUTE_DELETE ||
         kind == zk::GRAY_DELETE || kind == zk::ACL_DELETE;
}

std::string ParentPath(const std::string& path) {
  return path.substr(0, path.rfind('/'));
}

// What the run does to one record path.
struct PathPlan {
  enum class Source {
    kAbsent,    // deleted by the run's last change of it, or gone in main
    kEmbedded,  // the record embedded in the run's last change of it
    kReadNow,   // main's node as read now
    kChunked,   // a chunked value: RecordSync copies it
  };
  RecordKind kind = RecordKind::kConfig;
  std::string path;
  size_t first = 0;  // index of the run's first change of the path
  size_t last = 0;   // and of its last
  Source source = Source::kAbsent;
  std::string desired;  // the record to hold (kEmbedded, kReadNow)
  // The revision of the desired state: the record's own field, or the
  // delete's revision (a main node found missing now: newer than anything).
  int64_t desired_revision = 0;
  zk::MultiOps ops;          // the write; empty when nothing is to be done
  zk::StoredValue replaced;  // the local value the write replaces
  // The parent to create with the write (a namespace node with its data
  // from main, or an empty gray directory), if the local ZK lacks it.
  std::optional<std::pair<std::string, std::string>> parent_create;
};

// The node, nullopt if missing, or the error.
absl::StatusOr<std::optional<zk::GetResult>> Found(
    absl::StatusOr<zk::GetResult> got) {
  if (absl::IsNotFound(got.status())) return std::nullopt;
  if (!got.ok()) return got.status();
  return std::optional<zk::GetResult>(*std::move(got));
}

// Sets `plan` to hold `record` (a record main had), or to fall back to
// RecordSync when its value is chunked.
absl::Status Desire(PathPlan* plan, PathPlan::Source source,
                    std::string record) {
  KESS_ASSIGN_OR_RETURN(zk::StoredValue value,
                        RecordValue(plan->kind, record, plan->path));
  if (value.body_case() == zk::StoredValue::kChunked) {
    plan->source = PathPlan::Source::kChunked;
    return absl::OkStatus();
  }
  KESS_ASSIGN_OR_RETURN(plan->desired_revision,
                        RecordRevision(plan->kind, record, plan->path));
  plan->source = source;
  plan->desired = std::move(record);
  return absl::OkStatus();
}

}  // namespace

BatchApplier::BatchApplier(zk::ZkApi* main, zk::ZkApi* local, RecordSync* sync,
                           zk::Layout layout, zk::AclList acl)
    : main_(main),
      local_(local),
      sync_(sync),
      layout_(std::move(layout)),
      acl_(std::move(acl)) {}

absl::Status BatchApplier::Apply(const std::vector<zk::ChangeRecord>& changes,
                                 LocalHead* head, Stats* stats,
                                 const std::function<bool()>& cancelled) {
  Stats unused;
  if (stats == nullptr) stats = &unused;
  if (changes.empty()) return absl::OkStatus();

  // 1. One plan per path, from the run's last change of it.
  std::vector<PathPlan> plans;
  absl::flat_hash_map<std::string, size_t> plan_of;
  std::vector<size_t> plan_index(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    const zk::ChangeRecord& change = changes[i];
    if (change.revision() != head->summary.revision() + 1 + int64_t(i)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "change ", i, " of the run has revision ", change.revision(),
          ", expected ", head->summary.revision() + 1 + int64_t(i)));
    }
    KESS_ASSIGN_OR_RETURN(
        RecordKind kind,
        FromMain(CheckChange(layout_, change, change.revision())));
    auto [it, inserted] = plan_of.try_emplace(change.path(), plans.size());
    if (inserted) {
      plans.emplace_back();
      plans.back().kind = kind;
      plans.back().path = change.path();
      plans.back().first = i;
    }
    plans[it->second].last = i;
    plan_index[i] = it->second;
  }

  // 2. The desired state of every path; main is read (one pipelined batch)
  //    only for puts whose change record carries no record.
  std::vector<size_t> read_now;
  for (size_t p = 0; p < plans.size(); ++p) {
    PathPlan& plan = plans[p];
    const zk::ChangeRecord& last = changes[plan.last];
    if (IsDelete(last.kind())) {
      plan.source = PathPlan::Source::kAbsent;
      plan.desired_revision = last.revision();
    } else if (last.has_record()) {
      KESS_RETURN_IF_ERROR(
          FromMain(Desire(&plan, PathPlan::Source::kEmbedded, last.record())));
    } else {
      read_now.push_back(p);
    }
  }
  if (!read_now.empty()) {
    std::vector<zk::GetRequest> requests;
    for (size_t p : read_now) requests.push_back({plans[p].path, nullptr});
    std::vector<absl::StatusOr<zk::GetResult>> got =
        main_->GetMany(std::move(requests));
    stats->main_reads += static_cast<int64_t>(got.size());
    for (size_t j = 0; j < read_now.size(); ++j) {
      PathPlan& plan = plans[read_now[j]];
      KESS_ASSIGN_OR_RETURN(std::optional<zk::GetResult> node,
                            FromMain(Found(std::move(got[j]))));
      if (!node.has_value()) {
        // Deleted after the run's last change of it: newer than any state
        // the local ZK can hold.
        plan.source = PathPlan::Source::kAbsent;
        plan.desired_revision = std::numeric_limits<int64_t>::max();
        continue;
      }
      KESS_RETURN_IF_ERROR(FromMain(
          Desire(&plan, PathPlan::Source::kReadNow, std::move(node->data))));
    }
  }

  // 3. The local nodes and the parents of nodes that may be created, read
  //    in one pipelined batch.
  std::vector<zk::GetRequest> local_requests;
  std::vector<size_t> local_of_plan(plans.size(), 0);
  absl::flat_hash_map<std::string, size_t> parent_request;
  for (size_t p = 0; p < plans.size(); ++p) {
    if (plans[p].source == PathPlan::Source::kChunked) continue;
    local_of_plan[p] = local_requests.size();
    local_requests.push_back({plans[p].path, nullptr});
  }
  for (size_t p = 0; p < plans.size(); ++p) {
    const PathPlan& plan = plans[p];
    if (plan.source == PathPlan::Source::kChunked ||
        plan.source == PathPlan::Source::kAbsent ||
        plan.kind == RecordKind::kRoute || plan.kind == RecordKind::kAcl) {
      continue;
    }
    const std::string parent = ParentPath(plan.path);
    if (parent_request.try_emplace(parent, local_requests.size()).second) {
      local_requests.push_back({parent, nullptr});
    }
  }
  std::vector<absl::StatusOr<zk::GetResult>> local_nodes =
      local_->GetMany(std::move(local_requests));

  // Namespaces to copy from main: missing locally, needed by a create.
  absl::flat_hash_map<std::string, std::optional<zk::GetResult>> parents;
  for (const auto& [parent, index] : parent_request) {
    KESS_ASSIGN_OR_RETURN(parents[parent],
                          Found(std::move(local_nodes[index])));
  }

  // 4. The write of every path.
  std::vector<std::string> namespaces_to_copy;
  std::vector<std::optional<zk::GetResult>> local_now(plans.size());
  for (size_t p = 0; p < plans.size(); ++p) {
    if (plans[p].source == PathPlan::Source::kChunked) continue;
    KESS_ASSIGN_OR_RETURN(local_now[p],
                          Found(std::move(local_nodes[local_of_plan[p]])));
  }
  // Namespace data from main, for configs created under a namespace the
  // local ZK lacks (first key of a new namespace): one more pipelined read.
  absl::flat_hash_map<std::string, std::string> namespace_data;
  {
    std::vector<zk::GetRequest> requests;
    for (size_t p = 0; p < plans.size(); ++p) {
      const PathPlan& plan = plans[p];
      if (plan.kind != RecordKind::kConfig || local_now[p].has_value() ||
          (plan.source != PathPlan::Source::kEmbedded &&
           plan.source != PathPlan::Source::kReadNow)) {
        continue;
      }
      const std::string parent = ParentPath(plan.path);
      if (!parents[parent].has_value() &&
          namespace_data.try_emplace(parent).second) {
        requests.push_back({parent, nullptr});
      }
    }
    if (!requests.empty()) {
      std::vector<std::string> paths;
      for (const auto& r : requests) paths.push_back(r.path);
      std::vector<absl::StatusOr<zk::GetResult>> got =
          main_->GetMany(std::move(requests));
      stats->main_reads += static_cast<int64_t>(got.size());
      std::vector<zk::GetRequest> gone;  // records of namespaces main lacks
      std::vector<size_t> gone_plans;
      for (size_t j = 0; j < got.size(); ++j) {
        if (absl::IsNotFound(got[j].status())) {
          // Deleted in main since (with its keys, at a later revision): the
          // records are read as main holds them now.
          namespace_data.erase(paths[j]);
          for (size_t p = 0; p < plans.size(); ++p) {
            if (plans[p].kind == RecordKind::kConfig &&
                !local_now[p].has_value() &&
                ParentPath(plans[p].path) == paths[j] &&
                (plans[p].source == PathPlan::Source::kEmbedded ||
                 plans[p].source == PathPlan::Source::kReadNow)) {
              gone.push_back({plans[p].path, nullptr});
              gone_plans.push_back(p);
            }
          }
          continue;
        }
        KESS_RETURN_IF_ERROR(FromMain(got[j].status()));
        namespace_data[paths[j]] = std::move(got[j]->data);
      }
      if (!gone.empty()) {
        std::vector<absl::StatusOr<zk::GetResult>> records =
            main_->GetMany(std::move(gone));
        stats->main_reads += static_cast<int64_t>(records.size());
        for (size_t j = 0; j < records.size(); ++j) {
          PathPlan& plan = plans[gone_plans[j]];
          if (!absl::IsNotFound(records[j].status())) {
            KESS_RETURN_IF_ERROR(FromMain(records[j].status()));
            return FromMain(absl::DataLossError(absl::StrCat(
                "main holds ", plan.path, " but not its namespace")));
          }
          plan.source = PathPlan::Source::kAbsent;
          plan.desired_revision = std::numeric_limits<int64_t>::max();
        }
      }
    }
  }
  for (size_t p = 0; p < plans.size(); ++p) {
    PathPlan& plan = plans[p];
    if (plan.source == PathPlan::Source::kChunked) continue;
    const std::optional<zk::GetResult>& local = local_now[p];
    const bool want = plan.source != PathPlan::Source::kAbsent;
    if (local.has_value()) {
      absl::StatusOr<int64_t> local_revision =
          RecordRevision(plan.kind, local->data, plan.path);
      // Never backwards: the local node already holds a newer state.
      if (local_revision.ok() && *local_revision > plan.desired_revision) {
        continue;
      }
      if (want) {
        absl::StatusOr<std::string> want_norm =
            NormalizedRecord(plan.kind, plan.desired, plan.path);
        absl::StatusOr<std::string> local_norm =
            NormalizedRecord(plan.kind, local->data, plan.path);
        if (want_norm.ok() && local_norm.ok() && *want_norm == *local_norm) {
          continue;
        }
        plan.ops.Set(plan.path, plan.desired, local->stat.version);
      } else {
        plan.ops.Delete(plan.path, local->stat.version);
      }
      absl::StatusOr<zk::StoredValue> old =
          RecordValue(plan.kind, local->data, plan.path);
      // A corrupt local record is simply overwritten; its chunks (if any)
      // cannot be known and are left to the sweeper.
      if (old.ok()) plan.replaced = *std::move(old);
      continue;
    }
    if (!want) continue;
    if (plan.kind != RecordKind::kRoute && plan.kind != RecordKind::kAcl) {
      const std::string parent = ParentPath(plan.path);
      if (!parents[parent].has_value()) {
        plan.parent_create.emplace(parent, plan.kind == RecordKind::kConfig
                                               ? namespace_data[parent]
                                               : std::string());
      }
    }
    plan.ops.Create(plan.path, plan.desired, zk::CreateMode::kPersistent, acl_);
  }

  // 5. Commit, revision order, as few multis as the size limit allows.
  //    Parents are created once, by the first write that needs them (a
  //    chunked copy through RecordSync creates its namespace itself).
  absl::flat_hash_set<std::string> parent_created;
  zk::RevisionSummary next = head->summary;
  zk::MultiOps batch;
  size_t batch_bytes = 0;
  std::vector<size_t> batch_plans;
  int64_t batch_revisions = 0;
  auto flush = [&]() -> absl::Status {
    if (batch_revisions == 0) return absl::OkStatus();
    zk::MultiOps ops = std::move(batch);
    batch = zk::MultiOps();
    batch_bytes = 0;
    ops.Set(layout_.RevisionPath(), zk::Encode(next), head->version);
    absl::StatusOr<std::vector<zk::OpResult>> results = local_->Multi(ops);
    if (!results.ok()) {
      if (zk::IsConnectionLoss(results.status())) {
        for (size_t p : batch_plans) {
          sync_->SettleUnknownOutcome(plans[p].kind, plans[p].path,
                                      zk::StoredValue(), plans[p].replaced);
        }
      }
      return results.status();
    }
    head->summary = next;
    head->version = results->back().stat.version;
    stats->applied += batch_revisions;
    stats->multis += 1;
    batch_revisions = 0;
    for (size_t p : batch_plans) {
      ++stats->records_written;
      absl::Status collected = sync_->DiscardLocal(plans[p].replaced);
      LOG_IF(WARNING, !collected.ok()) << "chunks replaced at " << plans[p].path
                                       << " not collected: " << collected;
    }
    batch_plans.clear();
    return absl::OkStatus();
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    const zk::ChangeRecord& change = changes[i];
    PathPlan& plan = plans[plan_index[i]];
    if (plan.source == PathPlan::Source::kChunked && plan.first == i) {
      // Large and rare: copied as main holds it now, by itself.
      KESS_RETURN_IF_ERROR(flush());
      if (cancelled && cancelled()) return absl::CancelledError("stopping");
      // A route table whose changes in this run all carry deltas from the
      // local record is built here, not copied across the WAN
      // (route_delta_sync.h); anything else is copied from main.
      absl::StatusOr<RecordSync::Plan> built =
          absl::FailedPreconditionError("not a route table");
      if (plan.kind == RecordKind::kRoute) {
        std::vector<const zk::ChangeRecord*> run;
        for (size_t j = i; j < changes.size(); ++j) {
          if (plan_index[j] == plan_index[i]) run.push_back(&changes[j]);
        }
        built = PlanRouteFromDeltas(local_, layout_, acl_, plan.path, run);
        LOG_IF(WARNING, !built.ok() && !absl::IsFailedPrecondition(
                                           built.status()))
            << "route deltas of " << plan.path
            << " not applied (copying the table): " << built.status();
      }
      RecordSync::Plan copy;
      if (built.ok()) {
        copy = *std::move(built);
        ++stats->route_deltas;
      } else {
        KESS_ASSIGN_OR_RETURN(copy, sync_->PlanCopy(plan.kind, plan.path));
        ++stats->main_reads;
      }
      const bool changed = copy.changed;
      KESS_RETURN_IF_ERROR(sync_->Commit(std::move(copy), &change, head));
      next = head->summary;
      parent_created.insert(ParentPath(plan.path));  // exists now, if needed
      stats->applied += 1;
      stats->multis += 1;
      if (changed) ++stats->records_written;
      continue;
    }
    zk::MultiOps mine;
    const bool writes = plan.first == i && !plan.ops.empty();
    if (writes && plan.parent_create.has_value() &&
        parent_created.insert(plan.parent_create->first).second) {
      mine.Create(plan.parent_create->first, plan.parent_create->second,
                  zk::CreateMode::kPersistent, acl_);
    }
    if (writes) mine.Append(plan.ops);
    KESS_ASSIGN_OR_RETURN(
        zk::RevisionSummary after,
        zk::AddCommitOps(layout_, next, /*current_version=*/0, change, &mine));
    // AddCommitOps appended [set summary, create change record]; the
    // summary is set once per multi, by flush().
    mine.RemoveOp(mine.size() - 2);
    const size_t bytes = mine.EstimatedRequestBytes(acl_);
    const size_t summary_bytes =
        zk::EstimateSetBytes(layout_.RevisionPath(), zk::Encode(after).size());
    if (batch_revisions > 0 &&
        batch_bytes + bytes + summary_bytes + kMarginBytes >
            zk::kMaxRequestBytes) {
      KESS_RETURN_IF_ERROR(flush());
      if (cancelled && cancelled()) return absl::CancelledError("stopping");
    }
    batch.Append(std::move(mine));
    batch_bytes += bytes;
    if (writes) batch_plans.push_back(plan_index[i]);
    ++batch_revisions;
    next = std::move(after);
  }
  return flush();
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
