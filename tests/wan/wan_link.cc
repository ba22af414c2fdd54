#include "tests/wan/wan_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace kess {
namespace wan {
namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Nanos = std::chrono::nanoseconds;

// Longest single wait: a safety net only, every change also fires the
// link's wake-up pipe.
constexpr Nanos kMaxWait = std::chrono::milliseconds(200);
constexpr size_t kReadBytes = 64 * 1024;
// Linux's minimum retransmission timeout (TCP_RTO_MIN).
constexpr absl::Duration kMinRto = absl::Milliseconds(200);

Nanos ToNanos(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

// Waits for `fds` for at most `timeout` (clamped to [0, kMaxWait]).
int Wait(pollfd* fds, int count, Nanos timeout) {
  timeout = std::clamp(timeout, Nanos(0), kMaxWait);
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
  return ppoll(fds, static_cast<nfds_t>(count), &ts, nullptr);
}

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// The first IPv4 address of `host` (a literal or a name), network order.
absl::StatusOr<uint32_t> ResolveIpv4(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot resolve \"", host, "\" to IPv4: ", gai_strerror(rc)));
  }
  const uint32_t ip =
      reinterpret_cast<sockaddr_in*>(result->ai_addr)->sin_addr.s_addr;
  freeaddrinfo(result);
  return ip;
}

sockaddr_in Ipv4(uint32_t ip, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = ip;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

std::string Ipv4Text(const sockaddr_in& addr) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
  return absl::StrCat(ip, ":", ntohs(addr.sin_port));
}

const char* LinkStateName(LinkState state) {
  switch (state) {
    case LinkState::kOpen:
      return "open";
    case LinkState::kCut:
      return "cut";
    case LinkState::kBlackhole:
      return "blackhole";
  }
  return "?";
}

absl::StatusOr<LinkState> ParseLinkState(absl::string_view name) {
  for (LinkState s :
       {LinkState::kOpen, LinkState::kCut, LinkState::kBlackhole}) {
    if (name == LinkStateName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "link state \"", name, "\" is not one of open, cut, blackhole"));
}

const char* DirectionName(Direction direction) {
  return direction == Direction::kForward ? "forward" : "reverse";
}

// A broadcast wake-up: every thread polls the read end of the current pipe;
// Fire() closes the write end, which makes the read end readable (POLLHUP)
// for all of them at once, for good. WanLink::Wake() replaces the current
// Waker by a fresh one and fires the old one. If no pipe can be made, the
// read end is -1 (poll ignores it) and waits fall back to kMaxWait.
class WanLink::Waker {
 public:
  Waker() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      read_fd_ = fds[0];
      write_fd_ = fds[1];
    }
  }
  ~Waker() {
    Fire();
    if (read_fd_ >= 0) close(read_fd_);
  }
  int fd() const { return read_fd_; }
  void Fire() {
    if (write_fd_ >= 0) close(write_fd_);
    write_fd_ = -1;
  }

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// One direction of the link, shared by all its connections: the profile,
// the transmit clock and the counters.
struct WanLink::Lane {
  Lane(const LinkProfile& p, uint64_t seed) : profile(p), rng(seed) {}

  // Schedules `size` bytes read at `arrival` (or held across a blackhole
  // and sent again at reopen) as segments appended to `queue`; `last_due`
  // is the connection's previous due time (updated). The caller counts
  // the bytes in bytes_held.
  template <typename Queue>
  void Schedule(const char* data, size_t size, TimePoint arrival,
                TimePoint* last_due, Queue* queue) {
    absl::MutexLock lock(&mu);
    const Nanos delay = ToNanos(profile.delay);
    const int64_t jitter_ns = absl::ToInt64Nanoseconds(profile.jitter);
    const Nanos rto = ToNanos(std::max(kMinRto, 2 * profile.delay));
    for (size_t offset = 0; offset < size; offset += kSegmentBytes) {
      const size_t n = std::min(kSegmentBytes, size - offset);
      TimePoint departure = arrival;
      Nanos transmit(0);
      if (profile.bandwidth_bps > 0) {
        transmit = Nanos(static_cast<int64_t>(n) * 8 * 1000000000 /
                         profile.bandwidth_bps);
        departure = std::max(arrival, busy_until) + transmit;
        busy_until = departure;
      }
      Nanos propagation = delay;
      if (jitter_ns > 0) {
        std::uniform_int_distribution<int64_t> j(-jitter_ns, jitter_ns);
        propagation = std::max(Nanos(0), delay + Nanos(j(rng)));
      }
      TimePoint due = departure + propagation;
      if (profile.loss > 0 &&
          std::uniform_real_distribution<double>(0, 1)(rng) < profile.loss) {
        due += rto;
        segments_lost.fetch_add(1);
      }
      due = std::max(due, *last_due);
      *last_due = due;
      queue->push_back(
          {due, departure, transmit, std::string(data + offset, n), 0});
      segments.fetch_add(1);
    }
  }

