// FUZZ_CHECK for libFuzzer targets (LLVMFuzzerTestOneInput): a property that
// must hold for every input. On violation it prints the property and aborts,
// so libFuzzer saves the input as a crash and the gcc replay driver
// (common/fuzz_replay_main.cc) fails its test. Not glog: the fuzz build
// links as little as possible.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                    \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__, \
                   __LINE__, #cond);                                        \
      std::abort();                                                         \
    }                                                                       \
  } while (0)
