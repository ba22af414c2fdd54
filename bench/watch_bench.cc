// watch_bench: N clients wait in GET /v1/watch on the agent's API server;
// one config change; the time from the new file being durable to each
// client having its whole answer. Beside it, in the same run, the floor:
// the same server process writing one small response to N plain TCP
// sockets, and the same client process reading them.
//
// The server side is the agent's own pipeline minus the distributor: the
// CacheUpdater writes the version (temp file, fsync, rename, directory
// fsync), its on_written hook takes the timestamp and publishes to the
// WatchRegistry, and GET /v1/watch answers on EventHttpServer. The clients
// are a separate process (forked before any thread starts) with
// non-blocking sockets on one epoll; both take CLOCK_MONOTONIC, which is
// one clock for the whole machine.
//
// Prints a Markdown table (bench/run_watch_bench.sh puts it into
// bench/RESULTS.md). Exit 2 if any answer is missing or wrong.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/cache_updater.h"
#include "agent/watch_api.h"
#include "agent/watch_registry.h"
#include "common/http/event_http_server.h"
#include "common/init.h"
#include "common/metrics.h"
#include "gflags/gflags.h"
#include "model/file_cache/writer.h"

DEFINE_int32(clients, 5000, "Waiting clients (connections).");
DEFINE_int32(rounds, 5, "Changes (each wakes every client once).");
DEFINE_int32(value_bytes, 64, "Size of the config value.");
DEFINE_int32(phase_timeout_s, 60, "Bound of every wait.");

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void RaiseFileLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Line-based messages over a pipe pair.
struct Channel {
  int in = -1;
  int out = -1;
  std::string buffer;
  void Send(const std::string& line) {
    std::string s = line + "\n";
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = write(out, s.data() + off, s.size() - off);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      off += static_cast<size_t>(n);
    }
  }
  // "" at EOF.
  std::string Receive() {
    while (true) {
      size_t nl = buffer.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        return line;
      }
      char buf[65536];
      ssize_t n = read(in, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "";
      buffer.append(buf, static_cast<size_t>(n));
    }
  }
};

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// ---------------------------------------------------------------- clients

// N connections on one epoll; Collect() returns, per connection, the time
// its whole response (by Content-Length) arrived, or -1.
class ClientSet {
 public:
  bool Open(int port, int n) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < n; ++i) {
      int fd = ConnectLoopback(port);
      if (fd < 0) return false;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
      fds_.push_back(fd);
    }
    buffers_.resize(fds_.size());
    return true;
  }

  bool SendAll(const std::string& request) {
    for (int fd : fds_) {
      if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
        return false;
      }
    }
    return true;
  }

  // Bodies go to *bodies (when not null).
  std::vector<int64_t> Collect(int64_t timeout_ns,
                               std::vector<std::string>* bodies) {
    const size_t n = fds_.size();
    std::vector<int64_t> done(n, -1);
    if (bodies != nullptr) bodies->assign(n, "");
    for (auto& b : buffers_) b.clear();
    size_t remaining = n;
    const int64_t deadline = NowNs() + timeout_ns;
    std::vector<epoll_event> events(1024);
    char buf[16384];
    while (remaining > 0 && NowNs() < deadline) {
      int k = epoll_wait(epoll_, events.data(),
                         static_cast<int>(events.size()), 100);
      for (int e = 0; e < k; ++e) {
        uint32_t i = events[e].data.u32;
        while (true) {
          ssize_t r = read(fds_[i], buf, sizeof(buf));
          if (r <= 0) break;
          buffers_[i].append(buf, static_cast<size_t>(r));
        }
        if (done[i] >= 0) continue;
        const std::string& b = buffers_[i];
        size_t end = b.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        size_t cl = b.find("Content-Length: ");
        if (cl == std::string::npos || cl > end) continue;
        size_t len = std::strtoul(b.c_str() + cl + 16, nullptr, 10);
        if (b.size() < end + 4 + len) continue;
        done[i] = NowNs();
        if (bodies != nullptr) (*bodies)[i] = b.substr(end + 4, len);
        --remaining;
      }
    }
    return done;
  }

 private:
  int epoll_ = -1;
  std::vector<int> fds_;
  std::vector<std::string> buffers_;
};

