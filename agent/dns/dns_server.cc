#include "agent/dns/dns_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/transport/socket_util.h"
#include "glog/logging.h"
#include "third_party/ldns_cxx.h"

namespace kess {
namespace agent {
namespace dns {
namespace {

// epoll tags; TCP connections use their id, which starts above these.
constexpr uint64_t kUdpTag = 0;
constexpr uint64_t kListenTag = 1;
constexpr uint64_t kEventTag = 2;
constexpr uint64_t kFirstTcpId = 3;

constexpr size_t kUdpBatch = 32;
constexpr size_t kUdpBuffer = 4096;       // larger queries are malformed
constexpr size_t kUdpBatchesPerWake = 8;  // then TCP and timers get a turn
constexpr size_t kMaxTcpUnsent = 256 * 1024;
constexpr int64_t kTcpCheckIntervalMs = 100;
constexpr size_t kCacheEntries = 10000;
constexpr size_t kCacheVariants = 16;  // of an answer in random order
constexpr size_t kMaxCachedQuery = 512;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* RcodeLabel(int rcode) {
  switch (rcode) {
    case kNoError:
      return "NOERROR";
    case kFormErr:
      return "FORMERR";
    case kServFail:
      return "SERVFAIL";
    case kNxDomain:
      return "NXDOMAIN";
    case kNotImp:
      return "NOTIMP";
    case kRefused:
      return "REFUSED";
    case kBadVers:
      return "BADVERS";
    default:
      return "other";
  }
}

}  // namespace

struct DnsServer::Waiting {
  std::string service;
  int64_t deadline_ms = 0;
  uint64_t tcp_id = 0;  // 0: UDP
  sockaddr_storage peer{};
  socklen_t peer_length = 0;
  std::string query;
};

struct DnsServer::TcpConnection {
  int fd = -1;
  std::string in;
  std::string out;
  size_t out_offset = 0;
  bool want_write = false;
  bool broken = false;  // close at the next chance
  int64_t deadline_ms = 0;
  size_t waiting = 0;  // queries parked for a table
};

struct DnsServer::UdpOut {
  sockaddr_storage peer{};
  socklen_t peer_length = 0;
  std::string data;
};

DnsServer::DnsServer(DnsServerOptions options, RequestFn request)
    : options_(std::move(options)),
      request_(std::move(request)),
      responder_(options_.responder),
      registry_(options_.registry) {
  constexpr char kQueriesHelp[] = "DNS queries received, by transport.";
  queries_udp_ = registry_->GetCounter("kess_agent_dns_queries_total",
                                       kQueriesHelp, {{"transport", "udp"}});
  queries_tcp_ = registry_->GetCounter("kess_agent_dns_queries_total",
                                       kQueriesHelp, {{"transport", "tcp"}});
  truncated_ = registry_->GetCounter(
      "kess_agent_dns_truncated_total",
      "DNS answers cut to fit (UDP: sent empty with TC).");
  dropped_ = registry_->GetCounter(
      "kess_agent_dns_dropped_total",
      "DNS packets not answered (no header, a response, or a UDP send "
      "queue full).");
  constexpr char kWaitsHelp[] =
      "DNS queries that waited for a service's first route table, by how "
      "they ended.";
  waits_answered_ = registry_->GetCounter("kess_agent_dns_waits_total",
                                          kWaitsHelp, {{"result", "answered"}});
  waits_servfail_ = registry_->GetCounter("kess_agent_dns_waits_total",
                                          kWaitsHelp, {{"result", "servfail"}});
  tcp_rejected_ = registry_->GetCounter(
      "kess_agent_dns_tcp_rejected_total",
      "DNS TCP connections closed at once: the connection limit was reached.");
  cache_hits_ = registry_->GetCounter(
      "kess_agent_dns_cache_hits_total",
      "DNS queries answered from the answer cache.");
  tcp_connections_ = registry_->GetGauge("kess_agent_dns_tcp_connections",
                                         "Open DNS TCP connections.");
  services_ = registry_->GetGauge(
      "kess_agent_dns_services",
      "Services the DNS server holds (route tables and known-absent).");
}

absl::StatusOr<std::unique_ptr<DnsServer>> DnsServer::Start(
    DnsServerOptions options, RequestFn request) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("DNS port ", options.port, " is outside 0..65535"));
  }
  std::unique_ptr<DnsServer> server(
      new DnsServer(std::move(options), std::move(request)));
  KESS_RETURN_IF_ERROR(server->Bind());
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

absl::Status DnsServer::Bind() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return ErrnoToStatus(errno, "epoll_create1");
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) return ErrnoToStatus(errno, "eventfd");

  // Port 0: the kernel picks one for TCP; UDP takes the same (a few tries
  // if that UDP port is taken).
  absl::Status last;
  for (int attempt = 0; attempt < 16; ++attempt) {
    KESS_ASSIGN_OR_RETURN(transport::SocketAddress address,
                          transport::ResolveAddress(options_.host,
                                                    options_.port));
    absl::StatusOr<int> tcp = transport::ListenOn(address, 128);
    if (!tcp.ok()) return tcp.status();
    absl::StatusOr<int> port = transport::LocalPortOf(*tcp);
    if (!port.ok()) {
      close(*tcp);
      return port.status();
    }
    KESS_ASSIGN_OR_RETURN(transport::SocketAddress udp_address,
                          transport::ResolveAddress(options_.host, *port));
    int udp = socket(udp_address.storage.ss_family,
                     SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp < 0) {
      close(*tcp);
      return ErrnoToStatus(errno, "socket(UDP)");
    }
    if (bind(udp, reinterpret_cast<const sockaddr*>(&udp_address.storage),
             udp_address.length) != 0) {
      last = ErrnoToStatus(
          errno, absl::StrCat("bind UDP ", options_.host, ":", *port));
      close(udp);
      close(*tcp);
      if (options_.port != 0) return last;
      continue;
    }
    // Room for bursts; the kernel caps it at net.core.rmem_max.
    int buffer = 4 << 20;
    setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
    udp_fd_ = udp;
    tcp_fd_ = *tcp;
    port_ = *port;
    break;
  }
  if (udp_fd_ < 0) return last;

  for (auto [fd, tag] : {std::pair<int, uint64_t>{udp_fd_, kUdpTag},
                         {tcp_fd_, kListenTag},
                         {event_fd_, kEventTag}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return ErrnoToStatus(errno, "epoll_ctl");
    }
  }
  next_tcp_id_ = kFirstTcpId;
  return absl::OkStatus();
}

