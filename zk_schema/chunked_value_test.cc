// Chunked values against a real ZooKeeper: 1 MB, 5 MB and 16 MiB round
// trips, 16 MiB + 1 rejected with nothing written, readers never see a torn
// value, replaced chunks are collected, corruption is detected.
#include "zk_schema/chunked_value.h"

#include <stdlib.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/harness/zk_test_base.h"
#include "zk_schema/codec.h"
#include "zk_schema/testing/real_zk.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace zk {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

std::string RandomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8 && i + j < size; ++j) {
      out[i + j] = static_cast<char>(r >> (8 * j));
    }
  }
  return out;
}

// The harness sizes ZooKeeper's response cache for chunked values (see
// ZkEnsembleOptions::jvm_flags and zk_schema/README.md, "Sizing the ZooKeeper
// servers").
class ChunkedValueTest : public kess::testing::ZkTestBase {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ZkClient>> c =
        ZkClient::Create(testing::TestClientOptions(zk()->ConnectString()));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
    absl::StatusOr<Layout> layout = testing::CreateTestTree(
        *client_,
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
    store_ = std::make_unique<ChunkedValueStore>(client_.get(), layout_);
  }

  std::vector<std::string> ChunkSets() {
    absl::StatusOr<ChildrenResult> c =
        client_->GetChildren(layout_.ChunksDir());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->children : std::vector<std::string>{};
  }

  std::string ValuePath() { return layout_.root() + "/value"; }

  std::unique_ptr<ZkClient> client_;
  Layout layout_;
  std::unique_ptr<ChunkedValueStore> store_;
};

TEST_F(ChunkedValueTest, RoundTripsUpTo16MiB) {
  const Meta meta = MakeMeta("alice", "test");
  struct Case {
    size_t size;
    size_t chunks;
  };
  static_assert(kChunkBytes == 128 * 1024, "the counts below assume it");
  for (Case c : {Case{1000, 0}, Case{1000 * 1000, 8}, Case{5 * 1024 * 1024, 40},
                 Case{kMaxValueBytes, 128}}) {
    SCOPED_TRACE(c.size);
    const std::string value = RandomBytes(c.size, c.size);
    absl::StatusOr<Stat> written = store_->Write(ValuePath(), value, meta);
    ASSERT_TRUE(written.ok()) << written.status();
    absl::StatusOr<ChunkedValueStore::ReadResult> read =
        store_->Read(ValuePath());
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_EQ(read->value.size(), value.size());
    EXPECT_TRUE(read->value == value);
    absl::StatusOr<StoredValue> stored =
        DecodeAs<StoredValue>(read->record, ValuePath());
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->crc32(), Crc32(value));
    EXPECT_EQ(stored->chunked().chunk_sizes_size(), static_cast<int>(c.chunks));
    // The replaced value's chunk set was collected: at most the current one.
    EXPECT_THAT(ChunkSets(), SizeIs(c.chunks > 0 ? 1 : 0));
  }
}

TEST_F(ChunkedValueTest, Above16MiBIsRejectedAndNothingIsWritten) {
  const std::string value(kMaxValueBytes + 1, 'x');
  absl::StatusOr<Stat> written =
      store_->Write(ValuePath(), value, MakeMeta("alice", "test"));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(written.status().message(), HasSubstr("16 MiB"));
  EXPECT_THAT(written.status().message(), HasSubstr("16777217"));
  EXPECT_FALSE(client_->Exists(ValuePath())->has_value());
  EXPECT_THAT(ChunkSets(), SizeIs(0));
}

