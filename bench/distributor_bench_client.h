// The agent side of bench/distributor_bench: one process holding many
// transport Clients on one EventLoop thread, each subscribed to the hot keys
// and a few random keys of the data set, timing the hot keys' pushes.
// Driven by line commands on stdin (see distributor_bench_client.cc);
// started by the benchmark, never by hand.
#pragma once

#include <string>

namespace kess {
namespace bench {

struct DistributorBenchClientOptions {
  int port = 0;
  int connections = 5000;
  int connect_batch = 500;
  int hot_keys = 10;     // subscribes hot/h0 .. hot/h<n-1>
  int random_keys = 10;  // plus this many of the seeded keys
  int namespaces = 100;  // the seeded data set: ns<i>/k<j>
  int keys_per_namespace = 1000;
  std::string out_dir;
  std::string name;
};

// Runs until "quit" or EOF on stdin; returns the process exit code.
int RunDistributorBenchClient(const DistributorBenchClientOptions& options);

}  // namespace bench
}  // namespace kess
