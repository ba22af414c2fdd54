#include "common/transport/socket_util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace transport {

absl::Status SplitHostPort(const std::string& address, std::string* host,
                           int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), port) || *port <= 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError("address \"" + address +
                                      "\" is not host:port");
  }
  *host = address.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

absl::StatusOr<SocketAddress> ResolveAddress(const std::string& host,
                                             int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port ", port));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  SocketAddress address;
  std::memcpy(&address.storage, result->ai_addr, result->ai_addrlen);
  address.length = result->ai_addrlen;
  freeaddrinfo(result);
  return address;
}

std::string AddressToString(const SocketAddress& address) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (address.storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return absl::StrCat(host, ":", port);
  }
  if (address.storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  return absl::StrCat("[", host, "]:", port);
}

std::string PeerAddressOf(int fd) {
  SocketAddress address;
  address.length = sizeof(address.storage);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address.storage),
                  &address.length) != 0) {
    return "?";
  }
  return AddressToString(address);
}

absl::StatusOr<int> ListenOn(const SocketAddress& address, int backlog) {
  const std::string where = AddressToString(address);
  int fd = socket(address.storage.ss_family,
                  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket for " + where);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address.storage),
           address.length) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "bind " + where);
  }
  if (listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "listen " + where);
  }
  return fd;
}

absl::StatusOr<int> LocalPortOf(int fd) {
  SocketAddress address;
  address.length = sizeof(address.storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address.storage),
                  &address.length) != 0) {
    return ErrnoToStatus(errno, "getsockname");
  }
  if (address.storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&address.storage)->sin_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in6*>(&address.storage)->sin6_port);
}

absl::StatusOr<int> StartConnect(const SocketAddress& address,
                                 bool* in_progress) {
  const std::string where = AddressToString(address);
  int fd = socket(address.storage.ss_family,
                  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket for " + where);
  SetNoDelay(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address.storage),
              address.length) == 0) {
    *in_progress = false;
    return fd;
  }
  if (errno == EINPROGRESS) {
    *in_progress = true;
    return fd;
  }
  int err = errno;
  close(fd);
  return ErrnoToStatus(err, "connect " + where);
}

absl::Status ConnectResult(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return ErrnoToStatus(err, "connect " + PeerAddressOf(fd));
  return absl::OkStatus();
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace transport
}  // namespace kess
