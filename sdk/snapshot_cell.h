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
// pointer and retires the old one; it is deleted after a grace period —
// once every reader that could still see it has left. Grace periods follow
// the two-epoch scheme of userspace RCU/SRCU (readers count themselves
// under the epoch's parity; the epoch advances only when the other parity
// has drained; a holder retired at epoch R is freed at epoch R + 2). Store
// never waits: it advances the epoch when it can and frees what is due, so
// a reader that was preempted inside its section only delays freeing.
//
// Thread-safety: Load/Read are wait-free and may run concurrently with
// anything, including Store. Store may be called from several threads
// (also from inside Read). The destructor requires that no reader or
// writer is using the cell.
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

  // Hands `p` over for deletion (`deleter(p)`) once no Section that began
  // before the call is left. Never waits; frees whatever else is due.
  static void Retire(void* p, void (*deleter)(void*));

  // Waits until every Section that began before the call has ended, then
  // frees everything retired before the call. For shutdown and tests.
  // REQUIRES: not inside a Section.
  static void Synchronize();

  // Retired objects not freed yet (tests).
  static size_t PendingForTest();
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

  // Replaces the value; the old one is freed after the grace period (its
  // last reference may of course live on in a Load()ed shared_ptr).
  void Store(std::shared_ptr<const T> value) {
    auto* fresh = new std::shared_ptr<const T>(std::move(value));
    std::shared_ptr<const T>* old =
        holder_.exchange(fresh, std::memory_order_seq_cst);
    ReadDomain::Retire(
        old, [](void* p) { delete static_cast<std::shared_ptr<const T>*>(p); });
  }

 private:
  std::atomic<std::shared_ptr<const T>*> holder_;
};

}  // namespace sdk
}  // namespace kess
