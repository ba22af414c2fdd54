#include "model/secrets/envelope.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "model/secrets/key_dir.h"
#include "model/secrets/key_ring.h"

namespace kess {
namespace secrets {
namespace {

KeyRing Ring(int keys) {
  KeyRing ring;
  for (int i = 0; i < keys; ++i) ring = AddNewKey(ring).value();
  return ring;
}

TEST(EnvelopeTest, RoundTrip) {
  const KeyRing ring = Ring(1);
  for (const std::string& plain :
       {std::string(), std::string("password=hunter2"),
        std::string("\0\xff binary\n", 10)}) {
    absl::StatusOr<std::string> sealed =
        Seal(ring.newest(), "shop", "db.password", plain);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_TRUE(LooksLikeEnvelope(*sealed));
    EXPECT_EQ(sealed->find("hunter2"), std::string::npos);
    EXPECT_TRUE(absl::StartsWith(*sealed, "kess:enc:v1:1:"));
    absl::StatusOr<std::string> opened =
        Open(ring, "shop", "db.password", *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(EnvelopeTest, FreshNoncePerValue) {
  const KeyRing ring = Ring(1);
  const std::string a = Seal(ring.newest(), "shop", "k", "same").value();
  const std::string b = Seal(ring.newest(), "shop", "k", "same").value();
  EXPECT_NE(a, b);
  EXPECT_NE(ParseEnvelope(a)->nonce, ParseEnvelope(b)->nonce);
}

TEST(EnvelopeTest, EveryTamperedByteIsRefused) {
  const KeyRing ring = Ring(1);
  const std::string sealed = Seal(ring.newest(), "shop", "k", "secret").value();
  Envelope env = ParseEnvelope(sealed).value();
  std::string raw = env.nonce + env.ciphertext + env.tag;
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string bad = raw;
    bad[i] ^= 0x01;
    const std::string value =
        absl::StrCat("kess:enc:v1:1:", absl::Base64Escape(bad));
    absl::StatusOr<std::string> opened = Open(ring, "shop", "k", value);
    EXPECT_TRUE(absl::IsDataLoss(opened.status())) << i << opened.status();
  }
}

TEST(EnvelopeTest, WrongKeyNamespaceOrConfigKeyIsRefused) {
  const KeyRing ring = Ring(1);
  const KeyRing other = Ring(1);  // same id 1, other bytes
  const std::string sealed = Seal(ring.newest(), "shop", "k", "secret").value();
  EXPECT_TRUE(absl::IsDataLoss(Open(other, "shop", "k", sealed).status()));
  EXPECT_TRUE(absl::IsDataLoss(Open(ring, "shop2", "k", sealed).status()));
  EXPECT_TRUE(absl::IsDataLoss(Open(ring, "shop", "k2", sealed).status()));
  // Relabelled with another key id of the same ring: the id is bound too.
  const KeyRing two = Ring(2);
  const std::string by1 = Seal(two.keys()[0], "shop", "k", "secret").value();
  std::string relabelled = by1;
  relabelled.replace(0, std::string("kess:enc:v1:1:").size(),
                     "kess:enc:v1:2:");
  EXPECT_TRUE(absl::IsDataLoss(Open(two, "shop", "k", relabelled).status()));
  EXPECT_EQ(Open(two, "shop", "k", by1).value(), "secret");
}

TEST(EnvelopeTest, UnknownKeyIdIsNotFound) {
  const KeyRing two = Ring(2);
  const std::string sealed = Seal(two.newest(), "shop", "k", "x").value();
  const KeyRing one = KeyRing::Create({two.keys()[0]}).value();
  EXPECT_TRUE(absl::IsNotFound(Open(one, "shop", "k", sealed).status()));
}

TEST(EnvelopeTest, MalformedAndTruncatedAreInvalid) {
  const KeyRing ring = Ring(1);
  const std::string sealed = Seal(ring.newest(), "shop", "k", "secret").value();
  for (size_t cut = 0; cut < sealed.size(); ++cut) {
    absl::StatusOr<std::string> opened =
        Open(ring, "shop", "k", sealed.substr(0, cut));
    EXPECT_FALSE(opened.ok()) << cut;
  }
  for (const char* bad :
       {"", "plain", "kess:enc:", "kess:enc:v2:1:AAAA", "kess:enc:v1:",
        "kess:enc:v1:0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "kess:enc:v1:01:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "kess:enc:v1:4294967296:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "kess:enc:v1:-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "kess:enc:v1:1:AAAA",  // shorter than nonce + tag
        "kess:enc:v1:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*",
        "kess:enc:v1:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseEnvelope(bad).status())) << bad;
  }
  EXPECT_FALSE(LooksLikeEnvelope("kess:en"));
}

TEST(EnvelopeTest, HugeValues) {
  const KeyRing ring = Ring(1);
  const std::string big(16 * 1024 * 1024, 'x');
  absl::StatusOr<std::string> sealed = Seal(ring.newest(), "shop", "k", big);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_LE(sealed->size(), kMaxEnvelopeBytes);
  EXPECT_EQ(Open(ring, "shop", "k", *sealed).value(), big);
  const std::string too_big(kMaxEnvelopeBytes, 'x');
  EXPECT_FALSE(Seal(ring.newest(), "shop", "k", too_big).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseEnvelope(absl::StrCat("kess:enc:v1:1:", too_big)).status()));
}

TEST(KeyRingTest, FormatParseAndRotation) {
  KeyRing ring = Ring(1);
  EXPECT_EQ(ring.newest().id, 1u);
  ring = AddNewKey(ring).value();
  EXPECT_EQ(ring.newest().id, 2u);
  absl::StatusOr<KeyRing> parsed = ParseKeyRing(FormatKeyRing(ring, "shop"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->keys().size(), 2u);
  EXPECT_EQ(parsed->keys()[0].bytes, ring.keys()[0].bytes);
  EXPECT_EQ(parsed->newest().bytes, ring.newest().bytes);
  // The old key still opens what it sealed.
  const std::string old = Seal(ring.keys()[0], "shop", "k", "v").value();
  EXPECT_EQ(Open(*parsed, "shop", "k", old).value(), "v");
}

TEST(KeyRingTest, BadFilesAreRefused) {
  const std::string key = absl::Base64Escape(std::string(32, 'k'));
  for (const std::string& text :
       {std::string(""), std::string("key 1 ") + key,
        std::string("kess-keyring 2\nkey 1 ") + key,
        std::string("kess-keyring 1\nkey 0 ") + key,
        std::string("kess-keyring 1\nkey 1 AAAA"),
        std::string("kess-keyring 1\nkey 1 ") + key + "\nkey 1 " + key,
        std::string("kess-keyring 1\n"),
        std::string("kess-keyring 1\nkey x ") + key}) {
    EXPECT_FALSE(ParseKeyRing(text).ok()) << text;
  }
  EXPECT_TRUE(
      ParseKeyRing(std::string("# c\n\nkess-keyring 1\nkey 7 ") + key).ok());
}

TEST(KeyRingTest, FilesAreWrittenPrivateAndLoosePermissionsRefused) {
  const std::string dir = ::testing::TempDir() + "/keys";
  mkdir(dir.c_str(), 0700);
  KeyRingDir keys(dir);
  EXPECT_TRUE(absl::IsNotFound(keys.Get("shop").status()));
  const KeyRing ring = Ring(1);
  ASSERT_TRUE(WriteKeyRingFile(keys.PathFor("shop"), ring, "shop").ok());
  struct stat st;
  ASSERT_EQ(stat(keys.PathFor("shop").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  absl::StatusOr<std::shared_ptr<const KeyRing>> got = keys.Get("shop");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->newest().bytes, ring.newest().bytes);
  // A rotated file is read again.
  const KeyRing rotated = AddNewKey(ring).value();
  ASSERT_TRUE(WriteKeyRingFile(keys.PathFor("shop"), rotated, "shop").ok());
  EXPECT_EQ(keys.Get("shop").value()->newest().id, 2u);
  chmod(keys.PathFor("shop").c_str(), 0644);
  EXPECT_TRUE(absl::IsPermissionDenied(keys.Get("shop").status()));
  EXPECT_FALSE(keys.Get("../shop").ok());
}

}  // namespace
}  // namespace secrets
}  // namespace kess