int ClientMain(Channel ch) {
  ClientSet watchers, floor;
  const int64_t timeout_ns = int64_t{FLAGS_phase_timeout_s} * 1000000000;
  while (true) {
    std::string line = ch.Receive();
    if (line.empty() || line == "quit") return 0;
    std::vector<std::string> w = absl::StrSplit(line, ' ');
    int port = 0;
    if (w[0] == "open_watch" || w[0] == "open_floor") {
      absl::SimpleAtoi(w[1], &port);
      bool ok = (w[0] == "open_watch" ? watchers : floor)
                    .Open(port, FLAGS_clients);
      ch.Send(ok ? "opened" : "error connect");
    } else if (w[0] == "watch") {
      // watch <epoch> <index>: every client asks, then waits.
      std::string request = absl::StrCat(
          "GET /v1/watch?config=shop/db.timeout&epoch=", w[1], "&index=", w[2],
          "&timeout=120s HTTP/1.1\r\nHost: agent\r\n\r\n");
      ch.Send(watchers.SendAll(request) ? "sent" : "error send");
      std::vector<std::string> bodies;
      std::vector<int64_t> t = watchers.Collect(timeout_ns, &bodies);
      // A right answer names the round's value revision.
      std::string expect = absl::StrCat("\"revision\":", w[3]);
      int wrong = 0;
      for (const std::string& b : bodies) {
        wrong += b.find(expect) == std::string::npos;
      }
      ch.Send(absl::StrCat("times ", wrong, " ", absl::StrJoin(t, " ")));
    } else if (w[0] == "floor") {
      ch.Send("ready");
      std::vector<int64_t> t = floor.Collect(timeout_ns, nullptr);
      ch.Send(absl::StrCat("times 0 ", absl::StrJoin(t, " ")));
    }
  }
}

// ---------------------------------------------------------------- server

struct Stats {
  std::vector<double> ms;
  int missing = 0;
  int wrong = 0;
  void Add(int64_t t0, const std::string& line) {
    std::vector<std::string> w = absl::StrSplit(line, ' ');
    if (w.size() < 2 || w[0] != "times") {
      missing += FLAGS_clients;
      return;
    }
    int bad = 0;
    absl::SimpleAtoi(w[1], &bad);
    wrong += bad;
    for (size_t i = 2; i < w.size(); ++i) {
      int64_t t = 0;
      absl::SimpleAtoi(w[i], &t);
      if (t < 0) {
        ++missing;
      } else {
        ms.push_back(static_cast<double>(t - t0) / 1e6);
      }
    }
  }
  double Pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    size_t i = static_cast<size_t>(p * static_cast<double>(ms.size() - 1));
    return ms[i];
  }
};

