// SecretValues: an envelope is decrypted into a 0600 entry with the
// namespace's ring; without the ring, without the key id, or tampered, the
// entry keeps the envelope (never plaintext) and is 0600; each outcome is
// counted; a rotated ring is read again.
#include "agent/secret_values.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "model/secrets/envelope.h"
#include "model/secrets/key_dir.h"

namespace kess {
namespace agent {
namespace {

using file_cache::CacheEntry;
using file_cache::CacheKey;

class SecretValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/agent_secret_keys";
    mkdir(dir_.c_str(), 0700);
    unlink((dir_ + "/shop.key").c_str());
    ring_ = secrets::AddNewKey({}).value();
  }

  CacheEntry Entry(const std::string& value) {
    CacheEntry e;
    e.key = CacheKey::Config("shop", "db.password");
    e.revision = 7;
    e.value = value;
    return e;
  }

  double Count(const char* result) {
    return registry_
        .GetCounter("kess_agent_secret_values_total", "", {{"result", result}})
        ->Value();
  }

  std::string dir_;
  secrets::KeyRing ring_;
  metrics::Registry registry_;
};

TEST_F(SecretValuesTest, DecryptsWithTheRingOnly) {
  SecretValues values({dir_, &registry_});
  const std::string sealed =
      secrets::Seal(ring_.newest(), "shop", "db.password", "hunter2").value();

  // No ring yet: the envelope stays, the file is private anyway.
  CacheEntry e = Entry(sealed);
  EXPECT_EQ(values.Open(&e), SecretValues::Result::kNoKey);
  EXPECT_EQ(e.value, sealed);
  EXPECT_EQ(e.file_mode, 0600);
  EXPECT_EQ(Count("no_key"), 1);

  ASSERT_TRUE(
      secrets::WriteKeyRingFile(dir_ + "/shop.key", ring_, "shop").ok());
  e = Entry(sealed);
  EXPECT_EQ(values.Open(&e), SecretValues::Result::kDecrypted);
  EXPECT_EQ(e.value, "hunter2");
  EXPECT_EQ(e.file_mode, 0600);
  EXPECT_EQ(Count("decrypted"), 1);

  // Sealed by a key the ring does not have yet (rotation reached the
  // mandators first): kept encrypted until the ring has it.
  const secrets::KeyRing rotated = secrets::AddNewKey(ring_).value();
  const std::string by2 =
      secrets::Seal(rotated.newest(), "shop", "db.password", "v2").value();
  e = Entry(by2);
  EXPECT_EQ(values.Open(&e), SecretValues::Result::kNoKey);
  EXPECT_EQ(e.value, by2);
  ASSERT_TRUE(
      secrets::WriteKeyRingFile(dir_ + "/shop.key", rotated, "shop").ok());
  e = Entry(by2);
  EXPECT_EQ(values.Open(&e), SecretValues::Result::kDecrypted);
  EXPECT_EQ(e.value, "v2");

  // Tampered, or another key's envelope: failed, kept as it came.
  std::string tampered = sealed;
  tampered[tampered.size() - 5] ^= 0x01;
  if (tampered[tampered.size() - 5] == '=') tampered[tampered.size() - 5] = 'A';
  e = Entry(tampered);
  EXPECT_NE(values.Open(&e), SecretValues::Result::kDecrypted);
  EXPECT_EQ(e.value, tampered);
  CacheEntry other = Entry(sealed);
  other.key = CacheKey::Config("shop", "other.key");
  EXPECT_EQ(values.Open(&other), SecretValues::Result::kFailed);
  EXPECT_EQ(other.value, sealed);
  EXPECT_GE(Count("failed"), 1);
}

TEST_F(SecretValuesTest, PlainValuesRoutesAndTombstonesAreUntouched) {
  SecretValues values({dir_, &registry_});
  CacheEntry plain = Entry("plain");
  EXPECT_EQ(values.Open(&plain), SecretValues::Result::kNotSecret);
  EXPECT_EQ(plain.file_mode, 0644);
  CacheEntry route = Entry("kess:enc:v1:1:AAAA");
  route.key = CacheKey::Route("payments");
  EXPECT_EQ(values.Open(&route), SecretValues::Result::kNotSecret);
  CacheEntry tombstone = Entry("");
  tombstone.absent = true;
  EXPECT_EQ(values.Open(&tombstone), SecretValues::Result::kNotSecret);
}

// A namespace is secret once an envelope of it arrives (decrypted or not),
// or when an earlier run left a 0600 file of it in the cache; plain values
// mark nothing.
TEST_F(SecretValuesTest, MarksSecretNamespaces) {
  SecretValues values({dir_, &registry_});
  CacheEntry plain = Entry("not secret");
  plain.key = CacheKey::Config("open", "k");
  values.Open(&plain);
  EXPECT_FALSE(values.IsSecretNamespace("open"));
  EXPECT_FALSE(values.IsSecretNamespace("shop"));
  CacheEntry e = Entry(
      secrets::Seal(ring_.newest(), "shop", "db.password", "hunter2").value());
  values.Open(&e);  // no ring: kept encrypted, still secret
  EXPECT_TRUE(values.IsSecretNamespace("shop"));
  EXPECT_FALSE(values.IsSecretNamespace("open"));

  const std::string cache = ::testing::TempDir() + "/agent_secret_cache";
  for (const std::string& d :
       {cache, cache + "/configs", cache + "/configs/payroll",
        cache + "/configs/open", cache + "/configs/empty"}) {
    mkdir(d.c_str(), 0755);
  }
  auto write = [](const std::string& path, mode_t mode) {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("{}", f);
    fclose(f);
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  };
  write(cache + "/configs/payroll/a.json", 0644);
  write(cache + "/configs/payroll/db_password.json", 0600);
  write(cache + "/configs/open/x.json", 0644);
  SecretValues restarted({dir_, &registry_});
  EXPECT_EQ(restarted.MarkFromCache(cache), 1u);
  EXPECT_TRUE(restarted.IsSecretNamespace("payroll"));
  EXPECT_FALSE(restarted.IsSecretNamespace("open"));
  EXPECT_FALSE(restarted.IsSecretNamespace("empty"));
  EXPECT_EQ(restarted.MarkFromCache(cache + "/missing"), 0u);
}

}  // namespace
}  // namespace agent
}  // namespace kess
