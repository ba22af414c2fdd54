// The application side of bench/propagation_bench: one real C++ SDK process
// (a copy of the benchmark, --role=sdk) with an sdk::ConfigClient on one
// simulated agent's cache directory, watching bench/hot as an application
// does (agent_http_address "": the simulated agent subscribed the key
// already; the default poll interval and inotify). It records every
// callback and answers the benchmark's line commands on stdin (see
// propagation_sdk.cc); started by the benchmark, never by hand.
#pragma once

#include <string>

namespace kess {
namespace bench {

struct PropagationSdkOptions {
  std::string cache_dir;  // the simulated agent's cache dir
  std::string out_dir;    // where "dump" writes
  std::string name;       // of this process (the dump file's suffix)
};

// Runs until "quit" or EOF on stdin; returns the process exit code.
int RunPropagationSdk(const PropagationSdkOptions& options);

}  // namespace bench
}  // namespace kess
