// Secret namespaces through ConfigStore and GrayStore, on the in-memory
// ZooKeeper (namespace_settings.h, "secret"; docs/security.md, "Encrypted
// values"): values are stored as envelopes that open with the namespace's
// ring, formats are checked on the plaintext, rollback and promote keep
// sealed values, a write of an envelope under an older key re-seals it with
// the newest without checking its plaintext again (no oracle through the
// schema), and envelopes that do not belong are refused.
#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/core/namespace_settings.h"
#include "mandator/testing/test_util.h"
#include "model/secrets/envelope.h"
#include "model/secrets/key_dir.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::kess::mandator::testing::TestAcl;

class SecretValuesTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
    keys_dir_ = ::testing::TempDir() + "/secret_values_test_keys";
    mkdir(keys_dir_.c_str(), 0700);
    unlink((keys_dir_ + "/app.key").c_str());
    ConfigStore::Options options{*layout_, TestAcl(), 5, "m1"};
    options.secret_keys_dir = keys_dir_;
    auto store = ConfigStore::Create(client_.get(), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    gray_ = std::make_unique<GrayStore>(client_.get(), store_.get());
  }

  NamespaceSettingsStore& settings() { return store_->namespace_settings(); }

  // Adds a key to app's ring file and returns the ring.
  secrets::KeyRing Rotate() {
    absl::StatusOr<secrets::KeyRing> ring =
        secrets::LoadKeyRingFile(keys_dir_ + "/app.key");
    secrets::KeyRing next =
        secrets::AddNewKey(ring.ok() ? *ring : secrets::KeyRing()).value();
    EXPECT_TRUE(
        secrets::WriteKeyRingFile(keys_dir_ + "/app.key", next, "app").ok());
    return next;
  }

  void MakeSecret(const std::string& format = "") {
    NamespaceSettings s;
    s.format = format;
    s.secret = true;
    ASSERT_TRUE(settings().Set("app", s, "admin").ok());
  }

  absl::StatusOr<CommitResult> Put(const std::string& key,
                                   const std::string& value,
                                   const std::string& ns = "app") {
    PutRequest r;
    r.ns = ns;
    r.key = key;
    r.value = value;
    r.author = "alice";
    return store_->Put(r);
  }

  std::string Stored(const std::string& key) {
    absl::StatusOr<Config> c = store_->Get("app", key);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->value : "";
  }

  std::string keys_dir_;
  std::unique_ptr<ConfigStore> store_;
  std::unique_ptr<GrayStore> gray_;
};

TEST_F(SecretValuesTest, SecretNeedsAKeyRing) {
  NamespaceSettings s;
  s.secret = true;
  absl::Status set = settings().Set("app", s, "admin");
  EXPECT_EQ(set.code(), absl::StatusCode::kFailedPrecondition) << set;
  EXPECT_FALSE(settings().Get("app")->secret);
  Rotate();
  ASSERT_TRUE(settings().Set("app", s, "admin").ok());
  EXPECT_TRUE(settings().Get("app")->secret);
  // A mandator that lost the ring refuses writes rather than storing
  // plaintext.
  unlink((keys_dir_ + "/app.key").c_str());
  absl::StatusOr<CommitResult> put = Put("db.password", "hunter2");
  EXPECT_EQ(put.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::IsNotFound(store_->Get("app", "db.password").status()));
}

TEST_F(SecretValuesTest, ValuesAreStoredSealedAndHistoryKeepsCiphertext) {
  const secrets::KeyRing ring = Rotate();
  MakeSecret();
  ASSERT_TRUE(Put("db.password", "hunter2").ok());
  const std::string stored = Stored("db.password");
  EXPECT_TRUE(absl::StartsWith(stored, "kess:enc:v1:1:")) << stored;
  EXPECT_EQ(stored.find("hunter2"), std::string::npos);
  EXPECT_EQ(secrets::Open(ring, "app", "db.password", stored).value(),
            "hunter2");
  ASSERT_TRUE(Put("db.password", "correct horse").ok());
  absl::StatusOr<std::vector<Config>> history =
      store_->History("app", "db.password", 5);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  for (const Config& c : *history) {
    EXPECT_TRUE(secrets::LooksLikeEnvelope(c.value)) << c.value;
  }
  // Rollback: the old envelope is written again (it opens, so it is kept).
  RollbackRequest rollback;
  rollback.ns = "app";
  rollback.key = "db.password";
  rollback.to_revision = history->back().record.revision();
  rollback.author = "alice";
  ASSERT_TRUE(store_->Rollback(rollback).ok());
  EXPECT_EQ(Stored("db.password"), stored);
}

TEST_F(SecretValuesTest, FormatIsCheckedOnThePlaintext) {
  const secrets::KeyRing ring = Rotate();
  MakeSecret("json");
  absl::StatusOr<CommitResult> bad = Put("cfg", "{\"a\": ");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Put("cfg", "{\"a\": 1}").ok());
  absl::StatusOr<Config> c = store_->Get("app", "cfg");
  EXPECT_EQ(c->record.content_type(), "application/json");
  EXPECT_EQ(secrets::Open(ring, "app", "cfg", c->value).value(), "{\"a\": 1}");
}

