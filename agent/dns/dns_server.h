// DnsServer: the Responder on a UDP and a TCP socket (same address and
// port), all on one thread of its own: a non-blocking UDP socket read and
// answered in batches (recvmmsg/sendmmsg), TCP connections with a bound on
// their number and an idle deadline, and an epoll loop that also wakes for
// catalog updates. No thread per query, no file read per query: answers
// come from the in-memory Catalog the thread owns.
//
// A query for a service the catalog does not hold (Responder's
// kNeedService) waits: the server calls `request(service)` once (the agent
// glue subscribes to it), parks the query for at most `table_wait`, and
// answers it as soon as a record arrives (Update) or the request ends
// (RequestDone: SERVFAIL if no record came); at the deadline it answers
// SERVFAIL. At most `max_waiting_queries` wait at once;
// over that a query gets SERVFAIL at once.
//
// TCP (RFC 7766): messages with their 2-byte length, pipelined, answered
// in order of completion; a connection is closed after `tcp_idle_timeout`
// without a complete query (and none waiting), or when it sends a
// zero-length message. Over `max_tcp_connections` a new connection is
// accepted and closed at once. A connection whose unsent answers exceed
// 256 KiB is closed (a client that does not read).
//
// Answer cache: a query whose bytes (all but the id) and transport were
// seen since the catalog last changed is answered from the bytes sent then,
// with its own id, without decoding; one whose answer is in a random order
// (weighted A/AAAA) cycles through up to 16 answers drawn the first times.
// Any catalog change empties it; at most 10,000 queries are kept.
//
// Use: the services answered from a record (not NXDOMAIN) are noted, and
// TakeUsed hands them out (the DNS subscriptions of services nobody asks
// for expire, route_feed.h).
//
// Metrics (registry): kess_agent_dns_queries_total{transport},
// kess_agent_dns_responses_total{rcode}, kess_agent_dns_truncated_total,
// kess_agent_dns_dropped_total, kess_agent_dns_waits_total{result},
// kess_agent_dns_tcp_connections, kess_agent_dns_tcp_rejected_total,
// kess_agent_dns_services, kess_agent_dns_cache_hits_total.
//
// Thread-safety: Update, Remove, RequestDone and TakeUsed are thread-safe;
// the request
// callback runs on the server's thread and must not block.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/dns/responder.h"
#include "agent/dns/service_record.h"
#include "common/metrics.h"
#include "common/status.h"

namespace kess {
namespace agent {
namespace dns {

struct DnsServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: a free port, the same for UDP and TCP
  ResponderOptions responder;
  absl::Duration table_wait = absl::Seconds(1);
  size_t max_waiting_queries = 1024;
  size_t max_tcp_connections = 64;
  absl::Duration tcp_idle_timeout = absl::Seconds(10);
  metrics::Registry* registry = &metrics::Registry::Default();
};

class DnsServer {
 public:
  // Asked on the server's thread for a service (lower case) that a query
  // named and the catalog does not hold. Must not block; must end with
  // RequestDone(service, ...) from any thread.
  using RequestFn = std::function<void(const std::string& service)>;

  // Binds both sockets and starts the thread.
  static absl::StatusOr<std::unique_ptr<DnsServer>> Start(
      DnsServerOptions options, RequestFn request);
  // Stops the thread and closes every socket.
  ~DnsServer();

  int port() const { return port_; }

  // The newest version of a service (any thread); older revisions than
  // the one held are ignored.
  void Update(std::shared_ptr<const ServiceRecord> record);
  // The request for `service` ended. Its waiting queries are answered from
  // the catalog if a record came (an absent one: NXDOMAIN), else get
  // SERVFAIL; the next query for a service still missing asks again.
  // Updates sent before this call are applied before it.
  void RequestDone(const std::string& service);
  // Forgets the record of `service` (no longer subscribed): the next query
  // for it calls `request` again. Ordered with Update and RequestDone.
  void Remove(const std::string& service);

  // The services (lower case) answered from a record since the last call,
  // up to about a second late.
  std::vector<std::string> TakeUsed();

 private:
  struct Waiting;
  struct TcpConnection;
  struct Event {
    enum class Kind { kUpdate, kRequestDone, kRemove };
    Kind kind = Kind::kUpdate;
    std::shared_ptr<const ServiceRecord> record;  // kUpdate
    std::string service;                          // the others
  };

  DnsServer(DnsServerOptions options, RequestFn request);
  absl::Status Bind();
  void Run();
  void Wake();
  void DrainEvents();
  void ReadUdp();
  void Accept();
  void OnTcpReadable(uint64_t id);
  void OnTcpWritable(uint64_t id);
  void CloseTcp(uint64_t id);
  // Answers one query; `tcp_id` 0 for UDP (then `peer` is the client).
  void Handle(const uint8_t* query, size_t size, uint64_t tcp_id,
              const void* peer, uint32_t peer_length);
  void Reply(uint64_t tcp_id, const void* peer, uint32_t peer_length,
             const std::string& reply, const Responder::Result& result);
  void SendTcp(uint64_t id, const std::string& reply);
  void FlushUdp();
  void Retry(const std::string& service);
  void ExpireWaiting();
  int NextTimeoutMs() const;
  void Count(const Responder::Result& result);

  const DnsServerOptions options_;
  const RequestFn request_;
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable absl::Mutex mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> used_out_ ABSL_GUARDED_BY(mu_);

  // Server thread only.
  Responder responder_;
  Catalog catalog_;
  absl::flat_hash_set<std::string> requested_;
  absl::flat_hash_set<std::string> used_;  // moved to used_out_ each second
  int64_t next_used_flush_ms_ = 0;
  std::deque<std::unique_ptr<Waiting>> waiting_;  // by deadline
  absl::flat_hash_map<uint64_t, std::unique_ptr<TcpConnection>> tcp_;
  uint64_t next_tcp_id_ = 1;
  // UDP answers batched for one sendmmsg.
  struct CachedAnswer {
    std::vector<std::string> variants;
    size_t next = 0;
    bool complete = false;  // no more variants to draw
    Responder::Result result;
  };
  absl::flat_hash_map<std::string, CachedAnswer> cache_;
  struct UdpOut;
  std::vector<UdpOut> udp_out_;
  std::vector<char> udp_buffers_;
  absl::flat_hash_map<int, metrics::Counter*> responses_;  // by rcode

  metrics::Counter* queries_udp_;
  metrics::Counter* queries_tcp_;
  metrics::Counter* truncated_;
  metrics::Counter* dropped_;
  metrics::Counter* waits_answered_;
  metrics::Counter* waits_servfail_;
  metrics::Counter* tcp_rejected_;
  metrics::Counter* cache_hits_;
  metrics::Gauge* tcp_connections_;
  metrics::Gauge* services_;
  metrics::Registry* registry_;
};

}  // namespace dns
}  // namespace agent
}  // namespace kess
