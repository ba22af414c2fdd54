// Helpers shared by the transport tests (and the tests of what runs on the
// transport): raw loopback sockets that speak (or abuse) the wire format or
// HTTP, and metric lookups. Bounded waiting is common/testing/wait_for.h.
//
// Thread-safety: the functions are thread-safe; a socket fd is not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/transport/frame.pb.h"

namespace kess {
namespace transport {
namespace testing {

// A blocking TCP socket connected to 127.0.0.1:port, or -1.
// `receive_buffer_bytes` > 0 sets SO_RCVBUF before connecting.
int ConnectRaw(int port, int receive_buffer_bytes = 0);

// Writes all of `bytes`; false on error.
bool WriteAll(int fd, const std::string& bytes);

// The 4-byte big-endian length header.
std::string LengthHeader(uint32_t length);
// Header + serialized frame, without any limit check.
std::string EncodeForTest(const Frame& frame);

// Reads and discards until the peer closes (EOF or reset): true, or until
// `timeout` passes: false.
bool WaitForPeerClose(int fd, absl::Duration timeout);

// A listening socket on 127.0.0.1 at an ephemeral port (stored in *port)
// that never accepts by itself; -1 on error.
int ListenRaw(int* port);

// A port on 127.0.0.1 that nothing listens on (bound, then released).
int UnusedPort();

// A server that never answers (a hung process): a ListenRaw socket that
// is never accepted from, so connects complete in the kernel's backlog and
// requests are sent, but nothing is ever read or answered. Closed on
// destruction.
class SilentServer {
 public:
  SilentServer() : fd_(ListenRaw(&port_)) {}
  ~SilentServer() { Close(); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  // False if the socket could not be set up.
  bool ok() const { return port_ != 0; }
  int port() const { return port_; }
  // "127.0.0.1:<port>".
  std::string address() const;
  // Closes the socket early: port() is then one that nothing listens on.
  void Close();

 private:
  int port_ = 0;
  int fd_ = -1;
};

// Sends only the head of an HTTP/1.1 request to 127.0.0.1:port that
// declares `content_length` body bytes (plus `headers`), never the body,
// and returns the status code of the answer: what a server that refuses a
// too large body before reading it (413) answers. An error if the
// connection fails or no status line arrives within `timeout`. The one
// raw HTTP request of the tests; every other request goes through
// common/http_client.h.
absl::StatusOr<int> HeadOnlyRequestStatus(
    int port, const std::string& method, const std::string& uri,
    size_t content_length,
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::Duration timeout);

// The value of a counter, 0 if it was never incremented.
double CounterValue(metrics::Registry& registry, const std::string& name,
                    const metrics::Labels& labels);
// kess_transport_disconnects_total{role, reason}.
double Disconnects(metrics::Registry& registry, const std::string& role,
                   const std::string& reason);

}  // namespace testing
}  // namespace transport
}  // namespace kess
