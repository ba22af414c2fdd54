#include "tests/wan/testing/tcp_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace wan {
namespace testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kPollMs = 50;  // how soon a server thread notices stopping

// Milliseconds left until `deadline`, at least 0, at most kPollMs * 4.
int MsLeft(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - SteadyClock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count() + 1, 0, 200));
}

SteadyClock::time_point DeadlineIn(absl::Duration d) {
  return SteadyClock::now() + absl::ToChronoNanoseconds(d);
}

void NoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

std::string PatternBytes(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    const uint32_t word = static_cast<uint32_t>(i / 4 * 4);
    out[i] = static_cast<char>(word >> (8 * (3 - i % 4)));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<TcpClient>> TcpClient::Connect(
    const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", address));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) !=
          1 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoToStatus(err, absl::StrCat("connect ", address));
  }
  NoDelay(fd);
  return std::unique_ptr<TcpClient>(new TcpClient(fd));
}

TcpClient::~TcpClient() { close(fd_); }

absl::Status TcpClient::SendAll(absl::string_view data,
                                absl::Duration timeout) {
  const auto deadline = DeadlineIn(timeout);
  while (!data.empty()) {
    if (SteadyClock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(data.size(), " bytes not sent in time"));
    }
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, MsLeft(deadline)) <= 0) continue;
    const ssize_t n =
        send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return ErrnoToStatus(errno, "send");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TcpClient::ReadExactly(size_t n,
                                                   absl::Duration timeout) {
  const auto deadline = DeadlineIn(timeout);
  std::string out;
  char buffer[64 * 1024];
  while (out.size() < n) {
    if (SteadyClock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("read ", out.size(), " of ", n, " bytes in time"));
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, MsLeft(deadline)) <= 0) continue;
    const ssize_t got = recv(
        fd_, buffer, std::min(sizeof(buffer), n - out.size()), MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) {
      return absl::OutOfRangeError(
          absl::StrCat("EOF after ", out.size(), " of ", n, " bytes"));
    }
    out.append(buffer, static_cast<size_t>(got));
  }
  return out;
}

TcpClient::ReadResult TcpClient::ReadFor(absl::Duration duration) {
  const auto deadline = DeadlineIn(duration);
  ReadResult result;
  char buffer[64 * 1024];
  while (SteadyClock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, MsLeft(deadline)) <= 0) continue;
    const ssize_t got = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) {
      result.eof = true;
      break;
    }
    result.bytes.append(buffer, static_cast<size_t>(got));
  }
  return result;
}

absl::StatusOr<std::string> TcpClient::ReadToEof(absl::Duration timeout) {
  ReadResult r = ReadFor(timeout);
  if (!r.eof) {
    return absl::DeadlineExceededError(
        absl::StrCat("no EOF in time (", r.bytes.size(), " bytes read)"));
  }
  return std::move(r.bytes);
}

void TcpClient::CloseWrite() { shutdown(fd_, SHUT_WR); }

absl::StatusOr<std::unique_ptr<TcpTestServer>> TcpTestServer::Start(Mode mode) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoToStatus(err, "listen on 127.0.0.1:0");
  }
  std::unique_ptr<TcpTestServer> server(
      new TcpTestServer(mode, fd, ntohs(addr.sin_port)));
  server->acceptor_ = std::thread([s = server.get()] {
    while (!s->stopping_) {
      pollfd p{s->listen_fd_, POLLIN, 0};
      if (poll(&p, 1, kPollMs) <= 0) continue;
      const int client = accept4(s->listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      NoDelay(client);
      ++s->connections_;
      absl::MutexLock lock(&s->mu_);
      const size_t index = s->received_.size();
      s->received_.emplace_back();
      s->eof_.push_back(false);
      s->threads_.emplace_back([s, client, index] { s->Serve(client, index); });
    }
  });
  return server;
}

TcpTestServer::TcpTestServer(Mode mode, int listen_fd, int port)
    : mode_(mode), listen_fd_(listen_fd), port_(port) {}

TcpTestServer::~TcpTestServer() {
  stopping_ = true;
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  close(listen_fd_);
}

std::string TcpTestServer::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::vector<std::string> TcpTestServer::received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

bool TcpTestServer::received_eof(size_t i) const {
  absl::MutexLock lock(&mu_);
  return i < eof_.size() && eof_[i];
}

void TcpTestServer::Serve(int fd, size_t index) {
  char buffer[64 * 1024];
  while (!stopping_) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    const ssize_t got = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) {
      absl::MutexLock lock(&mu_);
      eof_[index] = true;
      break;
    }
    if (mode_ == Mode::kSink) {
      absl::MutexLock lock(&mu_);
      received_[index].append(buffer, static_cast<size_t>(got));
      continue;
    }
    // Echo, bounded like everything else: a client that stops reading for
    // long gets its connection closed.
    size_t sent = 0;
    const auto deadline = DeadlineIn(absl::Seconds(30));
    while (sent < static_cast<size_t>(got) && !stopping_ &&
           SteadyClock::now() < deadline) {
      pollfd w{fd, POLLOUT, 0};
      if (poll(&w, 1, kPollMs) <= 0) continue;
      const ssize_t n =
          send(fd, buffer + sent, got - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    if (sent < static_cast<size_t>(got)) break;
  }
  shutdown(fd, SHUT_WR);
  // Let the client read what is still in flight before the close resets it.
  const auto deadline = DeadlineIn(absl::Seconds(10));
  while (!stopping_ && SteadyClock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    if (recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) == 0) break;
  }
  close(fd);
}

}  // namespace testing
}  // namespace wan
}  // namespace kess
