// The agent's DNS interface under load: the real DnsServer (agent/dns/,
// one thread) with an in-memory catalog, queried over loopback by a client
// thread of this process, next to a floor measured in the same run: a bare
// UDP echo server (one thread, recvmmsg/sendmmsg) answering the same client
// with the query itself. Phases:
//
//   closed loop   `--window` queries in flight, as fast as it answers
//   paced         `--rate` queries/s offered (the target: 50,000 with
//                 p99 <= 1 ms), latency per query
//   TCP           one connection, `--window` pipelined queries in flight
//   dnsperf       Debian's dnsperf against the same server (cross-check;
//                 skipped if it is not installed)
//
// Prints the Markdown tables of bench/RESULTS.md ("## DNS interface");
// bench/run_dns_bench.sh runs it and rewrites that section. Exit 2 if a
// phase lost queries or failed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/dns/dns_server.h"
#include "agent/dns/responder.h"
#include "agent/dns/service_record.h"
#include "agent/dns/testing/dns_client.h"
#include "bench/transport_bench_util.h"
#include "common/init.h"
#include "common/metrics.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/route_table.h"
#include "tests/harness/run_command.h"
#include "third_party/ldns_cxx.h"

DEFINE_int32(services, 100, "Services in the catalog.");
DEFINE_int32(instances, 10, "Instances per service (half in dc1, half dc2).");
DEFINE_double(seconds, 5, "Length of each phase.");
DEFINE_int32(window, 32, "Queries in flight in the closed-loop phases.");
DEFINE_int32(rate, 50000, "Offered queries/s in the paced phase.");
DEFINE_bool(dnsperf, true, "Cross-check with dnsperf if it is installed.");

