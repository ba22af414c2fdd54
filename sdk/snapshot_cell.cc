#include "sdk/snapshot_cell.h"

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace kess {
namespace sdk {
namespace {

// Readers spread over stripes (one cache line each) so threads do not
// bounce one counter between cores.
constexpr int kStripes = 64;

struct alignas(64) Stripe {
  std::atomic<int64_t> readers[2] = {{0}, {0}};  // by epoch parity
};

struct Retired {
  uint64_t epoch;  // the epoch when it was retired
  void* p;
  void (*deleter)(void*);
};

Stripe stripes[kStripes];
std::atomic<uint64_t> epoch{2};
std::mutex domain_mu;  // writers: flips and the retired list
std::vector<Retired>* retired = new std::vector<Retired>();  // domain_mu

int ThreadStripe() {
  static std::atomic<uint32_t> next{0};
  thread_local const int stripe = next.fetch_add(1) % kStripes;
  return stripe;
}

bool Drained(int parity) {
  int64_t sum = 0;
  for (Stripe& stripe : stripes) {
    sum += stripe.readers[parity].load(std::memory_order_seq_cst);
  }
  return sum == 0;
}

// New readers count under the parity of the current epoch e; the other
// parity holds only readers that read the epoch before it became e. Once
// those are gone the epoch may advance. REQUIRES: domain_mu.
bool TryAdvance() {
  const uint64_t e = epoch.load(std::memory_order_seq_cst);
  if (!Drained(static_cast<int>((e + 1) & 1))) return false;
  epoch.store(e + 1, std::memory_order_seq_cst);
  return true;
}

// Moves what is due out of the retired list. REQUIRES: domain_mu.
// A holder retired at epoch R was swapped out before R was read. The
// advance R -> R+1 saw parity R-1 drained and R+1 -> R+2 saw parity R
// drained, both after the swap, so every reader that could hold it — all
// of them counted under R-1 or R — has left by R + 2. Readers that began
// after the swap load the new holder.
std::vector<Retired> TakeDue() {
  const uint64_t e = epoch.load(std::memory_order_seq_cst);
  std::vector<Retired> due;
  auto keep = retired->begin();
  for (auto it = retired->begin(); it != retired->end(); ++it) {
    if (it->epoch + 2 <= e) {
      due.push_back(*it);
    } else {
      *keep++ = *it;
    }
  }
  retired->erase(keep, retired->end());
  return due;
}

void Free(const std::vector<Retired>& due) {
  // Outside domain_mu: a deleter may run destructors that Store again.
  for (const Retired& r : due) r.deleter(r.p);
}

}  // namespace

ReadDomain::Section::Section() {
  const int parity =
      static_cast<int>(epoch.load(std::memory_order_seq_cst) & 1);
  counter_ = &stripes[ThreadStripe()].readers[parity];
  // seq_cst: the increment is ordered before the caller's load of the
  // holder, and a writer's swap before its reads of the counters; so a
  // reader a writer does not count loads the new holder.
  counter_->fetch_add(1, std::memory_order_seq_cst);
}

ReadDomain::Section::~Section() {
  counter_->fetch_sub(1, std::memory_order_release);
}

void ReadDomain::Retire(void* p, void (*deleter)(void*)) {
  std::vector<Retired> due;
  {
    std::lock_guard<std::mutex> lock(domain_mu);
    retired->push_back({epoch.load(std::memory_order_seq_cst), p, deleter});
    // Usually both succeed at once and `p` is freed right here.
    for (int i = 0; i < 2 && TryAdvance(); ++i) {
    }
    due = TakeDue();
  }
  Free(due);
}

void ReadDomain::Synchronize() {
  std::vector<Retired> due;
  {
    std::lock_guard<std::mutex> lock(domain_mu);
    const uint64_t target = epoch.load(std::memory_order_seq_cst) + 2;
    while (epoch.load(std::memory_order_seq_cst) < target) {
      if (!TryAdvance()) std::this_thread::yield();
    }
    due = TakeDue();
  }
  Free(due);
}

size_t ReadDomain::PendingForTest() {
  std::lock_guard<std::mutex> lock(domain_mu);
  return retired->size();
}

}  // namespace sdk
}  // namespace kess