  // Segments that will not depart as scheduled (discarded, or held back by
  // a blackhole) give back the link time they had reserved: `unused` of it
  // from `now` on.
  void GiveBack(Nanos unused, TimePoint now) {
    if (unused <= Nanos(0)) return;
    absl::MutexLock lock(&mu);
    busy_until = std::max(now, busy_until - unused);
  }

  Nanos delay() const {
    absl::MutexLock lock(&mu);
    return ToNanos(profile.delay);
  }

  DirectionStats Stats() const {
    DirectionStats s;
    s.bytes = bytes.load();
    s.bytes_held = bytes_held.load();
    s.bytes_dropped = bytes_dropped.load();
    s.segments = segments.load();
    s.segments_lost = segments_lost.load();
    return s;
  }

  mutable absl::Mutex mu;
  LinkProfile profile ABSL_GUARDED_BY(mu);
  TimePoint busy_until ABSL_GUARDED_BY(mu);
  std::mt19937_64 rng ABSL_GUARDED_BY(mu);
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> bytes_held{0};
  std::atomic<int64_t> bytes_dropped{0};
  std::atomic<int64_t> segments{0};
  std::atomic<int64_t> segments_lost{0};
};

struct WanLink::Connection {
  std::thread thread;
  std::atomic<bool> done{false};
};

// Relays one direction of one connection; see the header for the rules.
class WanLink::Pump {
 public:
  Pump(WanLink* link, Lane* lane, int from, int to, std::atomic<bool>* aborted)
      : link_(link), lane_(lane), from_(from), to_(to), aborted_(aborted) {}

  // Before Run(): `bytes` (and, if `eof`, the source's FIN) were read from
  // the source while the link was blackholed and are held (counted in the
  // lane's bytes_held): Run() schedules them when it finds the link open.
  void Hold(std::string bytes, bool eof) {
    stalled_ = true;
    held_ = bytes.size();
    stalled_bytes_ = std::move(bytes);
    from_open_ = !eof;
  }

  // Returns when the FIN has been passed on, or the connection ended
  // (reset, write error, cut, the link stopping).
  void Run() {
    std::vector<char> buffer(kReadBytes);
    while (true) {
      // The waker first: a change after this line fires it.
      const std::shared_ptr<Waker> waker = link_->waker();
      const LinkState state = link_->state();
      if (link_->stopping_ || aborted_->load() || state == LinkState::kCut) {
        Abort();
        return;
      }
      TimePoint now = SteadyClock::now();
      bool want_write = false;
      if (state == LinkState::kBlackhole) {
        Stall(now);
      } else {
        Resume(now);
        if (!Deliver(now, &want_write)) {
          Abort();
          return;
        }
        if (!from_open_ && queue_.empty() && now >= fin_due_) {
          shutdown(to_, SHUT_WR);
          return;
        }
      }
      pollfd fds[3];
      int count = 0;
      fds[count++] = {waker->fd(), POLLIN, 0};
      int from_index = -1;
      if (from_open_ && held_ < link_->options_.max_held_bytes) {
        from_index = count;
        fds[count++] = {from_, POLLIN, 0};
      }
      if (want_write) fds[count++] = {to_, POLLOUT, 0};
      Nanos timeout = kMaxWait;
      if (state != LinkState::kBlackhole && !want_write) {
        if (!queue_.empty()) {
          timeout = std::min(timeout, queue_.front().due - now);
        } else if (!from_open_) {
          timeout = std::min(timeout, Nanos(fin_due_ - now));
        }
      }
      const int n = Wait(fds, count, timeout);
      if (n < 0 && errno != EINTR) {
        PLOG(WARNING) << link_->name() << ": poll";
        Abort();
        return;
      }
      if (n <= 0 || from_index < 0 || fds[from_index].revents == 0) continue;
      // The state now, not before the wait: bytes sent after SetState(kOpen)
      // returned must be scheduled at once, not held as blackholed.
      if (!Read(link_->state(), buffer.data(), buffer.size())) {
        Abort();
        return;
      }
    }
  }