DnsServer::~DnsServer() {
  if (thread_.joinable()) {
    stop_ = true;
    Wake();
    thread_.join();
  }
  for (auto& [id, conn] : tcp_) close(conn->fd);
  tcp_connections_->Set(0);
  for (int fd : {udp_fd_, tcp_fd_, event_fd_, epoll_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void DnsServer::Wake() {
  uint64_t one = 1;
  ssize_t n = write(event_fd_, &one, sizeof(one));
  (void)n;  // EAGAIN: a wake-up is pending anyway
}

void DnsServer::Update(std::shared_ptr<const ServiceRecord> record) {
  {
    absl::MutexLock lock(&mu_);
    events_.push_back(Event{Event::Kind::kUpdate, std::move(record), ""});
  }
  Wake();
}

void DnsServer::RequestDone(const std::string& service) {
  {
    absl::MutexLock lock(&mu_);
    events_.push_back(Event{Event::Kind::kRequestDone, nullptr, service});
  }
  Wake();
}

void DnsServer::Remove(const std::string& service) {
  {
    absl::MutexLock lock(&mu_);
    events_.push_back(Event{Event::Kind::kRemove, nullptr, service});
  }
  Wake();
}

std::vector<std::string> DnsServer::TakeUsed() {
  absl::flat_hash_set<std::string> used;
  {
    absl::MutexLock lock(&mu_);
    used.swap(used_out_);
  }
  return std::vector<std::string>(used.begin(), used.end());
}

void DnsServer::Run() {
  epoll_event events[64];
  int64_t next_tcp_check = NowMs() + kTcpCheckIntervalMs;
  while (!stop_) {
    const int timeout = NextTimeoutMs();
    int n = epoll_wait(epoll_fd_, events, 64, timeout);
    if (n < 0 && errno != EINTR) {
      PLOG(ERROR) << "DNS server: epoll_wait";
      return;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kUdpTag) {
        ReadUdp();
      } else if (tag == kListenTag) {
        Accept();
      } else if (tag == kEventTag) {
        uint64_t count;
        ssize_t got = read(event_fd_, &count, sizeof(count));
        (void)got;
        DrainEvents();
      } else {
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
          OnTcpReadable(tag);
        }
        if (events[i].events & EPOLLOUT) OnTcpWritable(tag);
      }
    }
    const int64_t now = NowMs();
    ExpireWaiting();
    if (!used_.empty() && now >= next_used_flush_ms_) {
      next_used_flush_ms_ = now + 1000;
      absl::MutexLock lock(&mu_);
      used_out_.merge(used_);
      used_.clear();
    }
    if (now >= next_tcp_check) {
      next_tcp_check = now + kTcpCheckIntervalMs;
      std::vector<uint64_t> idle;
      for (const auto& [id, conn] : tcp_) {
        if (conn->broken || (conn->waiting == 0 && now >= conn->deadline_ms)) {
          idle.push_back(id);
        }
      }
      for (uint64_t id : idle) CloseTcp(id);
    }
    FlushUdp();
  }
}

int DnsServer::NextTimeoutMs() const {
  int64_t timeout = tcp_.empty() ? 1000 : kTcpCheckIntervalMs;
  if (!waiting_.empty()) {
    timeout = std::min<int64_t>(
        timeout, std::max<int64_t>(0, waiting_.front()->deadline_ms - NowMs()));
  }
  return static_cast<int>(timeout);
}

void DnsServer::DrainEvents() {
  std::vector<Event> events;
  {
    absl::MutexLock lock(&mu_);
    events.swap(events_);
  }
  for (Event& e : events) {
    switch (e.kind) {
      case Event::Kind::kUpdate: {
        const std::string key = CatalogKey(e.record->service);
        if (catalog_.Update(std::move(e.record))) {
          cache_.clear();
          Retry(key);
        }
        break;
      }
      case Event::Kind::kRequestDone: {
        const std::string key = CatalogKey(e.service);
        requested_.erase(key);
        Retry(key);
        break;
      }
      case Event::Kind::kRemove:
        if (catalog_.Remove(CatalogKey(e.service))) cache_.clear();
        break;
    }
  }
  services_->Set(static_cast<double>(catalog_.size()));
}

void DnsServer::ReadUdp() {
  if (udp_buffers_.empty()) udp_buffers_.resize(kUdpBatch * kUdpBuffer);
  mmsghdr messages[kUdpBatch];
  iovec iov[kUdpBatch];
  sockaddr_storage peers[kUdpBatch];
  for (size_t batch = 0; batch < kUdpBatchesPerWake; ++batch) {
    for (size_t i = 0; i < kUdpBatch; ++i) {
      iov[i].iov_base = udp_buffers_.data() + i * kUdpBuffer;
      iov[i].iov_len = kUdpBuffer;
      std::memset(&messages[i].msg_hdr, 0, sizeof(messages[i].msg_hdr));
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
      messages[i].msg_hdr.msg_name = &peers[i];
      messages[i].msg_hdr.msg_namelen = sizeof(peers[i]);
    }
    int n = recvmmsg(udp_fd_, messages, kUdpBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        PLOG_EVERY_N(WARNING, 1000) << "DNS server: recvmmsg";
      }
      return;
    }
    queries_udp_->Increment(n);
    for (int i = 0; i < n; ++i) {
      Handle(reinterpret_cast<const uint8_t*>(iov[i].iov_base),
             messages[i].msg_len, 0, &peers[i], messages[i].msg_hdr.msg_namelen);
    }
    FlushUdp();
    if (static_cast<size_t>(n) < kUdpBatch) return;
  }
}