TEST_F(ChunkedValueTest, ReadersSeeTheOldOrTheNewCompleteValue) {
  const std::string a = RandomBytes(2 * 1024 * 1024, 1);
  const std::string b = RandomBytes(3 * 1024 * 1024 + 7, 2);
  const Meta meta = MakeMeta("alice", "test");
  ASSERT_TRUE(store_->Write(ValuePath(), a, meta).ok());
  std::atomic<bool> writer_done{false};
  std::atomic<int> write_errors{0};
  std::thread writer([&] {
    for (int i = 0; i < 16; ++i) {
      if (!store_->Write(ValuePath(), i % 2 == 0 ? b : a, meta).ok()) {
        ++write_errors;
      }
    }
    writer_done = true;
  });
  int reads = 0, torn = 0, other_errors = 0, unavailable = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (!writer_done && absl::Now() < deadline) {
    absl::StatusOr<ChunkedValueStore::ReadResult> r = store_->Read(ValuePath());
    if (!r.ok()) {
      // Losing every retry to the writer is allowed (Unavailable); anything
      // else (DataLoss, ...) is a bug.
      if (r.status().code() == absl::StatusCode::kUnavailable) {
        ++unavailable;
      } else {
        ++other_errors;
        ADD_FAILURE() << r.status();
      }
      continue;
    }
    ++reads;
    if (r->value != a && r->value != b) ++torn;
  }
  writer.join();
  std::cout << "concurrent reads: " << reads << " complete, " << unavailable
            << " lost every retry to the writer\n";
  EXPECT_TRUE(writer_done) << "writer did not finish within the deadline";
  EXPECT_EQ(write_errors, 0);
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(other_errors, 0);
  EXPECT_GT(reads, 0);
  EXPECT_EQ(store_->Read(ValuePath())->value, a);  // the 16th write
  EXPECT_THAT(ChunkSets(), SizeIs(1));
}

TEST_F(ChunkedValueTest, ReaderRetriesWhenTheValueIsReplacedMidRead) {
  const Meta meta = MakeMeta("alice", "test");
  const std::string old_value = RandomBytes(1000 * 1000, 6);
  const std::string new_value = RandomBytes(2000 * 1000, 7);
  ASSERT_TRUE(store_->Write(ValuePath(), old_value, meta).ok());
  int extractions = 0;
  // The first extraction sees the old manifest, then a writer flips the
  // value and collects the old chunks before the reader fetches them.
  absl::StatusOr<ChunkedValueStore::ReadResult> read = store_->ReadRecord(
      ValuePath(),
      [&](absl::string_view record) -> absl::StatusOr<StoredValue> {
        if (++extractions == 1) {
          absl::StatusOr<Stat> w = store_->Write(ValuePath(), new_value, meta);
          if (!w.ok()) return w.status();
        }
        return DecodeAs<StoredValue>(record, ValuePath());
      });
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(extractions, 2);
  EXPECT_TRUE(read->value == new_value);
}

TEST_F(ChunkedValueTest, CorruptChunkIsDataLoss) {
  const std::string value = RandomBytes(1000 * 1000, 3);
  ASSERT_TRUE(
      store_->Write(ValuePath(), value, MakeMeta("alice", "test")).ok());
  absl::StatusOr<StoredValue> stored =
      DecodeAs<StoredValue>(client_->Get(ValuePath())->data, "v");
  ASSERT_TRUE(stored.ok());
  const std::string chunk_path =
      *layout_.ChunkPath(stored->chunked().chunk_set(), 1);
  absl::StatusOr<Chunk> chunk =
      DecodeAs<Chunk>(client_->Get(chunk_path)->data, chunk_path);
  ASSERT_TRUE(chunk.ok());
  (*chunk->mutable_data())[100] ^= 0x01;  // one flipped bit
  ASSERT_TRUE(client_->Set(chunk_path, Encode(*chunk)).ok());
  absl::StatusOr<ChunkedValueStore::ReadResult> read =
      store_->Read(ValuePath());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr(chunk_path));
}

TEST_F(ChunkedValueTest, VersionCheckedWriteLosesCleanly) {
  const Meta meta = MakeMeta("alice", "test");
  const std::string first = RandomBytes(1000 * 1000, 4);
  absl::StatusOr<Stat> v0 = store_->Write(ValuePath(), first, meta);
  ASSERT_TRUE(v0.ok());
  absl::StatusOr<Stat> stale = store_->Write(
      ValuePath(), RandomBytes(1000 * 1000, 5), meta, v0->version + 1);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store_->Read(ValuePath())->value, first);
  EXPECT_THAT(ChunkSets(), SizeIs(1));  // the loser's chunks are gone
  EXPECT_TRUE(store_->Write(ValuePath(), "small", meta, v0->version).ok());
  EXPECT_EQ(store_->Read(ValuePath())->value, "small");
  EXPECT_THAT(ChunkSets(), SizeIs(0));
}

}  // namespace
}  // namespace zk
}  // namespace kess