int ServerMain(Channel ch) {
  using kess::file_cache::CacheEntry;
  using kess::file_cache::CacheKey;
  char dir_template[] = "/tmp/watch-bench-XXXXXX";
  std::string dir = mkdtemp(dir_template);
  kess::metrics::Registry registry;
  kess::file_cache::FileCacheWriter::Options writer_options;
  writer_options.cache_dir = dir;
  auto writer = kess::file_cache::FileCacheWriter::Open(writer_options);
  if (!writer.ok()) {
    std::fprintf(stderr, "writer: %s\n", writer.status().ToString().c_str());
    return 2;
  }
  kess::agent::WatchRegistry watches({});
  std::atomic<int64_t> durable_ns{0};
  kess::agent::CacheUpdater::Options updater_options;
  updater_options.registry = &registry;
  updater_options.on_written = [&](const CacheEntry& e) {
    durable_ns.store(NowNs());
    watches.Publish(e);
  };
  kess::agent::CacheUpdater updater(writer->get(), updater_options);

  kess::http::EventHttpServer::Options http;
  http.registry = &registry;
  http.max_connections = static_cast<size_t>(FLAGS_clients) + 100;
  auto server = kess::http::EventHttpServer::Create(http);
  if (!server.ok()) return 2;
  kess::agent::RegisterWatchApi(
      server->get(), &watches,
      [](const kess::agent::WatchSelection&) { return std::vector<CacheEntry>{}; });
  if (!(*server)->Start().ok()) return 2;

  // The floor's plain TCP listener.
  int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(listen_fd, 4096);
  socklen_t len = sizeof(addr);
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int floor_port = ntohs(addr.sin_port);
  std::vector<int> floor_fds;
  std::thread acceptor([&] {
    while (static_cast<int>(floor_fds.size()) < FLAGS_clients) {
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      floor_fds.push_back(fd);
    }
  });

  int status = 0;
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "watch_bench: %s\n", why.c_str());
    status = 2;
  };
  ch.Send(absl::StrCat("open_watch ", (*server)->port()));
  if (ch.Receive() != "opened") fail("clients could not connect");
  ch.Send(absl::StrCat("open_floor ", floor_port));
  if (ch.Receive() != "opened") fail("floor clients could not connect");
  acceptor.join();

  Stats watch_stats, floor_stats;
  const std::string value(static_cast<size_t>(FLAGS_value_bytes), 'x');
  uint64_t index = watches.index();
  for (int round = 1; round <= FLAGS_rounds && status == 0; ++round) {
    const int64_t revision = 100 + round;
    ch.Send(absl::StrCat("watch ", watches.epoch(), " ", index, " ", revision));
    if (ch.Receive() != "sent") {
      fail("clients could not send");
      break;
    }
    // Every client waits before the change.
    const int64_t wait_until = NowNs() + int64_t{FLAGS_phase_timeout_s} * 1000000000;
    while (watches.waiters() < static_cast<size_t>(FLAGS_clients) &&
           NowNs() < wait_until) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    if (watches.waiters() < static_cast<size_t>(FLAGS_clients)) {
      fail(absl::StrCat("only ", watches.waiters(), " watches waiting"));
      break;
    }
    CacheEntry entry;
    entry.key = CacheKey::Config("shop", "db.timeout");
    entry.revision = revision;
    entry.value = value;
    updater.Submit(entry);
    std::string line = ch.Receive();
    watch_stats.Add(durable_ns.load(), line);
    index = watches.index();

    // The floor: the same N answers as plain writes.
    ch.Send("floor");
    if (ch.Receive() != "ready") {
      fail("floor clients not ready");
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
    const std::string canned = absl::StrCat(
        "HTTP/1.1 200 OK\r\nContent-Length: ", value.size() + 200,
        "\r\n\r\n", std::string(value.size() + 200, 'y'));
    const int64_t t0 = NowNs();
    for (int fd : floor_fds) {
      send(fd, canned.data(), canned.size(), MSG_NOSIGNAL);
    }
    floor_stats.Add(t0, ch.Receive());
  }
  ch.Send("quit");
  (*server)->Stop();
  for (int fd : floor_fds) close(fd);
  close(listen_fd);
  std::string rm = "rm -rf " + dir;
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "cleanup failed\n");

  if (watch_stats.missing + watch_stats.wrong + floor_stats.missing > 0) {
    status = 2;
  }
  std::printf(
      "| %d waiting clients, %d changes | answers | p50 ms | p99 ms | max ms "
      "|\n|---|---|---|---|---|\n",
      FLAGS_clients, FLAGS_rounds);
  auto row = [](const char* what, Stats& s) {
    std::printf("| %s | %zu (missing %d, wrong %d) | %.2f | %.2f | %.2f |\n",
                what, s.ms.size(), s.missing, s.wrong, s.Pct(0.5), s.Pct(0.99),
                s.Pct(1.0));
  };
  row("GET /v1/watch: file durable -> whole answer at the client",
      watch_stats);
  row("floor: one write(2) per socket -> read at the client", floor_stats);
  const double f99 = floor_stats.Pct(0.99);
  std::printf("| ratio watch / floor | | %.2fx | %.2fx | %.2fx |\n",
              floor_stats.Pct(0.5) > 0 ? watch_stats.Pct(0.5) / floor_stats.Pct(0.5) : 0,
              f99 > 0 ? watch_stats.Pct(0.99) / f99 : 0,
              floor_stats.Pct(1.0) > 0 ? watch_stats.Pct(1.0) / floor_stats.Pct(1.0) : 0);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  RaiseFileLimit();
  int to_client[2], to_server[2];
  if (pipe2(to_client, O_CLOEXEC) != 0 || pipe2(to_server, O_CLOEXEC) != 0) {
    return 2;
  }
  // Fork before any thread exists; the child is the client process.
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    Channel ch{to_client[0], to_server[1], ""};
    _exit(ClientMain(std::move(ch)));
  }
  kess::InitProcess(&argc, &argv, "watch_bench");
  Channel ch{to_server[0], to_client[1], ""};
  int status = ServerMain(std::move(ch));
  close(to_client[1]);
  int child_status = 0;
  waitpid(pid, &child_status, 0);
  return status;
}