void DnsServer::FlushUdp() {
  size_t sent = 0;
  while (sent < udp_out_.size()) {
    const size_t count = std::min(kUdpBatch, udp_out_.size() - sent);
    mmsghdr messages[kUdpBatch];
    iovec iov[kUdpBatch];
    for (size_t i = 0; i < count; ++i) {
      UdpOut& out = udp_out_[sent + i];
      iov[i].iov_base = out.data.data();
      iov[i].iov_len = out.data.size();
      std::memset(&messages[i], 0, sizeof(messages[i]));
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
      messages[i].msg_hdr.msg_name = &out.peer;
      messages[i].msg_hdr.msg_namelen = out.peer_length;
    }
    int n = sendmmsg(udp_fd_, messages, static_cast<unsigned>(count),
                     MSG_DONTWAIT);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      // A full send buffer or an unreachable peer: UDP may lose it, the
      // client asks again. Skip the message that failed.
      dropped_->Increment();
      ++sent;
      continue;
    }
    sent += static_cast<size_t>(n);
  }
  udp_out_.clear();
}

void DnsServer::Accept() {
  for (int i = 0; i < 64; ++i) {
    int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
          errno != ECONNABORTED) {
        PLOG_EVERY_N(WARNING, 100) << "DNS server: accept";
      }
      return;
    }
    if (tcp_.size() >= options_.max_tcp_connections) {
      tcp_rejected_->Increment();
      close(fd);
      continue;
    }
    transport::SetNoDelay(fd);
    const uint64_t id = next_tcp_id_++;
    auto conn = std::make_unique<TcpConnection>();
    conn->fd = fd;
    conn->deadline_ms =
        NowMs() + absl::ToInt64Milliseconds(options_.tcp_idle_timeout);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    tcp_[id] = std::move(conn);
    tcp_connections_->Set(static_cast<double>(tcp_.size()));
  }
}

