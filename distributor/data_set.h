// DataSet: the distributor's in-memory copy of its DC's configs and route
// tables, keyed by canonical key (resource.h), plus the revision it
// reflects.
//
// One writer (the ZkFollower) applies changes; many readers (transport
// handlers on the event-loop threads) look keys up. Readers take a shared
// lock for the duration of the lookups only (hash-map finds, no I/O, no
// allocation beyond the result vector), so they never wait for ZooKeeper;
// the writer takes the exclusive lock only to swap prepared pointers in.
//
// Deleted keys stay as tombstones (absent = true, revision of the delete),
// so an agent that still holds the key is told about the delete.
//
// Thread-safety: all methods are thread-safe. Apply/Replace must come from
// one writer thread at a time (their results are meant to be published in
// order).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "distributor/resource.h"

namespace kess {
namespace distributor {

class DataSet {
 public:
  DataSet() = default;
  DataSet(const DataSet&) = delete;
  DataSet& operator=(const DataSet&) = delete;

  // The items for `keys` (nullptr where the key is unknown), in order.
  std::vector<ItemPtr> FindAll(const std::vector<std::string>& keys) const;
  ItemPtr Find(const std::string& key) const;
  // Every config item of namespace `ns` ("c/<ns>/*"), tombstones included,
  // in no particular order (a namespace subscription's answer).
  std::vector<ItemPtr> FindNamespace(const std::string& ns) const;

  // The revision the data reflects (every change up to it is applied); 0
  // before the first load.
  int64_t revision() const;
  // Keys that exist (tombstones not counted).
  size_t live_keys() const;
  // True once a full load was applied.
  bool loaded() const;

  // Incremental: applies each item that is newer than what is held for its
  // key (higher revision), sets the revision to `revision` (never lowers
  // it) and returns the applied items ordered by revision.
  std::vector<ItemPtr> ApplyNewer(std::vector<ItemPtr> items, int64_t revision);

  // What a full reload that found exactly `live` (every existing record, no
  // tombstones) at `revision` would change: items that differ from what is
  // held, plus a tombstone for every held live key missing from `live`
  // (at max(revision, held revision + 1), so agents holding the key take
  // it). `removed` counts those tombstones.
  struct Diff {
    std::vector<ItemPtr> changes;  // ordered by revision
    size_t removed = 0;
    size_t held_live = 0;  // live keys held before
  };
  Diff DiffFullLoad(const std::vector<ItemPtr>& live, int64_t revision) const;

  // Applies a Diff unconditionally, sets the revision to `revision` and
  // marks the set loaded.
  void ApplyFullLoad(const Diff& diff, int64_t revision);

 private:
  void PutLocked(ItemPtr item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, ItemPtr> items_ ABSL_GUARDED_BY(mu_);
  // Namespace -> its config keys in items_ (never shrinks: tombstones stay).
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>
      namespaces_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
};

// Sorts by revision, then key (stable, deterministic order for pushes).
void SortByRevision(std::vector<ItemPtr>* items);

}  // namespace distributor
}  // namespace kess
