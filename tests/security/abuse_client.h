// The attacker's side of the abuse suite (abuse_test.cc): raw sockets bound
// to a chosen loopback source address (so that an attack comes from "one
// address" other than the cluster's own 127.0.0.1 traffic), the bytes of a
// transport frame bomb, a trickling HTTP client, and the memory figures of
// a daemon from /proc.
//
//   AbuseSocket s = AbuseSocket::Connect("127.0.0.2", d->address(), timeout);
//   s.Send(FrameBytes("kess.Subscribe", EmptySubmessages(4, 8'000'000)), t);
//   bool closed = s.WaitClosed(absl::Seconds(5));
//   MemoryUse m = *ReadMemoryUse(d->pid());
//
// Everything is bounded in time; nothing here retries forever. An
// AbuseSocket closes its descriptor when destroyed. Thread-compatible (one
// socket per thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace testing {

// From /proc/<pid>/status, in KiB.
struct MemoryUse {
  int64_t rss_kib = 0;  // VmRSS: resident now
  int64_t hwm_kib = 0;  // VmHWM: the peak of VmRSS since the process started
};
absl::StatusOr<MemoryUse> ReadMemoryUse(pid_t pid);

// Raises this process's open-file soft limit to its hard limit (1,000
// attack sockets do not fit under a soft limit of 1,024 beside the rest).
void RaiseOpenFileLimit();

// `n` empty length-delimited sub-messages of field `field`: two bytes
// each, millions of messages for a parser that takes it in.
std::string EmptySubmessages(int field, size_t n);
// A whole transport frame on the wire (common/transport/frame_codec.h):
// 4-byte big-endian length, then Frame{id, kind = REQUEST, method,
// payload}, encoded by hand.
std::string FrameBytes(const std::string& method, const std::string& payload,
                       uint64_t id = 1);

class AbuseSocket {
 public:
  // A TCP connection from `from` (an IPv4 address, any port) to `to`
  // ("host:port"); the socket is non-blocking afterwards.
  static absl::StatusOr<AbuseSocket> Connect(const std::string& from,
                                             const std::string& to,
                                             absl::Duration timeout);
  AbuseSocket() = default;
  AbuseSocket(AbuseSocket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  AbuseSocket& operator=(AbuseSocket&& o) noexcept;
  ~AbuseSocket() { Close(); }

  bool open() const { return fd_ >= 0; }
  void Close();
  // Gives up the descriptor (still non-blocking); the caller closes it.
  int Release() { return std::exchange(fd_, -1); }

  // Sends as much of `bytes` as the peer takes until `timeout`, an error
  // or the end; the number of bytes sent.
  size_t Send(const std::string& bytes, absl::Duration timeout);
  // Reads (and discards) until the peer closes or resets the connection:
  // true, or false at `timeout`. Whatever was read is appended to
  // `*received` if given.
  bool WaitClosed(absl::Duration timeout, std::string* received = nullptr);
  // Reads what arrives until `timeout` or `max_bytes` are in, or the peer
  // closed.
  std::string Receive(absl::Duration timeout, size_t max_bytes);

 private:
  explicit AbuseSocket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// One HTTP/1.1 request over an AbuseSocket from `from` (Connection: close),
// the status line's code and the answer's headers (names lower-cased);
// Unavailable if no status line arrived within `timeout`.
struct RawHttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(const std::string& lower_name) const;
};
absl::StatusOr<RawHttpReply> HttpFrom(
    const std::string& from, const std::string& to, const std::string& method,
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, absl::Duration timeout);

// Percentile `p` (0..100) of `samples` (nearest rank); 0 if empty.
double Percentile(std::vector<double> samples, double p);

}  // namespace testing
}  // namespace kess
