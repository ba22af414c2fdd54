#include "sdk/snapshot_cell.h"

#include <cstdint>
#include <mutex>
#include <thread>

namespace kess {
namespace sdk {
namespace {

// Readers spread over stripes (one cache line each) so threads do not
// bounce one counter between cores.
constexpr int kStripes = 64;

struct alignas(64) Stripe {
  std::atomic<int64_t> readers[2] = {{0}, {0}};  // by epoch parity
};

Stripe stripes[kStripes];
std::atomic<uint64_t> epoch{0};
std::mutex synchronize_mu;

int ThreadStripe() {
  static std::atomic<uint32_t> next{0};
  thread_local const int stripe = next.fetch_add(1) % kStripes;
  return stripe;
}

// Waits until no reader of `parity` is left. Readers that read the epoch
// before the flip may still enter that parity; they began after the
// writer's pointer swap, so they see the new holder and are harmless, and
// there are at most as many of them as threads, so this ends.
void Drain(int parity) {
  for (;;) {
    int64_t sum = 0;
    for (Stripe& stripe : stripes) {
      sum += stripe.readers[parity].load(std::memory_order_seq_cst);
    }
    if (sum == 0) return;
    std::this_thread::yield();
  }
}

}  // namespace

ReadDomain::Section::Section() {
  const int parity =
      static_cast<int>(epoch.load(std::memory_order_seq_cst) & 1);
  counter_ = &stripes[ThreadStripe()].readers[parity];
  // seq_cst: the increment is ordered before the caller's load of the
  // holder, and the writer's swap before its reads of the counters; so a
  // reader the writer does not count loads the new holder.
  counter_->fetch_add(1, std::memory_order_seq_cst);
}

ReadDomain::Section::~Section() {
  counter_->fetch_sub(1, std::memory_order_release);
}

void ReadDomain::Synchronize() {
  std::lock_guard<std::mutex> lock(synchronize_mu);
  // A reader that read the epoch long ago may sit in either parity; drain
  // both, flipping first so that new readers go to the other one.
  for (int i = 0; i < 2; ++i) {
    const uint64_t old = epoch.fetch_add(1, std::memory_order_seq_cst);
    Drain(static_cast<int>(old & 1));
  }
}

}  // namespace sdk
}  // namespace kess
