// ZkSessionProxy as a plain TCP proxy: bytes pass both ways in order, a
// delay holds every byte back at least that long each way, and a cut closes
// the connection. Against a tiny echo server on 127.0.0.1.
#include "tests/cluster/zk_session_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kess {
namespace testing {
namespace {

// Echoes every byte of one connection at a time until stopped.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      char buf[4096];
      while (!stop_) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 50) <= 0) continue;
        const ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        if (send(c, buf, n, MSG_NOSIGNAL) != n) break;
      }
      close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int Connect(const std::string& address) {
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

// Reads exactly `n` bytes, or what came before EOF / 10 s ("did not hang").
std::string ReadN(int fd, size_t n) {
  std::string out;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t got = recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (got <= 0) break;
    out.append(buf, got);
  }
  return out;
}

TEST(ZkSessionProxyTest, ForwardsInOrderAndDelaysBothWays) {
  EchoServer echo;
  auto proxy = ZkSessionProxy::Start(echo.address());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  const int fd = Connect((*proxy)->address());
  ASSERT_EQ(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
  EXPECT_EQ(ReadN(fd, 5), "hello");

  (*proxy)->SetDelay(absl::Milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  std::string sent;
  for (int i = 0; i < 5; ++i) {  // pipelined: sent before any echo is back
    const std::string m = absl::StrCat("m", i, ";");
    ASSERT_EQ(send(fd, m.data(), m.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(m.size()));
    sent += m;
  }
  EXPECT_EQ(ReadN(fd, sent.size()), sent);
  // A lower bound, which the delay guarantees (never an upper bound).
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(400));

  (*proxy)->SetDelay(absl::ZeroDuration());
  ASSERT_EQ(send(fd, "x", 1, MSG_NOSIGNAL), 1);
  EXPECT_EQ(ReadN(fd, 1), "x");
  close(fd);
}

TEST(ZkSessionProxyTest, CutClosesConnectionsAndRefusesNewOnes) {
  EchoServer echo;
  auto proxy = ZkSessionProxy::Start(echo.address());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  const int fd = Connect((*proxy)->address());
  (*proxy)->SetCut(true);
  EXPECT_EQ(ReadN(fd, 1), "");  // EOF
  close(fd);
  const int again = Connect((*proxy)->address());
  EXPECT_EQ(ReadN(again, 1), "");  // accepted, closed at once
  close(again);
  (*proxy)->SetCut(false);
  const int healed = Connect((*proxy)->address());
  ASSERT_EQ(send(healed, "ok", 2, MSG_NOSIGNAL), 2);
  EXPECT_EQ(ReadN(healed, 2), "ok");
  close(healed);
}

}  // namespace
}  // namespace testing
}  // namespace kess