 private:
  struct Segment {
    TimePoint due;
    TimePoint departure;  // leaves the sender's end of the link
    Nanos transmit;       // serialization time, ending at departure
    std::string bytes;
    size_t sent;  // of bytes, already written
  };

  // Writes the segments due by `now`. False if the destination is gone;
  // *want_write when it is full.
  bool Deliver(TimePoint now, bool* want_write) {
    while (!queue_.empty() && queue_.front().due <= now) {
      Segment& s = queue_.front();
      const ssize_t n =
          send(to_, s.bytes.data() + s.sent, s.bytes.size() - s.sent,
               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        *want_write = true;
        return true;
      }
      if (n <= 0) return false;
      s.sent += static_cast<size_t>(n);
      lane_->bytes.fetch_add(n);
      lane_->bytes_held.fetch_sub(n);
      held_ -= static_cast<size_t>(n);
      if (s.sent == s.bytes.size()) queue_.pop_front();
    }
    return true;
  }

  // One read from the source. False on a reset or error.
  bool Read(LinkState state, char* buffer, size_t size) {
    const ssize_t n = recv(from_, buffer, size, MSG_DONTWAIT);
    if (n < 0) {
      return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
    }
    const TimePoint arrival = SteadyClock::now();
    const bool blackholed = state == LinkState::kBlackhole;
    if (blackholed) {
      Stall(arrival);
    } else {
      Resume(arrival);
    }
    if (n == 0) {
      from_open_ = false;
      // Blackholed: Resume() sets it at reopen.
      if (!blackholed) fin_due_ = std::max(arrival + lane_->delay(), last_due_);
      return true;
    }
    lane_->bytes_held.fetch_add(n);
    held_ += static_cast<size_t>(n);
    if (blackholed) {
      stalled_bytes_.append(buffer, static_cast<size_t>(n));
    } else {
      lane_->Schedule(buffer, static_cast<size_t>(n), arrival, &last_due_,
                      &queue_);
    }
    return true;
  }

  // The link is blackholed: every byte not yet delivered (scheduled
  // segments, in flight or not, and the unsent rest of a partly written
  // one) is taken back, in order, into stalled_bytes_, and the link time
  // the segments had reserved is given back. Idempotent.
  void Stall(TimePoint now) {
    if (stalled_) return;
    stalled_ = true;
    Nanos unused(0);
    for (const Segment& s : queue_) {
      unused += std::clamp(Nanos(s.departure - now), Nanos(0), s.transmit);
      stalled_bytes_.append(s.bytes, s.sent, std::string::npos);
    }
    lane_->GiveBack(unused, now);
    queue_.clear();
  }

  // The link is open again (or still): the bytes held by a blackhole are
  // scheduled as if read `now` (a retransmission after the outage: due at
  // now + delay at the earliest, paced by the transmit clock), and a FIN
  // read before or during the blackhole is due after them. Idempotent.
  void Resume(TimePoint now) {
    if (!stalled_) return;
    stalled_ = false;
    last_due_ = now;  // every byte delivered so far was due by now
    if (!stalled_bytes_.empty()) {
      lane_->Schedule(stalled_bytes_.data(), stalled_bytes_.size(), now,
                      &last_due_, &queue_);
      std::string().swap(stalled_bytes_);
    }
    if (!from_open_) fin_due_ = std::max(now + lane_->delay(), last_due_);
  }

