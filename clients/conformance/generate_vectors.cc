// Writes the conformance vectors (vectors.h) into a directory:
//
//   bazel run //clients/conformance:generate_vectors -- \
//       "$PWD/clients/conformance/vectors"
//
// Files the generator no longer produces are removed from the directory
// (those listed in its old MANIFEST), so the checked-in set is exactly
// what GenerateVectors() returns.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "clients/conformance/vectors.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <vectors directory>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  auto files = kess::clients::conformance::GenerateVectors();
  if (!files.ok()) {
    fprintf(stderr, "generate_vectors: %s\n", files.status().ToString().c_str());
    return 1;
  }
  {  // Remove what the previous run wrote and this one does not.
    std::ifstream old(dir + "/MANIFEST");
    std::stringstream text;
    text << old.rdbuf();
    for (const auto& line : absl::StrSplit(text.str(), '\n')) {
      const std::string path(line);
      if (!path.empty() && files->count(path) == 0) {
        unlink((dir + "/" + path).c_str());
      }
    }
  }
  for (const auto& [path, content] : *files) {
    const std::string full = dir + "/" + path;
    const std::string parent = full.substr(0, full.rfind('/'));
    const std::string mkdir = "mkdir -p '" + parent + "'";
    if (system(mkdir.c_str()) != 0) {
      fprintf(stderr, "generate_vectors: cannot create %s\n", parent.c_str());
      return 1;
    }
    std::ofstream out(full, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) {
      fprintf(stderr, "generate_vectors: cannot write %s\n", full.c_str());
      return 1;
    }
  }
  printf("wrote %zu files to %s\n", files->size(), dir.c_str());
  return 0;
}
