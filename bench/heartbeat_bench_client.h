// The client side of bench/heartbeat_bench: one process holding a few
// transport Clients on one EventLoop thread, registering its share of the
// instances and then sending kess.Heartbeat batches closed loop. Driven by
// line commands on stdin (see heartbeat_bench_client.cc); started by the
// benchmark (bench/heartbeat_bench), or by bench/wan_e2e_bench.py inside a
// DC's network namespace against a real mandator.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/identity/credential.h"

namespace kess {
namespace bench {

struct HeartbeatBenchClientOptions {
  std::string host = "127.0.0.1";  // the scheduler (mandator) to talk to
  int port = 0;
  int connections = 16;
  int64_t first_instance = 0;  // this process owns [first, first + count)
  int64_t instances = 50000;
  int services = 100;  // instance i belongs to service "svc<i % services>"
  int avoid_cpu = -1;  // >= 0: run on every CPU but this one
  // What the registered instances say about themselves: their datacenter
  // (a mandator refuses instances of another DC) and the host part of their
  // address ("<address_host>:<10000 + i % 50000>").
  std::string datacenter = "dc1";
  std::string address_host = "127.0.0.1";
  // The instances' host: "" = "host-<i / 4>"; else this one for all.
  std::string instance_host;
  // Presented first on every connection (kess.Authenticate): a scheduler
  // that checks registration rights binds the instances to it. nullptr:
  // anonymous.
  std::shared_ptr<const identity::CredentialFile> credential;
};

// Runs until "quit" or EOF on stdin; returns the process exit code.
int RunHeartbeatBenchClient(const HeartbeatBenchClientOptions& options);

// The service and id of instance `i` (shared with the driver).
std::string BenchService(int64_t i, int services);
std::string BenchInstanceId(int64_t i);

}  // namespace bench
}  // namespace kess