  // Discards every byte held (scheduled or stalled), counted as dropped.
  void DropHeld() {
    if (held_ == 0) return;
    const TimePoint now = SteadyClock::now();
    Nanos unused(0);
    for (const Segment& s : queue_) {
      unused += std::clamp(Nanos(s.departure - now), Nanos(0), s.transmit);
    }
    lane_->GiveBack(unused, now);
    lane_->bytes_dropped.fetch_add(static_cast<int64_t>(held_));
    lane_->bytes_held.fetch_sub(static_cast<int64_t>(held_));
    held_ = 0;
    queue_.clear();
    std::string().swap(stalled_bytes_);
  }

  // Ends the connection both ways: the other direction's poll sees its
  // source shut down and then `aborted_`.
  void Abort() {
    aborted_->store(true);
    shutdown(from_, SHUT_RDWR);
    shutdown(to_, SHUT_RDWR);
    DropHeld();
  }

  WanLink* const link_;
  Lane* const lane_;
  const int from_;
  const int to_;
  std::atomic<bool>* const aborted_;
  std::deque<Segment> queue_;
  // Blackholed (since the last Stall, until Resume): queue_ is empty and
  // the undelivered bytes, in order, are in stalled_bytes_.
  bool stalled_ = false;
  std::string stalled_bytes_;
  size_t held_ = 0;  // bytes in queue_ not yet sent, and stalled_bytes_
  TimePoint last_due_;
  bool from_open_ = true;
  TimePoint fin_due_;  // meaningful once !from_open_ and not stalled_
};

absl::StatusOr<std::unique_ptr<WanLink>> WanLink::Start(Options options) {
  // Every error names the link: an emulator starts many.
  const auto named = [&options](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat("link ", options.name, ": ",
                                                    status.message()));
  };
  for (const LinkProfile* p : {&options.forward, &options.reverse}) {
    absl::Status valid = ValidateLinkProfile(*p);
    if (!valid.ok()) return named(valid);
  }
  if (!options.listen) {
    // Connections come through ServeAccepted only.
    return std::unique_ptr<WanLink>(
        new WanLink(std::move(options), -1, 0, 0, 0));
  }
  const size_t colon = options.upstream.rfind(':');
  int upstream_port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(options.upstream.substr(colon + 1), &upstream_port) ||
      upstream_port < 1 || upstream_port > 65535) {
    return named(absl::InvalidArgumentError(absl::StrCat(
        "upstream must be host:port, got \"", options.upstream, "\"")));
  }
  if (options.listen_port < 0 || options.listen_port > 65535) {
    return named(absl::InvalidArgumentError(
        absl::StrCat("bad listen port ", options.listen_port)));
  }
  absl::StatusOr<uint32_t> upstream_ip =
      ResolveIpv4(options.upstream.substr(0, colon));
  if (!upstream_ip.ok()) return named(upstream_ip.status());
  absl::StatusOr<uint32_t> listen_ip = ResolveIpv4(options.listen_host);
  if (!listen_ip.ok()) return named(listen_ip.status());
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return named(ErrnoToStatus(errno, "socket"));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Ipv4(*listen_ip, options.listen_port);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 128) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return named(
        ErrnoToStatus(err, absl::StrCat("listen on ", options.listen_host, ":",
                                        options.listen_port)));
  }
  const int port = ntohs(addr.sin_port);
  std::unique_ptr<WanLink> link(
      new WanLink(std::move(options), fd, port, *upstream_ip, upstream_port));
  link->acceptor_ = std::thread([l = link.get()] { l->AcceptLoop(); });
  return link;
}

WanLink::WanLink(Options options, int listen_fd, int port, uint32_t upstream_ip,
                 int upstream_port)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      port_(port),
      upstream_ip_(upstream_ip),
      upstream_port_(upstream_port),
      waker_(std::make_shared<Waker>()) {
  uint64_t seed = options_.seed;
  if (seed == 0)
    seed = (uint64_t{std::random_device()()} << 32) ^ std::random_device()();
  forward_ = std::make_unique<Lane>(options_.forward, seed);
  reverse_ = std::make_unique<Lane>(options_.reverse,
                                    seed * 0x9E3779B97F4A7C15ull + 1);
}

