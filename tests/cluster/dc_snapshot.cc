#include "tests/cluster/dc_snapshot.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace testing {
namespace {

// The record without the value's body (inline bytes or chunk manifest).
std::string WithoutBody(zk::ConfigRecord record) {
  record.mutable_value()->clear_body();
  return record.SerializeAsString();
}

absl::Status AddTree(zk::ZkApi& zk, const std::string& path,
                     const std::vector<std::string>& skip, NodeMap* out) {
  for (const std::string& s : skip) {
    if (path == s) return absl::OkStatus();
  }
  KESS_ASSIGN_OR_RETURN(zk::GetResult node, zk.Get(path));
  (*out)[path] = {node.stat.version, node.data};
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult children, zk.GetChildren(path));
  for (const std::string& child : children.children) {
    KESS_RETURN_IF_ERROR(AddTree(zk, path + "/" + child, skip, out));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DcSnapshot> ReadDc(zk::ZkApi& zk, const zk::Layout& layout) {
  DcSnapshot out;
  KESS_ASSIGN_OR_RETURN(auto summary, zk::ReadRevision(zk, layout));
  out.revision = summary.first.revision();
  out.oldest_retained = summary.first.oldest_retained();
  KESS_ASSIGN_OR_RETURN(
      auto store, mandator::core::ConfigStore::Create(&zk, {.layout = layout}));
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> namespaces,
                        store->ListNamespaces());
  for (const std::string& ns : namespaces) {
    KESS_ASSIGN_OR_RETURN(std::vector<mandator::core::KeyInfo> keys,
                          store->ListKeys(ns));
    for (const mandator::core::KeyInfo& key : keys) {
      KESS_ASSIGN_OR_RETURN(out.configs[absl::StrCat(ns, "/", key.key)],
                            store->Get(ns, key.key));
    }
  }
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult log,
                        zk.GetChildren(layout.ChangelogDir()));
  for (const std::string& name : log.children) {
    int64_t revision = 0;
    if (!absl::SimpleAtoi(name, &revision)) {
      return absl::DataLossError("change record " + name);
    }
    KESS_ASSIGN_OR_RETURN(zk::GetResult node,
                          zk.Get(layout.ChangelogPath(revision)));
    out.changelog[revision] = node.data;
  }
  return out;
}

::testing::AssertionResult SameData(const DcSnapshot& main,
                                    const DcSnapshot& slave) {
  if (main.revision != slave.revision) {
    return ::testing::AssertionFailure() << "revision: main " << main.revision
                                         << ", slave " << slave.revision;
  }
  for (const auto& [name, config] : main.configs) {
    auto it = slave.configs.find(name);
    if (it == slave.configs.end()) {
      return ::testing::AssertionFailure()
             << name << " (revision " << config.record.revision()
             << ") is missing in the slave DC";
    }
    if (WithoutBody(config.record) != WithoutBody(it->second.record)) {
      return ::testing::AssertionFailure()
             << name << ": records differ: main "
             << config.record.ShortDebugString() << "; slave "
             << it->second.record.ShortDebugString();
    }
    if (config.value != it->second.value) {
      return ::testing::AssertionFailure() << name << ": values differ";
    }
  }
  for (const auto& [name, config] : slave.configs) {
    if (main.configs.count(name) == 0) {
      return ::testing::AssertionFailure()
             << name << " is in the slave DC only";
    }
  }
  for (const auto& [revision, record] : slave.changelog) {
    auto it = main.changelog.find(revision);
    if (it != main.changelog.end() && it->second != record) {
      return ::testing::AssertionFailure()
             << "change record " << revision << " differs from main's";
    }
  }
  if (!slave.changelog.empty()) {
    const int64_t first = slave.changelog.begin()->first;
    const int64_t last = slave.changelog.rbegin()->first;
    if (last != slave.revision ||
        last - first + 1 != static_cast<int64_t>(slave.changelog.size())) {
      return ::testing::AssertionFailure()
             << "the slave's change log has gaps: " << slave.changelog.size()
             << " records in [" << first << ", " << last << "], revision "
             << slave.revision;
    }
  }
  return ::testing::AssertionSuccess();
}

absl::StatusOr<NodeMap> ReadTree(zk::ZkApi& zk, const zk::Layout& layout) {
  NodeMap out;
  KESS_ASSIGN_OR_RETURN(std::string members, layout.MembersDir(zk::MANDATOR));
  const std::vector<std::string> skip = {layout.ElectionDir(),
                                         members.substr(0, members.rfind('/'))};
  KESS_RETURN_IF_ERROR(AddTree(zk, layout.root(), skip, &out));
  return out;
}

::testing::AssertionResult SameTree(const NodeMap& before,
                                    const NodeMap& after) {
  for (const auto& [path, node] : after) {
    auto it = before.find(path);
    if (it == before.end()) {
      return ::testing::AssertionFailure() << path << " was created";
    }
    if (it->second != node) {
      return ::testing::AssertionFailure()
             << path << " changed (version " << it->second.first << " -> "
             << node.first << ")";
    }
  }
  for (const auto& [path, node] : before) {
    if (after.count(path) == 0) {
      return ::testing::AssertionFailure() << path << " was deleted";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace testing
}  // namespace kess
