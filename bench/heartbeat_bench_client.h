// The client side of bench/heartbeat_bench: one process holding a few
// transport Clients on one EventLoop thread, registering its share of the
// instances and then sending kess.Heartbeat batches closed loop. Driven by
// line commands on stdin (see heartbeat_bench_client.cc); started by the
// benchmark, never by hand.
#pragma once

#include <cstdint>
#include <string>

namespace kess {
namespace bench {

struct HeartbeatBenchClientOptions {
  int port = 0;
  int connections = 16;
  int64_t first_instance = 0;  // this process owns [first, first + count)
  int64_t instances = 50000;
  int services = 100;  // instance i belongs to service "svc<i % services>"
  int avoid_cpu = -1;  // >= 0: run on every CPU but this one
};

// Runs until "quit" or EOF on stdin; returns the process exit code.
int RunHeartbeatBenchClient(const HeartbeatBenchClientOptions& options);

// The service and id of instance `i` (shared with the driver).
std::string BenchService(int64_t i, int services);
std::string BenchInstanceId(int64_t i);

}  // namespace bench
}  // namespace kess
