// SnapshotCell<T>: one immutable value, replaced as a whole by writers and
// read by any number of threads that never wait — not for a writer, not
// for each other. This is how Discovery publishes route snapshots, so
// Select() never takes a lock a writer holds.
//
//   SnapshotCell<Table> cell(std::make_shared<const Table>(...));
//   std::shared_ptr<const Table> t = cell.Load();        // wait-free
//   cell.Read([](const std::shared_ptr<const Table>& t) { ... });
//   cell.Store(std::make_shared<const Table>(...));      // writer
//
// Why not std::atomic_load on a shared_ptr: libstdc++ implements it with a
// small pool of mutexes shared by the whole process, so readers do wait for
// a writer's store (and contend with each other on the same mutex).
//
// How: the cell holds a pointer to a heap `std::shared_ptr` holder. A
// reader announces itself in a read-side counter (a per-thread stripe of a
// process-wide ReadDomain; one atomic increment, no loop), loads the
// holder, copies what it needs, and leaves. A writer swaps the holder
// pointer, then waits for a grace period — every reader that could still
// see the old holder has left — before deleting it. This is the classic
// two-epoch scheme of userspace RCU/SRCU: the writer flips the epoch and
// drains the counters of the old one, twice.
//
// Thread-safety: Load/Read are wait-free and may run concurrently with
// anything, including Store. Store may be called from several threads;
// grace periods are serialized. Readers must not call Store (from inside
// Read) — it would wait for itself.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

namespace kess {
namespace sdk {

// The process-wide read-side registry shared by every SnapshotCell.
class ReadDomain {
 public:
  // Marks the calling thread as reading for its lifetime. Nestable.
  class Section {
   public:
    Section();
    ~Section();
    Section(const Section&) = delete;
    Section& operator=(const Section&) = delete;

   private:
    std::atomic<int64_t>* counter_;
  };

  // Returns once every Section that began before the call has ended.
  static void Synchronize();
};

template <typename T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::shared_ptr<const T> initial = nullptr)
      : holder_(new std::shared_ptr<const T>(std::move(initial))) {}
  // REQUIRES: no concurrent reader or writer.
  ~SnapshotCell() { delete holder_.load(); }
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;

  // The current value; the reference keeps it alive. Wait-free.
  std::shared_ptr<const T> Load() const {
    ReadDomain::Section section;
    return *holder_.load(std::memory_order_seq_cst);
  }

  // Runs fn(const std::shared_ptr<const T>&) on the current value without
  // touching its reference count; whatever fn returns must not point into
  // the value unless fn takes a reference. Wait-free apart from fn.
  template <typename Fn>
  auto Read(Fn&& fn) const {
    ReadDomain::Section section;
    return fn(*holder_.load(std::memory_order_seq_cst));
  }

  // Replaces the value. Returns after the old holder is freed (a grace
  // period: microseconds, as readers only copy a pointer or pick an
  // instance).
  void Store(std::shared_ptr<const T> value) {
    auto* fresh = new std::shared_ptr<const T>(std::move(value));
    std::shared_ptr<const T>* old =
        holder_.exchange(fresh, std::memory_order_seq_cst);
    ReadDomain::Synchronize();
    delete old;
  }

 private:
  std::atomic<std::shared_ptr<const T>*> holder_;
};

}  // namespace sdk
}  // namespace kess