namespace kess {
namespace bench {
namespace {

using agent::dns::DnsServer;
using agent::dns::DnsServerOptions;
using agent::dns::EligibilityOptions;
using agent::dns::PrepareServiceRecord;
using agent::dns::ServiceRecord;

constexpr size_t kBatch = 32;
constexpr size_t kBuffer = 4096;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct PhaseResult {
  int64_t sent = 0;
  int64_t received = 0;
  double seconds = 0;
  double server_cpu = 0;  // process CPU minus the client thread's
  std::vector<uint32_t> latency_ns;
  bool failed = false;

  double Qps() const { return seconds > 0 ? received / seconds : 0; }
  double Ms(double p) const { return Percentile(latency_ns, p) / 1e6; }
  double CpuUsPerQuery() const {
    return received > 0 ? server_cpu * 1e6 / received : 0;
  }
};

int UdpClient(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int buffer = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// UDP load: `window` > 0 keeps that many in flight; else `rate` per second.
// The query id indexes the send time (ids are set with ldns's LDNS_ID_SET).
PhaseResult RunUdp(int port, const std::vector<std::string>& queries,
                   int window, int rate, double seconds) {
  PhaseResult r;
  int fd = UdpClient(port);
  if (fd < 0) {
    r.failed = true;
    return r;
  }
  std::vector<int64_t> sent_at(65536, 0);
  std::vector<std::string> out(kBatch);
  std::vector<char> in(kBatch * kBuffer);
  r.latency_ns.reserve(static_cast<size_t>(
      (rate > 0 ? rate : 200000) * seconds * 1.2));
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  const double client0 = CpuSeconds(RUSAGE_THREAD);
  const int64_t start = NowNs();
  const int64_t end = start + static_cast<int64_t>(seconds * 1e9);
  int64_t drain_until = end + 200'000'000;  // answers still on the way
  uint16_t next_id = 0;
  while (true) {
    const int64_t now = NowNs();
    if (now >= drain_until || (now >= end && r.received == r.sent)) break;
    // Send.
    int64_t want = 0;
    if (now < end) {
      want = window > 0
                 ? window - (r.sent - r.received)
                 : static_cast<int64_t>((now - start) * 1e-9 * rate) - r.sent;
    }
    while (want > 0) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(want, kBatch));
      mmsghdr msgs[kBatch];
      iovec iov[kBatch];
      for (size_t i = 0; i < n; ++i) {
        out[i] = queries[static_cast<size_t>(r.sent + i) % queries.size()];
        LDNS_ID_SET(reinterpret_cast<uint8_t*>(out[i].data()),
                    static_cast<uint16_t>(next_id + i));
        iov[i] = {out[i].data(), out[i].size()};
        std::memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      const int64_t t = NowNs();
      int sent = sendmmsg(fd, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
      if (sent <= 0) break;
      for (int i = 0; i < sent; ++i) sent_at[(next_id + i) & 0xffff] = t;
      next_id = static_cast<uint16_t>(next_id + sent);
      r.sent += sent;
      want -= sent;
    }
    // Receive.
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i] = {in.data() + i * kBuffer, kBuffer};
      std::memset(&msgs[i], 0, sizeof(msgs[i]));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (got > 0) {
      const int64_t t = NowNs();
      for (int i = 0; i < got; ++i) {
        if (msgs[i].msg_len < LDNS_HEADER_SIZE) continue;
        const uint16_t id =
            LDNS_ID_WIRE(reinterpret_cast<const uint8_t*>(iov[i].iov_base));
        r.latency_ns.push_back(static_cast<uint32_t>(
            std::min<int64_t>(t - sent_at[id], UINT32_MAX)));
        ++r.received;
      }
    }
  }
  r.seconds = std::min<double>(seconds, (NowNs() - start) * 1e-9);
  r.server_cpu = (CpuSeconds(RUSAGE_SELF) - cpu0) -
                 (CpuSeconds(RUSAGE_THREAD) - client0);
  close(fd);
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  return r;
}

// One TCP connection, `window` length-prefixed queries in flight.
PhaseResult RunTcp(int port, const std::vector<std::string>& queries,
                   int window, double seconds) {
  PhaseResult r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    r.failed = true;
    return r;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<int64_t> sent_at(65536, 0);
  std::string pending_in;
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  const double client0 = CpuSeconds(RUSAGE_THREAD);
  const int64_t start = NowNs();
  const int64_t end = start + static_cast<int64_t>(seconds * 1e9);
  uint16_t next_id = 0;
  char buffer[65536];
  while (NowNs() < end + 1'000'000'000 &&
         (NowNs() < end || r.received < r.sent)) {
    std::string out;
    while (NowNs() < end && r.sent - r.received < window) {
      std::string q = queries[static_cast<size_t>(r.sent) % queries.size()];
      LDNS_ID_SET(reinterpret_cast<uint8_t*>(q.data()), next_id);
      sent_at[next_id] = NowNs();
      ++next_id;
      out.push_back(static_cast<char>(q.size() >> 8));
      out.push_back(static_cast<char>(q.size() & 0xff));
      out += q;
      ++r.sent;
    }
    if (!out.empty() && send(fd, out.data(), out.size(), MSG_NOSIGNAL) !=
                            static_cast<ssize_t>(out.size())) {
      r.failed = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) {
      r.failed = true;
      break;
    }
    pending_in.append(buffer, static_cast<size_t>(n));
    const int64_t t = NowNs();
    size_t offset = 0;
    while (pending_in.size() - offset >= 2) {
      const auto* h = reinterpret_cast<const uint8_t*>(pending_in.data()) + offset;
      const size_t length = (static_cast<size_t>(h[0]) << 8) | h[1];
      if (pending_in.size() - offset < 2 + length) break;
      if (length >= LDNS_HEADER_SIZE) {
        const uint16_t id = LDNS_ID_WIRE(h + 2);
        r.latency_ns.push_back(static_cast<uint32_t>(
            std::min<int64_t>(t - sent_at[id], UINT32_MAX)));
      }
      ++r.received;
      offset += 2 + length;
    }
    pending_in.erase(0, offset);
  }
  r.seconds = std::min<double>(seconds, (NowNs() - start) * 1e-9);
  r.server_cpu = (CpuSeconds(RUSAGE_SELF) - cpu0) -
                 (CpuSeconds(RUSAGE_THREAD) - client0);
  close(fd);
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  return r;
}

// The floor: a UDP server that sends every datagram back, one thread,
// batched like the DNS server.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int buffer = 4 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  void Run() {
    std::vector<char> in(kBatch * kBuffer);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    sockaddr_storage peers[kBatch];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      for (size_t i = 0; i < kBatch; ++i) {
        iov[i] = {in.data() + i * kBuffer, kBuffer};
        std::memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &peers[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
      }
      int n = recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) continue;
      for (int i = 0; i < n; ++i) iov[i].iov_len = msgs[i].msg_len;
      sendmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::shared_ptr<const ServiceRecord> Service(int s, int instances) {
  RouteTable t;
  t.service = absl::StrCat("svc-", s);
  t.revision = 1;
  for (int i = 0; i < instances; ++i) {
    RouteInstance in;
    in.id = absl::StrCat("i", i);
    in.host = absl::StrCat("h", i);
    in.address = absl::StrCat("10.", s % 250, ".", i / 250, ".", i % 250 + 1,
                              ":8080");
    in.datacenter = i % 2 == 0 ? "dc1" : "dc2";
    in.weight = 100 + i;
    t.instances.push_back(in);
  }
  return std::make_shared<const ServiceRecord>(
      PrepareServiceRecord(t, EligibilityOptions{}));
}

std::string Row(const std::string& what, const PhaseResult& r,
                const PhaseResult* floor) {
  std::string ratio = "";
  if (floor != nullptr && floor->Qps() > 0) {
    ratio = absl::StrFormat("%.2f", r.Qps() / floor->Qps());
  }
  return absl::StrFormat(
      "| %s | %s | %s | %s | %.2f | %.3f | %.3f | %.3f | %s |\n", what,
      WithCommas(r.sent), WithCommas(r.sent - r.received),
      WithCommas(static_cast<int64_t>(r.Qps())), r.CpuUsPerQuery(), r.Ms(50),
      r.Ms(99), r.Ms(100), ratio);
}

// dnsperf (Debian package dnsperf) against the server: its summary lines.
std::string Dnsperf(int port, int services, double seconds, bool* lost) {
  const std::string file = "/tmp/kess_dns_bench_queries.txt";
  {
    std::ofstream f(file);
    for (int s = 0; s < services; ++s) f << "svc-" << s << ".service.kess A\n";
  }
  auto r = testing::RunCommand(
      {"dnsperf", "-s", "127.0.0.1", "-p", std::to_string(port), "-d", file,
       "-l", absl::StrFormat("%.0f", seconds), "-q", "64", "-c", "1", "-T",
       "1"},
      absl::Seconds(seconds + 30));
  unlink(file.c_str());
  if (!r.ok() || r->exit_code != 0) return "";
  std::string qps, lost_line, latency;
  for (absl::string_view line : absl::StrSplit(r->out, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(line, "Queries per second:")) qps = std::string(line);
    if (absl::StartsWith(line, "Queries lost:")) lost_line = std::string(line);
    if (absl::StartsWith(line, "Average Latency")) latency = std::string(line);
  }
  int64_t lost_count = -1;
  std::vector<absl::string_view> words =
      absl::StrSplit(lost_line, ' ', absl::SkipEmpty());
  if (words.size() >= 3) absl::SimpleAtoi(words[2], &lost_count);
  *lost = lost_count != 0;
  return absl::StrCat(qps, "; ", lost_line, "; ", latency);
}

int Main() {
  metrics::Registry registry;
  DnsServerOptions options;
  options.responder.datacenter = "dc1";
  options.max_tcp_connections = 8;
  options.registry = &registry;
  auto server = DnsServer::Start(options, [](const std::string&) {});
  BENCH_CHECK_OK(server.status());
  for (int s = 0; s < FLAGS_services; ++s) {
    (*server)->Update(Service(s, FLAGS_instances));
  }
  std::vector<std::string> queries;
  for (int s = 0; s < FLAGS_services; ++s) {
    queries.push_back(agent::dns::testing::BuildQuery(
        {.name = absl::StrCat("svc-", s, ".service.kess")}));
  }
  // Catalog loaded and answering?
  for (int i = 0; i < 200; ++i) {
    auto wire = agent::dns::testing::UdpExchange(
        (*server)->port(), queries.back(), absl::Seconds(5));
    if (wire.ok() &&
        agent::dns::testing::DecodeReply(*wire).Answers("A").size() ==
            static_cast<size_t>((FLAGS_instances + 1) / 2)) {
      break;
    }
    usleep(10000);
  }
  const std::string sample_reply = [&] {
    auto wire = agent::dns::testing::UdpExchange((*server)->port(), queries[0],
                                                 absl::Seconds(5));
    return wire.ok() ? *wire : std::string();
  }();

  // The query handler alone, no sockets: decode, answer, encode.
  double respond_us = 0;
  {
    agent::dns::Catalog catalog;
    for (int s = 0; s < FLAGS_services; ++s) {
      catalog.Update(Service(s, FLAGS_instances));
    }
    agent::dns::Responder responder(options.responder);
    std::string reply;
    constexpr int kCalls = 200000;
    const double cpu0 = CpuSeconds(RUSAGE_THREAD);
    for (int i = 0; i < kCalls; ++i) {
      const std::string& q = queries[static_cast<size_t>(i) % queries.size()];
      responder.Respond(reinterpret_cast<const uint8_t*>(q.data()), q.size(),
                        agent::dns::Transport::kUdp, catalog, &reply);
    }
    respond_us = (CpuSeconds(RUSAGE_THREAD) - cpu0) * 1e6 / kCalls;
  }

  EchoServer echo;
  const int port = (*server)->port();
  PhaseResult echo_closed = RunUdp(echo.port(), queries, FLAGS_window, 0,
                                   FLAGS_seconds);
  PhaseResult dns_closed = RunUdp(port, queries, FLAGS_window, 0,
                                  FLAGS_seconds);
  // Every query a cache miss: names in random letter case (as resolvers
  // that use 0x20 send them), 20,000 distinct ones cycled (the cache
  // keeps 10,000).
  std::vector<std::string> mixed_case;
  {
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; ++i) {
      std::string name = absl::StrCat("svc-", i % FLAGS_services,
                                      ".service.kess");
      for (char& c : name) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if ((x & 1) != 0) c = absl::ascii_toupper(static_cast<unsigned char>(c));
      }
      mixed_case.push_back(agent::dns::testing::BuildQuery({.name = name}));
    }
  }
  const double hits0 = registry.GetCounter("kess_agent_dns_cache_hits_total", "")
                           ->Value();
  PhaseResult dns_uncached = RunUdp(port, mixed_case, FLAGS_window, 0,
                                    FLAGS_seconds);
  const double uncached_hits =
      registry.GetCounter("kess_agent_dns_cache_hits_total", "")->Value() -
      hits0;
  PhaseResult echo_paced = RunUdp(echo.port(), queries, 0, FLAGS_rate,
                                  FLAGS_seconds);
  PhaseResult dns_paced = RunUdp(port, queries, 0, FLAGS_rate, FLAGS_seconds);
  PhaseResult dns_serial = RunUdp(port, queries, 1, 0, 1.0);
  PhaseResult echo_serial = RunUdp(echo.port(), queries, 1, 0, 1.0);
  PhaseResult dns_tcp = RunTcp(port, queries, FLAGS_window, FLAGS_seconds);
  bool dnsperf_lost = false;
  std::string dnsperf;
  if (FLAGS_dnsperf) {
    dnsperf = Dnsperf(port, FLAGS_services, FLAGS_seconds, &dnsperf_lost);
  }

