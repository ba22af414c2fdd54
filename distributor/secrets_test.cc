#include "distributor/secrets.h"

#include "gtest/gtest.h"

namespace kess {
namespace distributor {
namespace {

TEST(SecretsTest, AuthToken) {
  EXPECT_EQ(*ParseAuthToken("\n  s3cret \n"), "s3cret");
  EXPECT_FALSE(ParseAuthToken(" \n\n").ok());
}

TEST(SecretsTest, ReaderCredentialOnlyNeedsTheReaderLine) {
  absl::StatusOr<zk::DigestCredential> c =
      ParseReaderCredential("# kess\nmandator:m-pw\nreader:r-pw\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->user, "reader");
  EXPECT_EQ(c->password, "r-pw");
  EXPECT_EQ(ParseReaderCredential("reader:only\n")->password, "only");
  absl::Status missing = ParseReaderCredential("mandator:m-pw\n").status();
  EXPECT_FALSE(missing.ok());
  absl::Status empty = ParseReaderCredential("reader:\n").status();
  EXPECT_FALSE(empty.ok());
  absl::Status garbage = ParseReaderCredential("hunter2\n").status();
  EXPECT_FALSE(garbage.ok());
  EXPECT_EQ(std::string(garbage.message()).find("hunter2"), std::string::npos);
  EXPECT_FALSE(LoadReaderCredentialFile("/nonexistent/auth").ok());
}

}  // namespace
}  // namespace distributor
}  // namespace kess
