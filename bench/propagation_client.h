// The agent side of bench/propagation_bench: one process simulating many
// agents (tests/load/simulated_agents.h), each with its own file cache
// directory written with the real model/file_cache writer (temp file, fsync,
// rename, fsync of the directory) by a few writer threads, as the agent's
// CacheUpdater does. Agent g (global index) is in DC g % 2 and uses
// distributor (g / 2) % 2 of that DC (or, with `round_robin_ports`, port
// g % ports.size(): bench/fanout_bench). Every push of the key is also
// stamped when it arrives on the loop ("received"); without `write_files`
// nothing is written and the agents only receive. Driven by line commands
// on stdin (see propagation_client.cc); started by the benchmark, never by
// hand.
#pragma once

#include <string>
#include <vector>

namespace kess {
namespace bench {

struct PropagationClientOptions {
  // Transport ports: dc1 d1, dc1 d2, dc2 d1, dc2 d2 (any number with
  // round_robin_ports).
  std::vector<int> ports;
  bool round_robin_ports = false;
  // false: receive only (no cache dirs, no writer threads); "wait" then
  // waits for receipt.
  bool write_files = true;
  int first = 0;  // global index of this process's first agent
  int connections = 2500;
  int connect_batch = 500;
  int writer_threads = 2;
  std::string token;       // the distributors' --auth_token_file content
  std::string cache_root;  // agent g writes into <cache_root>/a<g>
  std::string out_dir;     // where "dump" writes
  std::string name;
  // The cluster's CA: TLS to the distributors; "" = plaintext.
  std::string tls_ca;
};

// Runs until "quit" or EOF on stdin; returns the process exit code.
int RunPropagationClient(const PropagationClientOptions& options);

}  // namespace bench
}  // namespace kess
