#include "model/names.h"

#include <string>

#include "gtest/gtest.h"

namespace kess {
namespace {

TEST(ValidateNameTest, AcceptsDocumentedCharset) {
  EXPECT_TRUE(ValidateName(NameKind::kKey, "db.timeout_ms-v2").ok());
  EXPECT_TRUE(ValidateName(NameKind::kService, "A").ok());
  EXPECT_TRUE(ValidateName(NameKind::kNamespace, "9lives").ok());
  EXPECT_TRUE(
      ValidateName(NameKind::kKey, std::string(kMaxNameLength, 'k')).ok());
}

TEST(ValidateNameTest, RejectsEmpty) {
  absl::Status s = ValidateName(NameKind::kKey, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "key name is empty");
}

TEST(ValidateNameTest, RejectsDotDotAndDot) {
  for (const char* bad : {"..", ".", "a..b", "../etc", ".hidden"}) {
    absl::Status s = ValidateName(NameKind::kNamespace, bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidateNameTest, RejectsSlashWithPosition) {
  absl::Status s = ValidateName(NameKind::kKey, "a/b");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'/' at offset 1"), std::string::npos)
      << s.message();
  EXPECT_EQ(s.message().find("key \"a/b\" is invalid"), 0u) << s.message();
}

TEST(ValidateNameTest, RejectsNulAndControlBytes) {
  std::string with_nul("ab\0cd", 5);
  absl::Status s = ValidateName(NameKind::kService, with_nul);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("0x00 at offset 2"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("\"ab?cd\""), std::string::npos) << s.message();
  EXPECT_FALSE(ValidateName(NameKind::kService, "a\nb").ok());
  EXPECT_FALSE(ValidateName(NameKind::kService, "a b").ok());
  EXPECT_FALSE(ValidateName(NameKind::kService, "caf\xc3\xa9").ok());
}

TEST(ValidateNameTest, RejectsOverLong) {
  absl::Status s =
      ValidateName(NameKind::kHost, std::string(kMaxNameLength + 1, 'h'));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("exceeds 128"), std::string::npos);
  // The message quotes only a prefix of the name.
  EXPECT_LT(s.message().size(), 200u);
}

}  // namespace
}  // namespace kess
