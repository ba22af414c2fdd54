#include "distributor/data_set.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace kess {
namespace distributor {

void SortByRevision(std::vector<ItemPtr>* items) {
  std::sort(items->begin(), items->end(),
            [](const ItemPtr& a, const ItemPtr& b) {
              if (a->revision != b->revision) return a->revision < b->revision;
              return a->key < b->key;
            });
}

std::vector<ItemPtr> DataSet::FindAll(
    const std::vector<std::string>& keys) const {
  std::vector<ItemPtr> out;
  out.reserve(keys.size());
  absl::ReaderMutexLock lock(&mu_);
  for (const std::string& key : keys) {
    auto it = items_.find(key);
    out.push_back(it == items_.end() ? nullptr : it->second);
  }
  return out;
}

ItemPtr DataSet::Find(const std::string& key) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ItemPtr> DataSet::FindNamespace(const std::string& ns) const {
  std::vector<ItemPtr> out;
  absl::ReaderMutexLock lock(&mu_);
  auto keys = namespaces_.find(ns);
  if (keys == namespaces_.end()) return out;
  out.reserve(keys->second.size());
  for (const std::string& key : keys->second) {
    auto it = items_.find(key);
    if (it != items_.end()) out.push_back(it->second);
  }
  return out;
}

int64_t DataSet::revision() const {
  absl::ReaderMutexLock lock(&mu_);
  return revision_;
}

size_t DataSet::live_keys() const {
  absl::ReaderMutexLock lock(&mu_);
  return live_;
}

bool DataSet::loaded() const {
  absl::ReaderMutexLock lock(&mu_);
  return loaded_;
}

void DataSet::PutLocked(ItemPtr item) {
  ItemPtr& slot = items_[item->key];
  if (slot == nullptr) {
    const std::string ns = NamespaceOfConfigKey(item->key);
    if (!ns.empty()) namespaces_[ns].insert(item->key);
  }
  if (slot != nullptr && !slot->absent) --live_;
  if (!item->absent) ++live_;
  slot = std::move(item);
}

std::vector<ItemPtr> DataSet::ApplyNewer(std::vector<ItemPtr> items,
                                         int64_t revision) {
  SortByRevision(&items);
  std::vector<ItemPtr> applied;
  absl::MutexLock lock(&mu_);
  for (ItemPtr& item : items) {
    auto it = items_.find(item->key);
    if (it != items_.end() && it->second->revision >= item->revision) continue;
    applied.push_back(item);
    PutLocked(std::move(item));
  }
  revision_ = std::max(revision_, revision);
  return applied;
}

DataSet::Diff DataSet::DiffFullLoad(const std::vector<ItemPtr>& live,
                                    int64_t revision) const {
  Diff diff;
  absl::flat_hash_set<std::string> seen;
  seen.reserve(live.size());
  absl::ReaderMutexLock lock(&mu_);
  diff.held_live = live_;
  for (const ItemPtr& item : live) {
    seen.insert(item->key);
    auto it = items_.find(item->key);
    if (it == items_.end() || !SameVersion(*it->second, *item)) {
      diff.changes.push_back(item);
    }
  }
  for (const auto& [key, held] : items_) {
    if (held->absent || seen.contains(key)) continue;
    diff.changes.push_back(
        MakeAbsent(key, std::max(revision, held->revision + 1)));
    ++diff.removed;
  }
  SortByRevision(&diff.changes);
  return diff;
}

void DataSet::ApplyFullLoad(const Diff& diff, int64_t revision) {
  absl::MutexLock lock(&mu_);
  for (const ItemPtr& item : diff.changes) PutLocked(item);
  revision_ = revision;
  loaded_ = true;
}

}  // namespace distributor
}  // namespace kess