  std::string out = SetupTableHead(
      "the DNS server's thread and the client thread share them");
  absl::StrAppend(
      &out, "| server | agent/dns DnsServer, 1 thread (epoll, recvmmsg/"
            "sendmmsg, ldns decode + encode per query), catalog of ",
      FLAGS_services, " services x ", FLAGS_instances,
      " instances (half in the local DC dc1) |\n",
      "| queries | A for `svc-N.service.kess`, N cycled; answer ",
      sample_reply.size(), " bytes (", (FLAGS_instances + 1) / 2,
      " A records, local DC first, weighted order) |\n",
      "| answer cache | on (the server's): a repeated query is answered "
      "from the bytes sent before (16 answers drawn for a weighted order), "
      "emptied on every table change; one phase defeats it |\n",
      "| client | 1 thread of the same process, non-blocking UDP socket, "
      "sendmmsg/recvmmsg, busy polling |\n",
      "| floor | a bare UDP echo server (1 thread, recvmmsg/sendmmsg) "
      "answering the same client with the query itself |\n\n");
  absl::StrAppend(
      &out,
      "| phase | queries | lost | answered/s | server CPU per query (us) | "
      "p50 ms | p99 ms | max ms | vs echo |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  absl::StrAppend(&out, Row(absl::StrCat("UDP echo floor, closed loop, ",
                                         FLAGS_window, " in flight"),
                            echo_closed, nullptr));
  absl::StrAppend(&out, Row(absl::StrCat("DNS, UDP, closed loop, ",
                                         FLAGS_window, " in flight"),
                            dns_closed, &echo_closed));
  absl::StrAppend(
      &out,
      Row(absl::StrCat("DNS, UDP, closed loop, ", FLAGS_window,
                       " in flight, every query a cache miss (random case; ",
                       WithCommas(static_cast<int64_t>(uncached_hits)),
                       " hits)"),
          dns_uncached, &echo_closed));
  absl::StrAppend(&out, Row(absl::StrCat("UDP echo floor, paced ",
                                         WithCommas(FLAGS_rate), "/s"),
                            echo_paced, nullptr));
  absl::StrAppend(&out, Row(absl::StrCat("DNS, UDP, paced ",
                                         WithCommas(FLAGS_rate), "/s"),
                            dns_paced, &echo_paced));
  absl::StrAppend(&out, Row("UDP echo floor, 1 in flight", echo_serial,
                            nullptr));
  absl::StrAppend(&out, Row("DNS, UDP, 1 in flight", dns_serial,
                            &echo_serial));
  absl::StrAppend(&out, Row(absl::StrCat("DNS, TCP, 1 connection, ",
                                         FLAGS_window, " pipelined"),
                            dns_tcp, nullptr));
  auto verdict = [](const PhaseResult& r) {
    const bool met = r.Qps() >= 49000 && r.Ms(99) <= 1.0 && r.sent == r.received;
    return absl::StrFormat("%s (%s/s, p99 %.3f ms)", met ? "met" : "NOT met",
                           WithCommas(static_cast<int64_t>(r.Qps())), r.Ms(99));
  };
  absl::StrAppend(
      &out, "\n| figure | value |\n|---|---|\n",
      "| target >= 50,000 queries/s with p99 <= 1 ms, closed loop | ",
      verdict(dns_closed), "; every query a cache miss: ",
      verdict(dns_uncached), " |\n",
      absl::StrFormat("| target, paced %s/s offered | %s; the echo floor's "
                      "p99 in the same run: %.3f ms |\n",
                      WithCommas(FLAGS_rate), verdict(dns_paced),
                      echo_paced.Ms(99)),
      absl::StrFormat("| Responder::Respond alone (ldns decode, answer, "
                      "ldns encode; no sockets), CPU per query | %.2f us |\n",
                      respond_us),
      absl::StrFormat("| one core's worth (1 s / server CPU per query, "
                      "closed loop) | %s queries/s |\n",
                      WithCommas(static_cast<int64_t>(
                          dns_closed.CpuUsPerQuery() > 0
                              ? 1e6 / dns_closed.CpuUsPerQuery()
                              : 0))));
  if (FLAGS_dnsperf) {
    absl::StrAppend(&out, "| dnsperf 2.10 (Debian), 1 client, 64 in flight, ",
                    absl::StrFormat("%.0f", FLAGS_seconds), " s | ",
                    dnsperf.empty() ? "not run (not installed or failed)"
                                    : dnsperf,
                    " |\n");
  }
  std::fputs(out.c_str(), stdout);
  const bool failed = echo_closed.failed || dns_closed.failed || dnsperf_lost ||
                      dns_uncached.sent != dns_uncached.received ||
                      dns_tcp.failed || dns_closed.sent != dns_closed.received ||
                      dns_tcp.sent != dns_tcp.received;
  return failed ? 2 : 0;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "DNS interface benchmark");
  return kess::bench::Main();
}
