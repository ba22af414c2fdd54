#include "bench/fanout_floor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"

namespace kess {
namespace bench {
namespace {

constexpr int kPerSourceAddress = 20000;

int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t ProcessCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void RaiseFdLimitTo(rlim_t want) {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur >= want) return;
  rlimit wanted = limit;
  wanted.rlim_cur = want;
  if (wanted.rlim_max < want) wanted.rlim_max = want;
  if (setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
    limit.rlim_cur = limit.rlim_max;  // what an unprivileged process may
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// The sockets: `senders` here, connected to a drain process (forked:
// a process holds at most its fd limit, and the receiving ends must not
// count in the sender's CPU) that accepts them and reads everything until
// this side closes the pipe to it.
class Sockets {
 public:
  ~Sockets() {
    for (int fd : senders_) close(fd);
    if (listen_fd_ >= 0) close(listen_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);  // the drain process exits
    if (drain_pid_ > 0) waitpid(drain_pid_, nullptr, 0);
  }

  absl::Status Open(int connections) {
    RaiseFdLimitTo(static_cast<rlim_t>(connections) + 1024);
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address),
             sizeof(address)) != 0 ||
        listen(listen_fd_, 4096) != 0) {
      return absl::InternalError(absl::StrCat("listen: ", strerror(errno)));
    }
    socklen_t length = sizeof(address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    int stop[2];
    if (pipe2(stop, O_CLOEXEC) != 0) {
      return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
    }
    drain_pid_ = fork();
    if (drain_pid_ < 0) {
      return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
    }
    if (drain_pid_ == 0) {
      close(stop[1]);
      Drain(listen_fd_, stop[0]);  // never returns
    }
    close(stop[0]);
    stop_fd_ = stop[1];
    close(listen_fd_);
    listen_fd_ = -1;
    for (int i = 0; i < connections; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        return absl::ResourceExhaustedError(
            absl::StrCat("socket ", i, ": ", strerror(errno)));
      }
      senders_.push_back(fd);
      sockaddr_in source{};
      source.sin_family = AF_INET;
      source.sin_addr.s_addr =
          htonl(INADDR_LOOPBACK + 1 + i / kPerSourceAddress);
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)) !=
              0 ||
          connect(fd, reinterpret_cast<sockaddr*>(&address),
                  sizeof(address)) != 0) {
        return absl::UnavailableError(
            absl::StrCat("connect ", i, ": ", strerror(errno)));
      }
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    return absl::OkStatus();
  }

  const std::vector<int>& senders() const { return senders_; }
  // This process's CPU: the sender's (and io_uring's kernel workers', should
  // it use them); the drain process is apart.
  int64_t SenderCpuNs() const { return ProcessCpuNs(); }

 private:
  // The drain process: accepts, reads and discards until `stop` reads EOF.
  [[noreturn]] static void Drain(int listen_fd, int stop) {
    static char buffer[1 << 16];
    const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listen_fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event);
    event.data.fd = stop;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, stop, &event);
    epoll_event events[256];
    while (true) {
      const int n = epoll_wait(epoll_fd, events, 256, 1000);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stop) _exit(0);
        if (fd == listen_fd) {
          int accepted;
          while ((accepted = accept4(listen_fd, nullptr, nullptr,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
            epoll_event e{};
            e.events = EPOLLIN;
            e.data.fd = accepted;
            epoll_ctl(epoll_fd, EPOLL_CTL_ADD, accepted, &e);
          }
          continue;
        }
        ssize_t got;
        while ((got = read(fd, buffer, sizeof(buffer))) > 0) {
        }
        if (got == 0) {
          epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
          close(fd);
        }
      }
    }
  }

  int listen_fd_ = -1;
  int stop_fd_ = -1;
  pid_t drain_pid_ = -1;
  std::vector<int> senders_;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Lets the drain thread empty the receive buffers between rounds.
void Settle() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }

