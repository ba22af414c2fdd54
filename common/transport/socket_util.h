// Small wrappers over the BSD socket calls the transport needs. Every fd
// returned is non-blocking and close-on-exec; errors come back as Status
// naming the call and the address.
//
// Thread-safety: all functions are thread-safe. ResolveAddress may block on
// DNS for a host name; the others never block.
#pragma once

#include <sys/socket.h>

#include <string>

#include "common/status.h"

namespace kess {
namespace transport {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// "host:port" or "[v6]:port" -> host and port. InvalidArgument if
// malformed (no colon, empty host, port outside 1..65535).
absl::Status SplitHostPort(const std::string& address, std::string* host,
                           int* port);

// "127.0.0.1", "::1" or a host name, and a port in [0, 65535].
absl::StatusOr<SocketAddress> ResolveAddress(const std::string& host, int port);

// "1.2.3.4:80" / "[::1]:80" for logs.
std::string AddressToString(const SocketAddress& address);
std::string PeerAddressOf(int fd);

// A listening socket bound to exactly `address` (SO_REUSEADDR).
absl::StatusOr<int> ListenOn(const SocketAddress& address, int backlog);

// The port a bound socket actually got (for port 0).
absl::StatusOr<int> LocalPortOf(int fd);

// Starts a non-blocking connect; completion is signalled by EPOLLOUT, then
// ConnectResult(). `*in_progress` tells whether it is still pending.
absl::StatusOr<int> StartConnect(const SocketAddress& address,
                                 bool* in_progress);
absl::Status ConnectResult(int fd);

// TCP_NODELAY: frames are written whole, so Nagle only adds latency.
void SetNoDelay(int fd);

}  // namespace transport
}  // namespace kess
