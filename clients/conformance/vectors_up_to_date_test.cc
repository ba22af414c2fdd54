// The checked-in vectors are exactly what the generator (the SDK's code)
// produces now. When this fails, the SDK's behaviour changed: regenerate
//
//   bazel run //clients/conformance:generate_vectors -- \
//       "$PWD/clients/conformance/vectors"
//
// and commit the vectors with the change (every client must follow).
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "clients/conformance/vectors.h"
#include "gtest/gtest.h"

namespace kess {
namespace clients {
namespace conformance {
namespace {

const char kVectors[] = "clients/conformance/vectors";

TEST(VectorsUpToDateTest, CheckedInFilesEqualAFreshRun) {
  auto files = GenerateVectors();
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_GT(files->size(), 10u);
  for (const auto& [path, content] : *files) {
    std::ifstream in(std::string(kVectors) + "/" + path, std::ios::binary);
    ASSERT_TRUE(in.good()) << path << " is not checked in (regenerate)";
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_TRUE(text.str() == content)
        << path << " differs from a fresh run (regenerate the vectors)";
  }
  // Nothing checked in that the generator no longer writes.
  std::set<std::string> on_disk;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(kVectors)) {
    if (entry.is_directory()) continue;
    // Runfiles are symlinks: strip the prefix, do not resolve them.
    const std::string path = entry.path().string();
    on_disk.insert(path.substr(std::string(kVectors).size() + 1));
  }
  for (const std::string& path : on_disk) {
    EXPECT_EQ(files->count(path), 1u)
        << path << " is checked in but no longer generated";
  }
}

TEST(VectorsUpToDateTest, GeneratingTwiceGivesTheSameBytes) {
  auto a = GenerateVectors();
  auto b = GenerateVectors();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b);
}

}  // namespace
}  // namespace conformance
}  // namespace clients
}  // namespace kess
