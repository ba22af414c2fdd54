// Gray release in ConfigStore on the in-memory ZooKeeper: the revision
// sequences of start / promote / abort and the refusal of normal writes.
#include "mandator/core/gray_store.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/gray.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::kess::mandator::testing::TestAcl;

class GrayStoreTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
    auto store = ConfigStore::Create(
        client_.get(), ConfigStore::Options{*layout_, TestAcl(), 5, "m1"});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    gray_ = std::make_unique<GrayStore>(client_.get(), store_.get());
  }

  int64_t Put(const std::string& value) {
    PutRequest r;
    r.ns = "ns";
    r.key = "k";
    r.value = value;
    r.content_type = "text/plain";
    auto result = store_->Put(r);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->revision : -1;
  }

  absl::StatusOr<CommitResult> Start(const std::string& value,
                                     std::vector<std::string> hosts,
                                     uint32_t pct = 0) {
    GrayRequest r;
    r.ns = "ns";
    r.key = "k";
    r.value = value;
    r.hosts = std::move(hosts);
    r.percentage = pct;
    r.author = "alice";
    return gray_->Start(r);
  }

  GrayEndRequest End() {
    GrayEndRequest r;
    r.ns = "ns";
    r.key = "k";
    r.author = "alice";
    return r;
  }

  std::unique_ptr<ConfigStore> store_;
  std::unique_ptr<GrayStore> gray_;
};

TEST_F(GrayStoreTest, StartThenPromote) {
  const int64_t rb = Put("v1");
  auto started = Start("v2", {"host-b", "host-a"});
  ASSERT_TRUE(started.ok()) << started.status();
  const int64_t rg = started->revision;
  EXPECT_GT(rg, rb);

  auto gray = gray_->Get("ns", "k");
  ASSERT_TRUE(gray.ok()) << gray.status();
  EXPECT_TRUE(gray->active);
  EXPECT_EQ(gray->value, "v2");
  EXPECT_EQ(gray->record.revision(), rg);
  EXPECT_EQ(gray->record.base_revision(), rb);
  EXPECT_EQ(gray->record.content_type(), "text/plain");
  ASSERT_EQ(gray->record.hosts_size(), 2);
  EXPECT_EQ(gray->record.hosts(0), "host-a");  // sorted
  EXPECT_TRUE(zk::GraySelects(gray->record, "host-b"));
  EXPECT_FALSE(zk::GraySelects(gray->record, "host-c"));
  // The config itself is untouched.
  auto config = store_->Get("ns", "k");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->value, "v1");
  EXPECT_EQ(config->record.revision(), rb);

  auto promoted = gray_->Promote(End());
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_GT(promoted->revision, rg);
  config = store_->Get("ns", "k");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->value, "v2");
  EXPECT_EQ(config->record.revision(), promoted->revision);
  EXPECT_TRUE(absl::IsNotFound(gray_->Get("ns", "k").status()));
  // The GRAY_DELETE came after it.
  auto revision = store_->Revision();
  ASSERT_TRUE(revision.ok());
  EXPECT_EQ(*revision, promoted->revision + 1);
  auto change = client_->Get(layout_->ChangelogPath(*revision));
  ASSERT_TRUE(change.ok());
  auto record = zk::DecodeAs<zk::ChangeRecord>(change->data, "change");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->kind(), zk::GRAY_DELETE);
  // Normal writes work again.
  EXPECT_GT(Put("v3"), *revision);
}

TEST_F(GrayStoreTest, AGrayValueIsCheckedInTheConfigsFormat) {
  PutRequest base;
  base.ns = "ns";
  base.key = "k";
  base.value = "{\"timeout_ms\": 100}";
  base.content_type = "application/json";
  ASSERT_TRUE(store_->Put(base).ok());
  // No content type given: the gray value takes the config's, JSON.
  absl::StatusOr<CommitResult> broken = Start("{\"timeout_ms\": }", {"h1"});
  ASSERT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("json: line 1, column 16"),
            std::string::npos)
      << broken.status().message();
  EXPECT_EQ(gray_->Get("ns", "k").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Start("{\"timeout_ms\": 200}", {"h1"}).ok());
}

TEST_F(GrayStoreTest, AbortRecommitsTheBaseAtAHigherRevision) {
  const int64_t rb = Put("v1");
  auto started = Start("v2", {}, 30);
  ASSERT_TRUE(started.ok()) << started.status();
  auto aborted = gray_->Abort(End());
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  EXPECT_GT(aborted->revision, started->revision);
  EXPECT_GT(started->revision, rb);
  auto config = store_->Get("ns", "k");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->value, "v1");
  EXPECT_EQ(config->record.revision(), aborted->revision);
  EXPECT_TRUE(absl::IsNotFound(gray_->Get("ns", "k").status()));
  // Nothing to abort or promote any more.
  EXPECT_TRUE(absl::IsFailedPrecondition(gray_->Abort(End()).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(gray_->Promote(End()).status()));
}

TEST_F(GrayStoreTest, NormalWritesAreRefusedDuringGray) {
  const int64_t rb = Put("v1");
  ASSERT_TRUE(Start("v2", {"host-a"}).ok());
  PutRequest put;
  put.ns = "ns";
  put.key = "k";
  put.value = "v3";
  absl::Status refused = store_->Put(put).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find("gray release"), std::string::npos);
  DeleteRequest del;
  del.ns = "ns";
  del.key = "k";
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Delete(del).status()));
  RollbackRequest rollback;
  rollback.ns = "ns";
  rollback.key = "k";
  rollback.to_revision = rb;
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Rollback(rollback).status()));
  // A second gray start too.
  EXPECT_TRUE(absl::IsFailedPrecondition(Start("v4", {"host-b"}).status()));
  auto config = store_->Get("ns", "k");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->value, "v1");
  // Other keys are not affected.
  put.key = "other";
  EXPECT_TRUE(store_->Put(put).ok());
}

TEST_F(GrayStoreTest, BadInput) {
  EXPECT_TRUE(absl::IsNotFound(Start("v", {"host-a"}).status()));
  Put("v1");
  EXPECT_TRUE(absl::IsInvalidArgument(Start("v", {}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Start("v", {}, 101).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Start("v", {"../x"}).status()));
  GrayRequest r;
  r.ns = "ns";
  r.key = "k";
  r.value = "v";
  r.percentage = 10;
  r.expected_revision = 999;
  EXPECT_TRUE(absl::IsAborted(gray_->Start(r).status()));
  EXPECT_TRUE(absl::IsNotFound(gray_->Get("ns", "k").status()));
}

TEST_F(GrayStoreTest, ChunkedGrayValue) {
  Put("v1");
  const std::string big(600 * 1024, 'x');
  ASSERT_TRUE(Start(big, {"host-a"}).ok());
  auto gray = gray_->Get("ns", "k");
  ASSERT_TRUE(gray.ok()) << gray.status();
  EXPECT_EQ(gray->value, big);
  auto promoted = gray_->Promote(End());
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  auto config = store_->Get("ns", "k");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->value, big);
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