WanLink::~WanLink() {
  stopping_ = true;
  Wake();
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::unique_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&connections_mu_);
    connections.swap(connections_);
  }
  for (auto& c : connections) c->thread.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string WanLink::address() const {
  if (listen_fd_ < 0) return "";
  return absl::StrCat(options_.listen_host, ":", port_);
}

void WanLink::ServeAccepted(int client, const sockaddr_in& upstream) {
  ReapFinished();  // without a listener, nothing else reaps
  Admit(client, upstream);
}

void WanLink::SetState(LinkState state) {
  const int old = state_.exchange(static_cast<int>(state));
  if (old != static_cast<int>(state)) {
    LOG(INFO) << "link " << options_.name << ": "
              << LinkStateName(static_cast<LinkState>(old)) << " -> "
              << LinkStateName(state);
  }
  Wake();
}

LinkState WanLink::state() const {
  return static_cast<LinkState>(state_.load());
}

absl::Status WanLink::SetProfile(const LinkProfile& forward,
                                 const LinkProfile& reverse) {
  KESS_RETURN_IF_ERROR(ValidateLinkProfile(forward));
  KESS_RETURN_IF_ERROR(ValidateLinkProfile(reverse));
  {
    absl::MutexLock lock(&forward_->mu);
    forward_->profile = forward;
  }
  absl::MutexLock lock(&reverse_->mu);
  reverse_->profile = reverse;
  return absl::OkStatus();
}

absl::Status WanLink::SetProfile(Direction direction,
                                 const LinkProfile& profile) {
  KESS_RETURN_IF_ERROR(ValidateLinkProfile(profile));
  Lane* lane =
      direction == Direction::kForward ? forward_.get() : reverse_.get();
  absl::MutexLock lock(&lane->mu);
  lane->profile = profile;
  return absl::OkStatus();
}

LinkProfile WanLink::profile(Direction direction) const {
  const Lane* lane =
      direction == Direction::kForward ? forward_.get() : reverse_.get();
  absl::MutexLock lock(&lane->mu);
  return lane->profile;
}

WanLink::Stats WanLink::stats() const {
  Stats s;
  s.forward = forward_->Stats();
  s.reverse = reverse_->Stats();
  s.connections_accepted = connections_accepted_.load();
  s.connections_refused = connections_refused_.load();
  s.connections_open = connections_open_.load();
  return s;
}

std::shared_ptr<WanLink::Waker> WanLink::waker() const {
  absl::MutexLock lock(&waker_mu_);
  return waker_;
}

void WanLink::Wake() {
  std::shared_ptr<Waker> fired;
  {
    absl::MutexLock lock(&waker_mu_);
    fired = std::move(waker_);
    waker_ = std::make_shared<Waker>();
  }
  fired->Fire();
}

void WanLink::ReapFinished() {
  std::list<std::unique_ptr<Connection>> finished;
  {
    absl::MutexLock lock(&connections_mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if ((*it)->done) finished.splice(finished.end(), connections_, it);
      it = next;
    }
  }
  for (auto& c : finished) c->thread.join();
}

void WanLink::AcceptLoop() {
  while (true) {
    const std::shared_ptr<Waker> waker = this->waker();
    if (stopping_) return;
    pollfd fds[2] = {{waker->fd(), POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    const int n = Wait(fds, 2, kMaxWait);
    ReapFinished();
    if (n <= 0 || fds[1].revents == 0) continue;
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        PLOG(WARNING) << "link " << name() << ": accept";
        pollfd w{waker->fd(), POLLIN, 0};
        Wait(&w, 1, std::chrono::milliseconds(100));  // do not spin
      }
      continue;
    }
    Admit(client, Ipv4(upstream_ip_, upstream_port_));
  }
}

