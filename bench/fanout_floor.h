// The physical floor of a fan-out, for bench/fanout_bench: what the kernel
// (and, for TLS, the cipher) costs to send the same bytes to the same
// number of TCP sockets with no program logic around it. One process (the
// benchmark's child with --role=floor) opens `connections` loopback TCP
// connections to a drain process it forks (which reads and discards
// everything), then, `rounds` times, sends `bytes` bytes on every connection from one
// thread and measures the sender's CPU time (the process's, less the drain
// thread's: io_uring's kernel workers count, should it use them). On
// loopback the receiving side's TCP work runs in the sender's system call,
// as it does for a distributor's sends on the same host.
//
// Methods:
//   sendmsg   one sendmsg per socket (what a distributor loop does);
//   io_uring  IORING_OP_SEND for every socket, submitted `uring_batch` at a
//             time with one io_uring_enter each (liburing);
//   seal      no socket: AES-256-GCM sealing of `bytes` once per delivery
//             (EVP), the cipher's share of a TLS 1.3 push (the record the
//             distributors' TLS 1.3 connections use by default).
//
// Connections beyond one source address's ephemeral ports use source
// addresses 127.0.0.2, 127.0.0.3, ... (20,000 each). The fd limit is raised
// for 2 x connections + slack (root may raise the hard limit).
//
// Thread-safety: RunFloor is called once per process.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace kess {
namespace bench {

struct FloorOptions {
  int connections = 1000;
  size_t bytes = 300;
  int rounds = 10;
  int uring_batch = 256;
  std::vector<std::string> methods = {"sendmsg", "io_uring", "seal"};
};

struct FloorResult {
  std::string method;
  double cpu_us_per_send = 0;   // sender CPU / (connections x rounds)
  double wall_ms_per_round = 0;  // median round, sender side
  int64_t short_sends = 0;       // sends that did not take every byte
};

// Runs every method of `options`; an error if the sockets could not be set
// up (fd limit, connect).
absl::StatusOr<std::vector<FloorResult>> RunFloor(const FloorOptions& options);

// The child side (--role=floor): runs `options` and prints one line,
// "floor" followed by "<method> <cpu_us> <wall_ms> <short>" per method, or
// "error <message>"; returns the exit code.
int RunFloorProcess(const FloorOptions& options);

}  // namespace bench
}  // namespace kess
