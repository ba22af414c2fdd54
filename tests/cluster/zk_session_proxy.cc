#include "tests/cluster/zk_session_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kess {
namespace testing {
namespace {

constexpr int kPollMs = 100;  // how soon a pump notices the proxy stopping

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Waits (in kPollMs steps) until `fd` is readable or `stopping` (or `cut`)
// is set.
bool WaitReadable(int fd, const std::atomic<bool>& stopping,
                  const std::atomic<bool>& cut) {
  while (!stopping && !cut) {
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, kPollMs);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
  return false;
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

uint64_t BigEndian(const std::string& bytes, size_t offset, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) {
    v = (v << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ZkSessionProxy>> ZkSessionProxy::Start(
    const std::string& upstream) {
  std::vector<std::string> host_port = absl::StrSplit(upstream, ':');
  int upstream_port = 0;
  if (host_port.size() != 2 || host_port[0] != "127.0.0.1" ||
      !absl::SimpleAtoi(host_port[1], &upstream_port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("upstream must be one 127.0.0.1:<port>, got ", upstream));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoToStatus(err, "listen on 127.0.0.1:0");
  }
  std::unique_ptr<ZkSessionProxy> proxy(
      new ZkSessionProxy(fd, ntohs(addr.sin_port), upstream_port));
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

ZkSessionProxy::ZkSessionProxy(int listen_fd, int port, int upstream_port)
    : listen_fd_(listen_fd), port_(port), upstream_port_(upstream_port) {}

ZkSessionProxy::~ZkSessionProxy() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
  close(listen_fd_);
}

std::string ZkSessionProxy::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

absl::StatusOr<zk::SessionCredentials> ZkSessionProxy::Credentials(
    int64_t session_id) const {
  absl::MutexLock lock(&sessions_mu_);
  auto it = passwords_.find(session_id);
  if (it == passwords_.end()) {
    return absl::NotFoundError(absl::StrCat("session 0x", absl::Hex(session_id),
                                            " did not pass this proxy"));
  }
  return zk::SessionCredentials{session_id, it->second};
}

void ZkSessionProxy::AcceptLoop() {
  const std::atomic<bool> never{false};
  while (WaitReadable(listen_fd_, stopping_, never)) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (cut_) {
      close(client);
      continue;
    }
    absl::MutexLock lock(&mu_);
    connections_.emplace_back([this, client] { Serve(client); });
  }
}

void ZkSessionProxy::Serve(int client) {
  const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(upstream_port_);
  if (server < 0 ||
      connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (server >= 0) close(server);
    close(client);  // the client sees what a down server looks like
    return;
  }
  // Like the ZooKeeper client and server themselves: without it, Nagle's
  // algorithm and delayed ACKs add ~40 ms to many requests.
  const int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // One thread per direction, so that neither can block the other. When a
  // side closes, this direction forwards what it still holds for the delay,
  // then shuts both sockets down, which ends the other direction too (with
  // whatever it still held: kess's and ZooKeeper's clients never half-close,
  // so nothing waits for it).
  auto pump = [this](int from, int to, bool from_server) {
    using Clock = std::chrono::steady_clock;
    std::string head;
    bool parsed = !from_server;
    bool from_open = true;
    // Bytes read but not yet due (SetDelay), oldest first.
    std::deque<std::pair<Clock::time_point, std::string>> held;
    char buffer[64 * 1024];
    while (!stopping_ && !cut_) {
      const Clock::time_point now = Clock::now();
      bool write_failed = false;
      while (!held.empty() && held.front().first <= now) {
        const std::string& bytes = held.front().second;
        if (!WriteAll(to, bytes.data(), bytes.size())) {
          write_failed = true;
          break;
        }
        held.pop_front();
      }
      if (write_failed || (!from_open && held.empty())) break;
      int wait_ms = kPollMs;
      if (!held.empty()) {
        const auto due = std::chrono::duration_cast<std::chrono::milliseconds>(
            held.front().first - now);
        wait_ms = std::clamp(static_cast<int>(due.count()) + 1, 1, kPollMs);
      }
      if (!from_open) {  // only held bytes left: no fd to watch
        std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
        continue;
      }
      pollfd p{from, POLLIN, 0};
      const int n = poll(&p, 1, wait_ms);
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      const ssize_t got = recv(from, buffer, sizeof(buffer), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        from_open = false;
        continue;
      }
      if (!parsed) NoteServerBytes(&head, &parsed, buffer, got);
      held.emplace_back(
          Clock::now() + std::chrono::milliseconds(delay_ms_.load()),
          std::string(buffer, static_cast<size_t>(got)));
    }
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  };
  std::thread downstream(pump, server, client, true);
  pump(client, server, false);
  downstream.join();
  close(server);
  close(client);
}

void ZkSessionProxy::NoteServerBytes(std::string* head, bool* parsed,
                                     const char* data, size_t size) {
  // ConnectResponse: int32 frame length, int32 protocolVersion, int32
  // timeOut, int64 sessionId, int32 passwd length, passwd, [bool readOnly].
  constexpr size_t kPasswordOffset = 4 + 4 + 4 + 8 + 4;
  head->append(data, size);
  if (head->size() < kPasswordOffset) return;
  const size_t password_size = BigEndian(*head, kPasswordOffset - 4, 4);
  if (password_size > 64) {  // not a ConnectResponse; stop looking
    *parsed = true;
    return;
  }
  if (head->size() < kPasswordOffset + password_size) return;
  *parsed = true;
  const auto session_id = static_cast<int64_t>(BigEndian(*head, 12, 8));
  absl::MutexLock lock(&sessions_mu_);
  passwords_[session_id] = head->substr(kPasswordOffset, password_size);
}

}  // namespace testing
}  // namespace kess
