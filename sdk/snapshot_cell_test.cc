// SnapshotCell under concurrency: readers that Load and Read while writers
// replace the value never see a torn or freed value and never see a
// version go backwards; every stored value is freed once the readers are
// gone (a live counter checks it; valgrind gives the strong form).
#include "sdk/snapshot_cell.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace kess {
namespace sdk {
namespace {

std::atomic<int> live{0};

// Every element equals `version`: a torn or freed value breaks that.
struct Value {
  explicit Value(int v) : version(v), copies(64, v) { ++live; }
  ~Value() {
    for (int& c : copies) c = -1;
    --live;
  }
  bool Consistent() const {
    for (int c : copies) {
      if (c != version) return false;
    }
    return true;
  }
  const int version;
  std::vector<int> copies;
};

TEST(SnapshotCellTest, ReadersSeeWholeValuesInOrderWhileWritersSwap) {
  constexpr int kReaders = 4;
  constexpr int kVersions = 3000;
  {
    SnapshotCell<Value> cell(std::make_shared<const Value>(0));
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::atomic<long> reads{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) {
      readers.emplace_back([&, r] {
        int last = 0;
        // Bounded: stops when the writer is done (or after a cap).
        for (long i = 0; i < 50000000 && !done.load(); ++i) {
          int version;
          if (r % 2 == 0) {
            std::shared_ptr<const Value> v = cell.Load();
            if (!v->Consistent()) ++bad;
            version = v->version;
          } else {
            version = cell.Read([&](const std::shared_ptr<const Value>& v) {
              if (!v->Consistent()) ++bad;
              return v->version;
            });
          }
          if (version < last) ++bad;
          last = version;
          ++reads;
        }
      });
    }
    // A second writer replaces another cell at the same time, so grace
    // periods and frees of both interleave.
    SnapshotCell<Value> other(std::make_shared<const Value>(0));
    std::thread other_writer([&] {
      for (int v = 1; v < kVersions; ++v) {
        other.Store(std::make_shared<const Value>(v));
        if (!other.Load()->Consistent()) ++bad;
      }
    });
    for (int v = 1; v < kVersions; ++v) {
      cell.Store(std::make_shared<const Value>(v));
    }
    other_writer.join();
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(reads.load(), kReaders);
    EXPECT_EQ(cell.Load()->version, kVersions - 1);
    ReadDomain::Synchronize();
    EXPECT_EQ(ReadDomain::PendingForTest(), 0u);
    EXPECT_EQ(live.load(), 2);  // every older value was freed
  }
  EXPECT_EQ(live.load(), 0);
}

TEST(SnapshotCellTest, NestedReadsAndLoadsOutliveStores) {
  SnapshotCell<Value> a(std::make_shared<const Value>(1));
  SnapshotCell<Value> b(std::make_shared<const Value>(2));
  std::shared_ptr<const Value> kept = a.Load();
  const int sum = a.Read([&](const std::shared_ptr<const Value>& x) {
    return x->version + b.Read([](const std::shared_ptr<const Value>& y) {
      return y->version;
    });
  });
  EXPECT_EQ(sum, 3);
  a.Store(std::make_shared<const Value>(5));
  // Storing from inside a read: the old value outlives the section.
  b.Read([&](const std::shared_ptr<const Value>& y) {
    b.Store(std::make_shared<const Value>(6));
    EXPECT_TRUE(y->Consistent());
    EXPECT_EQ(y->version, 2);
    return 0;
  });
  EXPECT_EQ(b.Load()->version, 6);
  EXPECT_TRUE(kept->Consistent());  // a Load()ed value stays alive
  EXPECT_EQ(kept->version, 1);
  EXPECT_EQ(a.Load()->version, 5);
  SnapshotCell<Value> empty;
  EXPECT_EQ(empty.Load(), nullptr);
}

}  // namespace
}  // namespace sdk
}  // namespace kess
