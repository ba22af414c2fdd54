// The CI smoke run of a libFuzzer target, without libFuzzer: a main() that
// runs the target's LLVMFuzzerTestOneInput over its seed corpus, then over
// inputs mutated from the seeds by a fixed-seed PRNG (bit flips, byte
// inserts and deletes, truncation, splices of two seeds, interesting
// bytes). Deterministic, so a failure reproduces; scripts/fuzz.sh does the
// real, coverage-guided fuzzing with clang.
//
//   fuzz_replay <corpus_dir> [mutations (default 5000)]
//
// <corpus_dir> is relative to the runfiles root of the test (or absolute).
// Exits non-zero when the corpus is missing or empty; a violated property
// aborts inside the target.
#include <dirent.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string RunfilesPath(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return path;
  return std::string(srcdir) + "/" + (workspace ? workspace : "kess") + "/" +
         path;
}

std::vector<std::string> ReadCorpus(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());  // deterministic order
  std::vector<std::string> seeds;
  for (const std::string& name : names) {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    seeds.push_back(buf.str());
  }
  return seeds;
}

void Run(const std::string& input) {
  // A copy in an exactly sized heap block, as libFuzzer does, so that a
  // read past the end is caught by sanitizers when they are on.
  std::vector<uint8_t> copy(input.begin(), input.end());
  LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
}

std::string Mutate(const std::vector<std::string>& seeds, std::mt19937* rng) {
  auto pick = [&](size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(*rng);
  };
  static const char kInteresting[] = {
      0,   1,   '"', '\\', '{', '}',    '[',    ']',    ',', ':',
      '/', '.', '-', '0',  '9', '\x7f', '\x80', '\xff', 'e', 'u'};
  std::string s = seeds[pick(seeds.size())];
  const int rounds = 1 + static_cast<int>(pick(8));
  for (int r = 0; r < rounds; ++r) {
    switch (pick(7)) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << pick(8));
        break;
      case 1:  // insert an interesting byte
        s.insert(s.begin() + pick(s.size() + 1),
                 kInteresting[pick(sizeof(kInteresting))]);
        break;
      case 2:  // delete a range
        if (!s.empty()) {
          size_t at = pick(s.size());
          s.erase(at, 1 + pick(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 3:  // truncate
        s.resize(pick(s.size() + 1));
        break;
      case 4: {  // splice another seed in
        const std::string& other = seeds[pick(seeds.size())];
        size_t from = pick(other.size() + 1);
        s.insert(pick(s.size() + 1), other.substr(from, pick(64)));
        break;
      }
      case 5:  // overwrite a byte with a random one
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(pick(256));
        break;
      case 6:  // duplicate a range
        if (!s.empty()) {
          size_t at = pick(s.size());
          s.insert(at, s.substr(at, 1 + pick(32)));
        }
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus_dir> [mutations]\n", argv[0]);
    return 2;
  }
  const std::string dir = RunfilesPath(argv[1]);
  const long mutations = argc > 2 ? std::atol(argv[2]) : 5000;
  std::vector<std::string> seeds = ReadCorpus(dir);
  if (seeds.empty()) {
    std::fprintf(stderr, "no seeds in %s\n", dir.c_str());
    return 1;
  }
  for (const std::string& seed : seeds) Run(seed);
  std::mt19937 rng(20240807);
  for (long i = 0; i < mutations; ++i) Run(Mutate(seeds, &rng));
  std::printf("fuzz replay: %zu seeds and %ld mutated inputs from %s: ok\n",
              seeds.size(), mutations, dir.c_str());
  return 0;
}
