// The client side of bench/transport_bench: one process holding many
// transport Clients on a single EventLoop thread, driven by line commands on
// stdin and answering on stdout (see transport_load_client.cc for the
// command list). Started by the benchmark's server process, never by hand.
#pragma once

#include <string>

namespace kess {
namespace load {

struct TransportLoadClientOptions {
  int port = 0;
  int connections = 5000;
  int connect_batch = 500;
  std::string out_dir;  // raw latency files go here
  std::string name;     // distinguishes this process's files
};

// Runs until "quit" or EOF on stdin; returns the process exit code.
int RunTransportLoadClient(const TransportLoadClientOptions& options);

}  // namespace load
}  // namespace kess
