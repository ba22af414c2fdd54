// CommitLeaderWrite over the in-memory ZooKeeper: each kind of write reaches
// its store, fenced; no fence (not the leader) or a fence that is gone
// writes nothing.
#include "mandator/core/leader_write.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/core/write_queue.h"
#include "zk_schema/layout.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::testing::HasSubstr;

constexpr char kFence[] = "/fence";

class LeaderWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<zk::Layout> layout = zk::Layout::Create("/kess");
    ASSERT_TRUE(layout.ok()) << layout.status();
    zk::SchemaInfo info;
    info.set_datacenter("dc1");
    info.set_is_main(true);
    ASSERT_TRUE(zk::EnsureSkeleton(zk_, *layout, info, 100).ok());
    ASSERT_TRUE(zk_.Create(kFence, "").ok());
    ConfigStore::Options options;
    options.layout = *layout;
    options.writer_id = "m1";
    absl::StatusOr<std::unique_ptr<ConfigStore>> store =
        ConfigStore::Create(&zk_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    configs_ = *std::move(store);
    gray_ = std::make_unique<GrayStore>(&zk_, configs_.get());
  }

  absl::StatusOr<CommitResult> Commit(WriteOp op,
                                      const std::string& fence = kFence) {
    return CommitLeaderWrite(op, fence, configs_.get(), gray_.get());
  }

  static WriteOp Put(const std::string& value) {
    PutRequest put;
    put.ns = "ns";
    put.key = "k";
    put.value = value;
    put.author = "alice";
    return WriteOp::Put(put);
  }

  int64_t Revision() { return configs_->Revision().value_or(-1); }

  std::string Value() {
    absl::StatusOr<Config> config = configs_->Get("ns", "k");
    return config.ok() ? config->value : config.status().ToString();
  }

  zk::testing::FakeZkServer server_;
  zk::testing::FakeZkClient zk_{&server_};
  std::unique_ptr<ConfigStore> configs_;
  std::unique_ptr<GrayStore> gray_;
};

TEST_F(LeaderWriteTest, EveryKindReachesItsStore) {
  absl::StatusOr<CommitResult> put = Commit(Put("v1"));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->revision, 1);
  EXPECT_EQ(put->version, 1);
  ASSERT_TRUE(Commit(Put("v2")).ok());

  RollbackRequest rollback;
  rollback.ns = "ns";
  rollback.key = "k";
  rollback.to_revision = 1;
  absl::StatusOr<CommitResult> rolled = Commit(WriteOp::Rollback(rollback));
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_EQ(rolled->revision, 3);
  EXPECT_EQ(Value(), "v1");

  GrayRequest gray;
  gray.ns = "ns";
  gray.key = "k";
  gray.value = "g";
  gray.hosts = {"h1"};
  absl::StatusOr<CommitResult> started = Commit(WriteOp::GrayStart(gray));
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->revision, 4);
  EXPECT_TRUE(gray_->Get("ns", "k").ok());
  GrayEndRequest end;
  end.ns = "ns";
  end.key = "k";
  absl::StatusOr<CommitResult> promoted =
      Commit(WriteOp::GrayEnd(end, /*promote=*/true));
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(Value(), "g");
  EXPECT_EQ(gray_->Get("ns", "k").status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(Commit(WriteOp::GrayStart(gray)).ok());
  ASSERT_TRUE(Commit(WriteOp::GrayEnd(end, /*promote=*/false)).ok());
  EXPECT_EQ(gray_->Get("ns", "k").status().code(), absl::StatusCode::kNotFound);

  DeleteRequest del;
  del.ns = "ns";
  del.key = "k";
  ASSERT_TRUE(Commit(WriteOp::Delete(del)).ok());
  EXPECT_EQ(configs_->Get("ns", "k").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LeaderWriteTest, NoFenceWritesNothing) {
  absl::StatusOr<CommitResult> refused = Commit(Put("v1"), "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("no longer the leader; nothing was written"));
  EXPECT_EQ(Revision(), 0);
}

TEST_F(LeaderWriteTest, GoneFenceWritesNothing) {
  ASSERT_TRUE(Commit(Put("v1")).ok());
  ASSERT_TRUE(zk_.Delete(kFence).ok());
  absl::StatusOr<CommitResult> refused = Commit(Put("v2"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(Value(), "v1");
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
