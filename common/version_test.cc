#include "common/version.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace kess {
namespace {

bool IsToken(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' ||
          c == '~' || c == '-')) {
      return false;
    }
  }
  return true;
}

TEST(VersionTest, ValuesArePlainTokens) {
  EXPECT_TRUE(IsToken(BuildVersion())) << BuildVersion();
  EXPECT_TRUE(IsToken(BuildCommit())) << BuildCommit();
}

TEST(VersionTest, ReleaseIsTheVersionFile) {
  std::ifstream in("VERSION");  // runfiles (data = //:VERSION)
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(BuildVersion(), line);
}

TEST(VersionTest, UnstampedTestBuildSaysDev) {
  // Tests are built without --stamp (only --config=deploy stamps).
  EXPECT_STREQ(BuildCommit(), "dev");
}

TEST(VersionTest, LineAndJson) {
  EXPECT_EQ(BuildVersionLine(),
            std::string(BuildVersion()) + " (commit dev)");
  EXPECT_EQ(BuildVersionJsonMembers(),
            std::string("\"version\":\"") + BuildVersion() +
                "\",\"commit\":\"dev\"");
}

}  // namespace
}  // namespace kess
