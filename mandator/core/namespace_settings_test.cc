// NamespaceSettingsStore through ConfigStore and GrayStore, on the
// in-memory ZooKeeper: a namespace's format and JSON Schema are enforced on
// every write (nothing written on a refusal), the format's content type is
// taken when a write sends none, settings survive the namespace's first
// write, and bad settings are refused.
#include "mandator/core/namespace_settings.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/testing/test_util.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::kess::mandator::testing::TestAcl;

constexpr char kPortSchema[] = R"({
  "type": "object",
  "required": ["port"],
  "properties": {"port": {"type": "integer", "minimum": 1}}
})";

class NamespaceSettingsTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
    auto store = ConfigStore::Create(
        client_.get(), ConfigStore::Options{*layout_, TestAcl(), 5, "m1"});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    gray_ = std::make_unique<GrayStore>(client_.get(), store_.get());
  }

  NamespaceSettingsStore& settings() { return store_->namespace_settings(); }

  absl::StatusOr<CommitResult> Put(const std::string& key,
                                   const std::string& value,
                                   const std::string& content_type = "") {
    PutRequest r;
    r.ns = "app";
    r.key = key;
    r.value = value;
    r.content_type = content_type;
    r.author = "alice";
    return store_->Put(r);
  }

  std::unique_ptr<ConfigStore> store_;
  std::unique_ptr<GrayStore> gray_;
};

TEST_F(NamespaceSettingsTest, DefaultsWhenUnset) {
  absl::StatusOr<NamespaceSettings> s = settings().Get("nothing-here");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->format, "");
  EXPECT_EQ(s->json_schema, "");
  EXPECT_FALSE(settings().Get("../etc").ok());
}

TEST_F(NamespaceSettingsTest, FormatIsEnforcedAndItsContentTypeTaken) {
  ASSERT_TRUE(settings().Set("app", {"yml", "", "", 0}, "admin").ok());
  absl::StatusOr<NamespaceSettings> s = settings().Get("app");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->format, "yaml");  // canonical name stored
  EXPECT_EQ(s->author, "admin");

  ASSERT_TRUE(Put("db", "pool: 8\n").ok());
  EXPECT_EQ(store_->Get("app", "db")->record.content_type(),
            "application/yaml");
  // The namespace node written by the first put kept the settings.
  EXPECT_EQ(settings().Get("app")->format, "yaml");

  absl::StatusOr<CommitResult> broken = Put("db", "pool: [8\n");
  ASSERT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("is not valid yaml: yaml: line "),
            std::string::npos)
      << broken.status().message();
  absl::StatusOr<CommitResult> json = Put("db", "{}", "application/json");
  ASSERT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(json.status().message().find("holds yaml values"),
            std::string::npos);
  EXPECT_EQ(store_->Get("app", "db")->value, "pool: 8\n");  // untouched
}

TEST_F(NamespaceSettingsTest, SchemaIsEnforcedOnPutsAndGrayValues) {
  ASSERT_TRUE(settings().Set("app", {"json", kPortSchema, "", 0}, "admin").ok());
  ASSERT_TRUE(Put("svc", R"({"port": 80})").ok());
  absl::StatusOr<CommitResult> zero = Put("svc", R"({"port": 0})");
  ASSERT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("does not satisfy the JSON Schema"),
            std::string::npos);
  EXPECT_NE(zero.status().message().find("/port"), std::string::npos);
  EXPECT_NE(zero.status().message().find("nothing was written"),
            std::string::npos);

  GrayRequest gray;
  gray.ns = "app";
  gray.key = "svc";
  gray.value = R"({"name": "x"})";  // no port
  gray.hosts = {"h1"};
  gray.author = "alice";
  absl::StatusOr<CommitResult> started = gray_->Start(gray);
  ASSERT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gray_->Get("app", "svc").status().code(),
            absl::StatusCode::kNotFound);
  gray.value = R"({"port": 81})";
  ASSERT_TRUE(gray_->Start(gray).ok());
  EXPECT_EQ(gray_->Get("app", "svc")->record.content_type(),
            "application/json");

  // Changing the schema applies to the next write without a restart.
  ASSERT_TRUE(settings().Set("app", {"json", "", "", 0}, "admin").ok());
  EXPECT_TRUE(Put("other", R"({"port": 0})").ok());
}

TEST_F(NamespaceSettingsTest, BadSettingsAreRefusedAndChangeNothing) {
  ASSERT_TRUE(settings().Set("app", {"json", kPortSchema, "", 0}, "a").ok());
  EXPECT_EQ(settings().Set("app", {"toml", "", "", 0}, "a").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(settings().Set("app", {"", kPortSchema, "", 0}, "a").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(settings().Set("app", {"properties", kPortSchema, "", 0}, "a")
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(settings().Set("app", {"json", R"({"type": 7})", "", 0}, "a")
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(settings().Set("a/b", {"json", "", "", 0}, "a").code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<NamespaceSettings> s = settings().Get("app");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->format, "json");
  EXPECT_EQ(s->json_schema, kPortSchema);
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
