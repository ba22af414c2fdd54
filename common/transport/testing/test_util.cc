#include "common/transport/testing/test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/transport/frame_codec.h"

namespace kess {
namespace transport {
namespace testing {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

int ConnectRaw(int port, int receive_buffer_bytes) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (receive_buffer_bytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
               sizeof(receive_buffer_bytes));
  }
  sockaddr_in addr = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string LengthHeader(uint32_t length) {
  std::string h(4, '\0');
  h[0] = static_cast<char>(length >> 24);
  h[1] = static_cast<char>(length >> 16);
  h[2] = static_cast<char>(length >> 8);
  h[3] = static_cast<char>(length);
  return h;
}

std::string EncodeForTest(const Frame& frame) {
  return LengthHeader(frame.ByteSizeLong()) + frame.SerializeAsString();
}

bool WaitForPeerClose(int fd, absl::Duration timeout) {
  // poll() counts whole milliseconds: round up, never down to no wait.
  const int64_t deadline = NowMs() + absl::ToInt64Milliseconds(absl::Ceil(
                                         timeout, absl::Milliseconds(1)));
  char buffer[64 << 10];
  while (true) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;  // reset
  }
}

int ListenRaw(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 128) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(0);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<int> HeadOnlyRequestStatus(
    int port, const std::string& method, const std::string& uri,
    size_t content_length,
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::Duration timeout) {
  const int fd = ConnectRaw(port);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("connect ", port));
  std::string head =
      absl::StrCat(method, " ", uri, " HTTP/1.1\r\nHost: 127.0.0.1:", port,
                   "\r\nContent-Length: ", content_length, "\r\n");
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head += "\r\n";
  if (!WriteAll(fd, head)) {
    close(fd);
    return absl::UnavailableError("sending the request head failed");
  }
  // poll() counts whole milliseconds: round up, never down to no wait.
  const int64_t deadline = NowMs() + absl::ToInt64Milliseconds(absl::Ceil(
                                         timeout, absl::Milliseconds(1)));
  std::string answer;
  while (answer.find("\r\n") == std::string::npos) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  // "HTTP/1.1 413 Request Entity Too Large\r\n"
  const size_t end = answer.find("\r\n");
  const size_t space = answer.find(' ');
  int status = 0;
  if (end == std::string::npos || space == std::string::npos ||
      !absl::StartsWith(answer, "HTTP/") ||
      !absl::SimpleAtoi(absl::string_view(answer).substr(space + 1, 3),
                        &status)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "no HTTP status line within ", absl::FormatDuration(timeout),
        ", got: ", answer.substr(0, 200)));
  }
  return status;
}

std::string SilentServer::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void SilentServer::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

double CounterValue(metrics::Registry& registry, const std::string& name,
                    const metrics::Labels& labels) {
  return registry.GetCounter(name, "", labels)->Value();
}

double Disconnects(metrics::Registry& registry, const std::string& role,
                   const std::string& reason) {
  return CounterValue(registry, "kess_transport_disconnects_total",
                      {{"role", role}, {"reason", reason}});
}

}  // namespace testing
}  // namespace transport
}  // namespace kess