TEST_F(SecretValuesTest, RotationReSealsWithTheNewestKey) {
  Rotate();
  MakeSecret();
  ASSERT_TRUE(Put("k", "v1").ok());
  const std::string old = Stored("k");
  ASSERT_TRUE(absl::StartsWith(old, "kess:enc:v1:1:"));
  const secrets::KeyRing two = Rotate();
  // What kessctl secrets reencrypt does: put the stored envelope back.
  ASSERT_TRUE(Put("k", old).ok());
  const std::string resealed = Stored("k");
  EXPECT_TRUE(absl::StartsWith(resealed, "kess:enc:v1:2:")) << resealed;
  EXPECT_EQ(secrets::Open(two, "app", "k", resealed).value(), "v1");
  // Already under the newest key: stored as it is.
  ASSERT_TRUE(Put("k", resealed).ok());
  EXPECT_EQ(Stored("k"), resealed);
  // Without key 1 the old envelope no longer opens anywhere.
  const secrets::KeyRing only2 = secrets::KeyRing::Create({two.newest()}).value();
  EXPECT_TRUE(absl::IsNotFound(secrets::Open(only2, "app", "k", old).status()));
}

TEST_F(SecretValuesTest, ForeignEnvelopesAreRefused) {
  Rotate();
  MakeSecret();
  ASSERT_TRUE(Put("a", "secret-a").ok());
  const std::string sealed_a = Stored("a");
  // Copied to another key of the same namespace: does not open.
  absl::StatusOr<CommitResult> copied = Put("b", sealed_a);
  EXPECT_EQ(copied.status().code(), absl::StatusCode::kInvalidArgument)
      << copied.status();
  // Sealed by a ring this mandator does not have.
  const secrets::KeyRing other = secrets::AddNewKey({}).value();
  absl::StatusOr<CommitResult> foreign =
      Put("a", secrets::Seal(other.newest(), "app", "a", "x").value());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Stored("a"), sealed_a);
  // A namespace that is not secret refuses values with the magic.
  absl::StatusOr<CommitResult> plain_ns = Put("a", sealed_a, "open");
  EXPECT_EQ(plain_ns.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Put("a", "kess:enc is fine mid-value", "open").ok());
}

// An envelope written back is not checked against the format or schema
// again: an admin who may change the schema but not read the value learns
// nothing of the plaintext from whether the write succeeds.
TEST_F(SecretValuesTest, EnvelopeWrittenBackIsNoPlaintextOracle) {
  const secrets::KeyRing one = Rotate();
  MakeSecret("json");
  ASSERT_TRUE(Put("cfg", R"({"pin": "1234"})").ok());
  const std::string stored = Stored("cfg");
  ASSERT_TRUE(absl::StartsWith(stored, "kess:enc:v1:1:")) << stored;
  // A schema the stored plaintext violates, and one it satisfies: the same
  // envelope written back is accepted under both and kept as it is.
  for (const char* pattern : {"^9", "^1"}) {
    NamespaceSettings s;
    s.format = "json";
    s.secret = true;
    s.json_schema = absl::StrCat(
        R"({"type": "object", "properties": {"pin": {"type": "string", )",
        R"("pattern": ")", pattern, R"("}}})");
    ASSERT_TRUE(settings().Set("app", s, "admin").ok());
    absl::StatusOr<CommitResult> back = Put("cfg", stored);
    EXPECT_TRUE(back.ok()) << pattern << ": " << back.status();
    EXPECT_EQ(Stored("cfg"), stored);
  }
  // Neither does the plaintext's syntax decide: an envelope of a value that
  // is not JSON (sealed by a holder of the ring) is accepted alike.
  const std::string not_json =
      secrets::Seal(one.newest(), "app", "other", "{").value();
  absl::StatusOr<CommitResult> sealed_bad = Put("other", not_json);
  EXPECT_TRUE(sealed_bad.ok()) << sealed_bad.status();
  // Rotation: the envelope is re-sealed under the newest key, still without
  // the checks (the schema's pattern is now "^1"; set "^9" again).
  NamespaceSettings strict;
  strict.format = "json";
  strict.secret = true;
  strict.json_schema =
      R"({"type": "object", "properties": {"pin": {"type": "string", "pattern": "^9"}}})";
  ASSERT_TRUE(settings().Set("app", strict, "admin").ok());
  const secrets::KeyRing two = Rotate();
  ASSERT_TRUE(Put("cfg", stored).ok());
  const std::string resealed = Stored("cfg");
  EXPECT_TRUE(absl::StartsWith(resealed, "kess:enc:v1:2:")) << resealed;
  EXPECT_EQ(secrets::Open(two, "app", "cfg", resealed).value(),
            R"({"pin": "1234"})");
  // A fresh plaintext is still checked: against the schema and the format.
  absl::StatusOr<CommitResult> fresh = Put("cfg", R"({"pin": "1234"})");
  EXPECT_EQ(fresh.status().code(), absl::StatusCode::kInvalidArgument)
      << fresh.status();
  EXPECT_EQ(Put("cfg", "{").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Put("cfg", R"({"pin": "9876"})").ok());
  // Envelopes that do not open are still refused.
  absl::StatusOr<CommitResult> foreign =
      Put("cfg", secrets::Seal(secrets::AddNewKey({}).value().newest(), "app",
                               "cfg", R"({"pin": "9"})")
                     .value());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SecretValuesTest, GrayValuesAreSealedAndPromoteKeepsThem) {
  const secrets::KeyRing ring = Rotate();
  MakeSecret();
  ASSERT_TRUE(Put("k", "base").ok());
  GrayRequest g;
  g.ns = "app";
  g.key = "k";
  g.value = "gray-secret";
  g.hosts = {"h1"};
  g.author = "alice";
  ASSERT_TRUE(gray_->Start(g).ok());
  absl::StatusOr<GrayInfo> info = gray_->Get("app", "k");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(secrets::LooksLikeEnvelope(info->value));
  EXPECT_EQ(secrets::Open(ring, "app", "k", info->value).value(),
            "gray-secret");
  GrayEndRequest end;
  end.ns = "app";
  end.key = "k";
  end.author = "alice";
  ASSERT_TRUE(gray_->Promote(end).ok());
  EXPECT_EQ(Stored("k"), info->value);
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