void DnsServer::CloseTcp(uint64_t id) {
  auto it = tcp_.find(id);
  if (it == tcp_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
  close(it->second->fd);
  tcp_.erase(it);
  tcp_connections_->Set(static_cast<double>(tcp_.size()));
}

void DnsServer::OnTcpReadable(uint64_t id) {
  auto it = tcp_.find(id);
  if (it == tcp_.end()) return;
  TcpConnection* conn = it->second.get();
  char buffer[16384];
  bool closed = false;
  while (true) {
    ssize_t n = read(conn->fd, buffer, sizeof(buffer));
    if (n > 0) {
      conn->in.append(buffer, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof(buffer)) break;
      // Bound the work per wake-up: at most a few messages' worth.
      if (conn->in.size() > 4 * 65537) break;
      continue;
    }
    if (n == 0) closed = true;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) closed = true;
    break;
  }
  size_t offset = 0;
  while (!conn->broken && conn->in.size() - offset >= 2) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(conn->in.data()) + offset;
    const size_t length = (static_cast<size_t>(p[0]) << 8) | p[1];
    if (length == 0) {
      conn->broken = true;  // nothing to answer: the client is confused
      break;
    }
    if (conn->in.size() - offset < 2 + length) break;
    queries_tcp_->Increment();
    conn->deadline_ms =
        NowMs() + absl::ToInt64Milliseconds(options_.tcp_idle_timeout);
    Handle(p + 2, length, id, nullptr, 0);
    offset += 2 + length;
  }
  conn->in.erase(0, offset);
  // A peer that closed its side gets the answers already computed (the
  // write below) but nothing waits for it.
  if (closed || conn->broken) {
    if (!conn->broken && conn->out_offset < conn->out.size()) {
      // Best effort: one more write, then close.
      OnTcpWritable(id);
    }
    CloseTcp(id);
  }
}

