#include "mandator/replication/subtree_mirror.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/steady_await.h"
#include "glog/logging.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

constexpr size_t kBatch = 200;

// path -> data of every child of `dir` (empty map when `dir` is missing).
absl::StatusOr<std::map<std::string, std::string>> ReadChildren(
    zk::ZkApi* zk, const std::string& dir,
    const std::vector<std::string>* only = nullptr) {
  std::map<std::string, std::string> out;
  std::vector<std::string> names;
  if (only != nullptr) {
    names = *only;
  } else {
    absl::StatusOr<zk::ChildrenResult> children = zk->GetChildren(dir);
    if (absl::IsNotFound(children.status())) return out;
    if (!children.ok()) return children.status();
    names = children->children;
  }
  for (size_t start = 0; start < names.size(); start += kBatch) {
    std::vector<zk::GetRequest> requests;
    const size_t end = std::min(names.size(), start + kBatch);
    for (size_t i = start; i < end; ++i) {
      zk::GetRequest r;
      r.path = absl::StrCat(dir, "/", names[i]);
      requests.push_back(std::move(r));
    }
    std::vector<absl::StatusOr<zk::GetResult>> got =
        zk->GetMany(std::move(requests));
    for (size_t i = 0; i < got.size(); ++i) {
      if (absl::IsNotFound(got[i].status())) continue;  // removed meanwhile
      if (!got[i].ok()) return got[i].status();
      out[names[start + i]] = got[i]->data;
    }
  }
  return out;
}

absl::Status EnsureNode(zk::ZkApi* zk, const std::string& path) {
  absl::StatusOr<std::string> created = zk->Create(path, "");
  if (created.ok() || absl::IsAlreadyExists(created.status())) {
    return absl::OkStatus();
  }
  return created.status();
}

}  // namespace

SubtreeMirror::SubtreeMirror(zk::ZkApi* main, zk::ZkApi* local,
                             Options options)
    : main_(main),
      local_(local),
      options_(std::move(options)),
      rounds_failed_(options_.registry->GetCounter(
          "kess_replication_mirror_failures_total",
          "Rounds of the users/tokens/audit mirror (slave DC leader) that "
          "failed; the next round starts over")) {}

SubtreeMirror::~SubtreeMirror() { Stop(); }

void SubtreeMirror::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (running_) return;
    running_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
}

void SubtreeMirror::Stop() {
  {
    absl::MutexLock lock(&mu_);
    running_ = false;
  }
  if (thread_.joinable()) thread_.join();
}

void SubtreeMirror::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (!running_) return;
    }
    absl::Status done = RunOnce();
    if (!done.ok()) {
      rounds_failed_->Increment();
      LOG_EVERY_N(WARNING, 30) << "mirroring users, tokens and audit records "
                                  "from the main datacenter: "
                               << done;
    }
    absl::MutexLock lock(&mu_);
    auto stopped = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !running_; };
    AwaitWithSteadyTimeout(&mu_, absl::Condition(&stopped), options_.interval);
  }
}

absl::Status SubtreeMirror::RunOnce() {
  absl::Status auth = MirrorAuth();
  absl::Status audit = MirrorAudit();
  return auth.ok() ? audit : auth;
}

absl::Status SubtreeMirror::MirrorAuth() {
  if (options_.auth_dir.empty()) return absl::OkStatus();
  absl::StatusOr<zk::GetResult> main_head = main_->Get(options_.auth_dir);
  if (absl::IsNotFound(main_head.status())) return absl::OkStatus();
  if (!main_head.ok()) return main_head.status();
  absl::StatusOr<zk::GetResult> local_head = local_->Get(options_.auth_dir);
  if (local_head.ok() && local_head->data == main_head->data) {
    return absl::OkStatus();  // the same generation
  }
  if (!local_head.ok() && !absl::IsNotFound(local_head.status())) {
    return local_head.status();
  }
  if (absl::IsNotFound(local_head.status())) {
    // Created with generation "0" so no mandator loads a half copy.
    absl::StatusOr<std::string> created = local_->Create(options_.auth_dir, "0");
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
      return created.status();
    }
  }
  for (const char* sub : {"users", "tokens"}) {
    const std::string dir = absl::StrCat(options_.auth_dir, "/", sub);
    KESS_ASSIGN_OR_RETURN(auto want, ReadChildren(main_, dir));
    KESS_ASSIGN_OR_RETURN(auto have, ReadChildren(local_, dir));
    KESS_RETURN_IF_ERROR(EnsureNode(local_, dir));
    for (const auto& [name, data] : want) {
      const std::string path = absl::StrCat(dir, "/", name);
      auto it = have.find(name);
      if (it == have.end()) {
        absl::StatusOr<std::string> created = local_->Create(path, data);
        if (!created.ok()) return created.status();
      } else if (it->second != data) {
        absl::StatusOr<zk::Stat> set = local_->Set(path, data);
        if (!set.ok()) return set.status();
      }
    }
    for (const auto& [name, data] : have) {
      if (want.count(name) > 0) continue;
      absl::Status deleted = local_->Delete(absl::StrCat(dir, "/", name));
      if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
    }
  }
  // Last: the slave's mandators reload when they see it move.
  absl::StatusOr<zk::Stat> set =
      local_->Set(options_.auth_dir, main_head->data);
  return set.status();
}

absl::Status SubtreeMirror::MirrorAudit() {
  if (options_.audit_dir.empty()) return absl::OkStatus();
  absl::StatusOr<std::optional<zk::Stat>> stat = main_->Exists(options_.audit_dir);
  if (!stat.ok()) return stat.status();
  if (!stat->has_value()) return absl::OkStatus();
  if ((*stat)->pzxid == audit_pzxid_) return absl::OkStatus();
  absl::StatusOr<zk::ChildrenResult> main_children =
      main_->GetChildren(options_.audit_dir);
  if (!main_children.ok()) return main_children.status();
  absl::StatusOr<zk::ChildrenResult> local_children =
      local_->GetChildren(options_.audit_dir);
  std::set<std::string> have;
  if (local_children.ok()) {
    have.insert(local_children->children.begin(),
                local_children->children.end());
  } else if (absl::IsNotFound(local_children.status())) {
    KESS_RETURN_IF_ERROR(EnsureNode(local_, options_.audit_dir));
  } else {
    return local_children.status();
  }
  // A full local copy takes nothing older than what it holds.
  const std::string floor =
      have.size() >= options_.audit_max_records ? *have.begin() : "";
  std::vector<std::string> missing;
  for (const std::string& name : main_children->children) {
    if (have.count(name) == 0 && name > floor) missing.push_back(name);
  }
  for (size_t start = 0; start < missing.size(); start += kBatch) {
    std::vector<std::string> batch(
        missing.begin() + start,
        missing.begin() + std::min(missing.size(), start + kBatch));
    KESS_ASSIGN_OR_RETURN(auto records,
                          ReadChildren(main_, options_.audit_dir, &batch));
    zk::MultiOps ops;
    for (const auto& [name, data] : records) {
      ops.Create(absl::StrCat(options_.audit_dir, "/", name), data);
    }
    absl::StatusOr<std::vector<zk::OpResult>> done = local_->Multi(ops);
    if (!done.ok()) {
      // One by one (a record written meanwhile by a previous round).
      for (const auto& [name, data] : records) {
        absl::StatusOr<std::string> created =
            local_->Create(absl::StrCat(options_.audit_dir, "/", name), data);
        if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
          return created.status();
        }
      }
    }
  }
  audit_pzxid_ = (*stat)->pzxid;
  return absl::OkStatus();
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