FloorResult RunSendmsg(const Sockets& sockets, const std::string& payload,
                       int rounds) {
  FloorResult result;
  result.method = "sendmsg";
  int64_t cpu = 0;
  std::vector<double> walls;
  for (int r = 0; r < rounds; ++r) {
    Settle();
    const int64_t wall0 = MonoNs();
    const int64_t cpu0 = sockets.SenderCpuNs();
    for (int fd : sockets.senders()) {
      iovec iov{const_cast<char*>(payload.data()), payload.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      const ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
      if (n != static_cast<ssize_t>(payload.size())) ++result.short_sends;
    }
    cpu += sockets.SenderCpuNs() - cpu0;
    walls.push_back((MonoNs() - wall0) / 1e6);
  }
  result.cpu_us_per_send =
      cpu / 1e3 / (double(sockets.senders().size()) * rounds);
  result.wall_ms_per_round = Median(walls);
  return result;
}

absl::StatusOr<FloorResult> RunUring(const Sockets& sockets,
                                     const std::string& payload, int rounds,
                                     int batch) {
  FloorResult result;
  result.method = "io_uring";
  io_uring ring;
  const int error = io_uring_queue_init(batch, &ring, 0);
  if (error < 0) {
    return absl::UnavailableError(
        absl::StrCat("io_uring_queue_init: ", strerror(-error)));
  }
  int64_t cpu = 0;
  std::vector<double> walls;
  const std::vector<int>& fds = sockets.senders();
  for (int r = 0; r < rounds; ++r) {
    Settle();
    const int64_t wall0 = MonoNs();
    const int64_t cpu0 = sockets.SenderCpuNs();
    for (size_t first = 0; first < fds.size(); first += batch) {
      const size_t end = std::min(fds.size(), first + batch);
      for (size_t i = first; i < end; ++i) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_send(sqe, fds[i], payload.data(), payload.size(),
                           MSG_NOSIGNAL);
      }
      io_uring_submit_and_wait(&ring, end - first);
      unsigned head;
      unsigned seen = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring, head, cqe) {
        if (cqe->res != static_cast<int>(payload.size())) ++result.short_sends;
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);
    }
    cpu += sockets.SenderCpuNs() - cpu0;
    walls.push_back((MonoNs() - wall0) / 1e6);
  }
  io_uring_queue_exit(&ring);
  result.cpu_us_per_send = cpu / 1e3 / (double(fds.size()) * rounds);
  result.wall_ms_per_round = Median(walls);
  return result;
}

// AES-256-GCM over `payload` once per delivery, as TLS 1.3 seals a record
// (the socket write is the sendmsg figure).
FloorResult RunSeal(int deliveries, const std::string& payload, int rounds) {
  FloorResult result;
  result.method = "seal";
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  unsigned char key[32] = {1};
  unsigned char iv[12] = {2};
  std::string out(payload.size() + 32, '\0');
  int64_t cpu = 0;
  std::vector<double> walls;
  for (int r = 0; r < rounds; ++r) {
    const int64_t wall0 = MonoNs();
    const int64_t cpu0 = ThreadCpuNs();
    for (int i = 0; i < deliveries; ++i) {
      iv[11] = static_cast<unsigned char>(i);
      int length = 0;
      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key, iv);
      EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()),
                        &length,
                        reinterpret_cast<const unsigned char*>(payload.data()),
                        static_cast<int>(payload.size()));
      EVP_EncryptFinal_ex(
          ctx, reinterpret_cast<unsigned char*>(out.data()) + length, &length);
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16,
                          out.data() + payload.size());
    }
    cpu += ThreadCpuNs() - cpu0;
    walls.push_back((MonoNs() - wall0) / 1e6);
  }
  EVP_CIPHER_CTX_free(ctx);
  result.cpu_us_per_send = cpu / 1e3 / (double(deliveries) * rounds);
  result.wall_ms_per_round = Median(walls);
  return result;
}

}  // namespace

absl::StatusOr<std::vector<FloorResult>> RunFloor(const FloorOptions& options) {
  const std::string payload(std::max<size_t>(1, options.bytes), 'f');
  std::vector<FloorResult> results;
  bool need_sockets = false;
  for (const std::string& m : options.methods) need_sockets |= m != "seal";
  Sockets sockets;
  if (need_sockets) {
    KESS_RETURN_IF_ERROR(sockets.Open(options.connections));
  }
  for (const std::string& method : options.methods) {
    if (method == "sendmsg") {
      results.push_back(RunSendmsg(sockets, payload, options.rounds));
    } else if (method == "io_uring") {
      absl::StatusOr<FloorResult> r = RunUring(
          sockets, payload, options.rounds, std::max(1, options.uring_batch));
      if (!r.ok()) return r.status();
      results.push_back(*r);
    } else if (method == "seal") {
      results.push_back(RunSeal(options.connections, payload, options.rounds));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown method ", method));
    }
  }
  return results;
}

int RunFloorProcess(const FloorOptions& options) {
  absl::StatusOr<std::vector<FloorResult>> results = RunFloor(options);
  if (!results.ok()) {
    std::cout << "error " << results.status().message() << std::endl;
    return 1;
  }
  std::string line = "floor";
  for (const FloorResult& r : *results) {
    absl::StrAppend(&line, " ", r.method, " ",
                    absl::StrFormat("%.3f %.3f", r.cpu_us_per_send,
                                    r.wall_ms_per_round),
                    " ", r.short_sends);
  }
  std::cout << line << std::endl;
  return 0;
}

}  // namespace bench
}  // namespace kess