void DnsServer::OnTcpWritable(uint64_t id) {
  auto it = tcp_.find(id);
  if (it == tcp_.end()) return;
  TcpConnection* conn = it->second.get();
  while (conn->out_offset < conn->out.size()) {
    ssize_t n = send(conn->fd, conn->out.data() + conn->out_offset,
                     conn->out.size() - conn->out_offset, MSG_NOSIGNAL);
    if (n > 0) {
      conn->out_offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    conn->broken = true;
    return;
  }
  const bool pending = conn->out_offset < conn->out.size();
  if (!pending) {
    conn->out.clear();
    conn->out_offset = 0;
  }
  if (pending != conn->want_write) {
    conn->want_write = pending;
    epoll_event ev{};
    ev.events = EPOLLIN | (pending ? EPOLLOUT : 0);
    ev.data.u64 = id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn->fd, &ev);
  }
}

void DnsServer::SendTcp(uint64_t id, const std::string& reply) {
  auto it = tcp_.find(id);
  if (it == tcp_.end()) return;  // closed while the query waited
  TcpConnection* conn = it->second.get();
  if (conn->out.size() - conn->out_offset + reply.size() > kMaxTcpUnsent) {
    conn->broken = true;  // it does not read its answers
    return;
  }
  conn->out.push_back(static_cast<char>(reply.size() >> 8));
  conn->out.push_back(static_cast<char>(reply.size() & 0xff));
  conn->out += reply;
  if (!conn->want_write) OnTcpWritable(id);
}

void DnsServer::Count(const Responder::Result& result) {
  metrics::Counter*& counter = responses_[result.rcode];
  if (counter == nullptr) {
    counter = registry_->GetCounter("kess_agent_dns_responses_total",
                                    "DNS answers sent, by rcode.",
                                    {{"rcode", RcodeLabel(result.rcode)}});
  }
  counter->Increment();
  if (result.truncated) truncated_->Increment();
}

void DnsServer::Reply(uint64_t tcp_id, const void* peer, uint32_t peer_length,
                      const std::string& reply,
                      const Responder::Result& result) {
  Count(result);
  if (!result.service.empty() && !used_.contains(result.service)) {
    used_.insert(result.service);
  }
  if (tcp_id != 0) {
    SendTcp(tcp_id, reply);
    return;
  }
  UdpOut out;
  std::memcpy(&out.peer, peer, std::min<size_t>(peer_length, sizeof(out.peer)));
  out.peer_length = peer_length;
  out.data = reply;
  udp_out_.push_back(std::move(out));
}