void WanLink::Admit(int client, const sockaddr_in& upstream) {
  connections_accepted_.fetch_add(1);
  if (state() == LinkState::kCut) {
    connections_refused_.fetch_add(1);
    close(client);
    return;
  }
  auto connection = std::make_unique<Connection>();
  Connection* c = connection.get();
  absl::MutexLock lock(&connections_mu_);
  if (stopping_) {  // the destructor has taken connections_ or will
    close(client);
    return;
  }
  connections_.push_back(std::move(connection));
  c->thread =
      std::thread([this, c, client, upstream] { Serve(c, client, upstream); });
}

void WanLink::Serve(Connection* connection, int client, sockaddr_in upstream) {
  connections_open_.fetch_add(1);
  SetNoDelay(client);
  // Blackholed: no upstream connection yet (a SYN that is retransmitted
  // until the path is back); the client's bytes and FIN are held, up to
  // max_held_bytes, for the forward Pump to schedule at reopen.
  bool client_ok = true;  // not reset
  bool blackholed = false;
  bool client_eof = false;
  std::string held;
  std::vector<char> buffer;
  while (!stopping_) {
    const std::shared_ptr<Waker> waker = this->waker();
    if (state() != LinkState::kBlackhole || stopping_) break;
    blackholed = true;
    pollfd fds[2] = {{waker->fd(), POLLIN, 0}, {client, POLLIN, 0}};
    const int count =
        !client_eof && held.size() < options_.max_held_bytes ? 2 : 1;
    if (Wait(fds, count, kMaxWait) <= 0 || count < 2 || fds[1].revents == 0) {
      continue;
    }
    // Read even if the state has just changed: held bytes are scheduled
    // from the instant the Pump finds the link open, as new ones would be.
    buffer.resize(kReadBytes);
    const ssize_t n = recv(client, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n > 0) {
      held.append(buffer.data(), static_cast<size_t>(n));
      forward_->bytes_held.fetch_add(n);
    } else if (n == 0) {
      client_eof = true;
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      client_ok = false;  // a reset: closed at once, like an open connection
      break;
    }
  }
  int server = -1;
  if (client_ok && !stopping_ && state() != LinkState::kCut) {
    server = ConnectUpstream(upstream);
  }
  if (server >= 0) {
    SetNoDelay(server);
    std::atomic<bool> aborted{false};
    Pump forward(this, forward_.get(), client, server, &aborted);
    Pump reverse(this, reverse_.get(), server, client, &aborted);
    if (blackholed && (!held.empty() || client_eof)) {
      forward.Hold(std::move(held), client_eof);
    }
    std::thread reverse_thread([&reverse] { reverse.Run(); });
    forward.Run();
    reverse_thread.join();
    close(server);
  } else if (!held.empty()) {
    // Cut, reset, stopping or upstream unreachable: the held bytes go.
    forward_->bytes_held.fetch_sub(static_cast<int64_t>(held.size()));
    forward_->bytes_dropped.fetch_add(static_cast<int64_t>(held.size()));
  }
  close(client);
  connections_open_.fetch_sub(1);
  connection->done = true;
}

int WanLink::ConnectUpstream(const sockaddr_in& upstream) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    PLOG(WARNING) << "link " << name() << ": socket";
    return -1;
  }
  int err = 0;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&upstream),
              sizeof(upstream)) != 0) {
    err = errno;
  }
  const TimePoint deadline =
      SteadyClock::now() + ToNanos(options_.connect_timeout);
  while (err == EINPROGRESS || err == EINTR) {
    const std::shared_ptr<Waker> waker = this->waker();
    const TimePoint now = SteadyClock::now();
    if (stopping_ || state() == LinkState::kCut || now >= deadline) {
      err = ETIMEDOUT;
      break;
    }
    pollfd fds[2] = {{waker->fd(), POLLIN, 0}, {fd, POLLOUT, 0}};
    if (Wait(fds, 2, deadline - now) <= 0 || fds[1].revents == 0) continue;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  }
  if (err != 0) {
    LOG(WARNING) << "link " << name() << ": cannot connect to upstream "
                 << Ipv4Text(upstream) << ": " << strerror(err);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace wan
}  // namespace kess