void DnsServer::Handle(const uint8_t* query, size_t size, uint64_t tcp_id,
                       const void* peer, uint32_t peer_length) {
  // The cache key: the transport, then every byte but the id.
  std::string key;
  CachedAnswer* cached = nullptr;
  if (size >= LDNS_HEADER_SIZE && size <= kMaxCachedQuery) {
    key.reserve(size - 1);
    key.push_back(tcp_id != 0 ? 't' : 'u');
    key.append(reinterpret_cast<const char*>(query) + 2, size - 2);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      cached = &it->second;
      if (cached->complete) {
        std::string reply =
            cached->variants[cached->next++ % cached->variants.size()];
        LDNS_ID_SET(reinterpret_cast<uint8_t*>(reply.data()),
                    LDNS_ID_WIRE(query));
        cache_hits_->Increment();
        Reply(tcp_id, peer, peer_length, reply, cached->result);
        return;
      }
    }
  }
  std::string reply;
  Responder::Result result = responder_.Respond(
      query, size, tcp_id != 0 ? Transport::kTcp : Transport::kUdp, catalog_,
      &reply);
  if (result.outcome == Responder::Outcome::kDrop) {
    dropped_->Increment();
    return;
  }
  if (result.outcome == Responder::Outcome::kReply) {
    if (!key.empty()) {
      if (cached == nullptr) {
        if (cache_.size() >= kCacheEntries) cache_.clear();
        cached = &cache_[key];
        cached->result = result;
      }
      cached->variants.push_back(reply);
      cached->complete = !result.shuffled ||
                         cached->variants.size() >= kCacheVariants;
    }
    Reply(tcp_id, peer, peer_length, reply, result);
    return;
  }
  // kNeedService: wait for the table, if there is room.
  if (waiting_.size() >= options_.max_waiting_queries) {
    waits_servfail_->Increment();
    result = responder_.ServFail(query, size, &reply);
    if (result.outcome == Responder::Outcome::kReply) {
      Reply(tcp_id, peer, peer_length, reply, result);
    }
    return;
  }
  auto waiting = std::make_unique<Waiting>();
  waiting->service = result.service;
  waiting->deadline_ms =
      NowMs() + absl::ToInt64Milliseconds(options_.table_wait);
  waiting->tcp_id = tcp_id;
  if (tcp_id == 0) {
    std::memcpy(&waiting->peer, peer,
                std::min<size_t>(peer_length, sizeof(waiting->peer)));
    waiting->peer_length = peer_length;
  } else {
    tcp_[tcp_id]->waiting++;
  }
  waiting->query.assign(reinterpret_cast<const char*>(query), size);
  waiting_.push_back(std::move(waiting));
  if (requested_.insert(result.service).second) request_(result.service);
}

// Answers the waiting queries for `key` that can be answered now: the
// catalog has the service, or its request ended without it (SERVFAIL).
void DnsServer::Retry(const std::string& key) {
  const bool requested = requested_.contains(key);
  std::deque<std::unique_ptr<Waiting>> still;
  for (std::unique_ptr<Waiting>& w : waiting_) {
    if (w->service != key) {
      still.push_back(std::move(w));
      continue;
    }
    std::string reply;
    const uint8_t* q = reinterpret_cast<const uint8_t*>(w->query.data());
    Responder::Result result = responder_.Respond(
        q, w->query.size(), w->tcp_id != 0 ? Transport::kTcp : Transport::kUdp,
        catalog_, &reply);
    if (result.outcome == Responder::Outcome::kNeedService) {
      if (requested) {
        still.push_back(std::move(w));
        continue;
      }
      result = responder_.ServFail(q, w->query.size(), &reply);
      waits_servfail_->Increment();
    } else {
      waits_answered_->Increment();
    }
    if (w->tcp_id != 0) {
      auto it = tcp_.find(w->tcp_id);
      if (it != tcp_.end()) it->second->waiting--;
    }
    if (result.outcome == Responder::Outcome::kReply) {
      Reply(w->tcp_id, &w->peer, w->peer_length, reply, result);
    }
  }
  waiting_.swap(still);
}

void DnsServer::ExpireWaiting() {
  const int64_t now = NowMs();
  while (!waiting_.empty() && waiting_.front()->deadline_ms <= now) {
    std::unique_ptr<Waiting> w = std::move(waiting_.front());
    waiting_.pop_front();
    waits_servfail_->Increment();
    if (w->tcp_id != 0) {
      auto it = tcp_.find(w->tcp_id);
      if (it != tcp_.end()) it->second->waiting--;
    }
    std::string reply;
    Responder::Result result = responder_.ServFail(
        reinterpret_cast<const uint8_t*>(w->query.data()), w->query.size(),
        &reply);
    if (result.outcome == Responder::Outcome::kReply) {
      Reply(w->tcp_id, &w->peer, w->peer_length, reply, result);
    }
  }
}

}  // namespace dns
}  // namespace agent
}  // namespace kess
