// RouteFeed: keeps a DnsServer's catalog in step with the agent, without
// depending on the Agent class (the daemon wires the two, agent_dns.h).
//
//  - At Start, the route tables already in the file cache
//    (<cache_dir>/routes/*.json) are read once, so a restarted agent
//    answers at once from what it held.
//  - OnAccepted (AgentOptions::on_accepted, the agent's loop thread) queues
//    every route version a distributor sends; a thread of the feed parses
//    it (RouteTableFromJson, the newest queued version per service only),
//    prepares it (PrepareServiceRecord) and hands it to the server. A
//    tombstone or "never existed" becomes an absent record (NXDOMAIN).
//  - Request (DnsServer's RequestFn) queues a service that a query named
//    and the server does not hold; another thread subscribes the agent to
//    it (Start's `subscribe`, i.e. Agent::Subscribe: persisted, like the HTTP
//    subscription API), waits up to `subscribe_wait` for the distributor's
//    answer to reach OnAccepted, and then tells the server the request
//    ended — through the same queue as the tables, so the server has the
//    answer first. At most `max_subscriptions` services are ever added
//    this way (a flood of random names must not subscribe the agent to
//    each); over it, and over 256 queued requests, a request ends at once
//    (SERVFAIL).
//
// Metrics: kess_agent_dns_subscriptions_total{result} (subscribed,
// over_limit, error), kess_agent_dns_bad_tables_total.
//
// Thread-safety: OnAccepted and Request are thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/dns/dns_server.h"
#include "agent/dns/service_record.h"
#include "common/metrics.h"
#include "common/status.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"

namespace kess {
namespace agent {
namespace dns {

struct RouteFeedOptions {
  std::string cache_dir;
  file_cache::Env* env = file_cache::Env::Default();
  EligibilityOptions eligibility;
  absl::Duration subscribe_wait = absl::Seconds(1);
  size_t max_subscriptions = 1000;
  metrics::Registry* registry = &metrics::Registry::Default();
};

class RouteFeed {
 public:
  // Agent::Subscribe: adds keys to the agent's subscriptions and waits up
  // to the duration for the distributor's answer.
  using SubscribeFn = std::function<absl::Status(
      const std::vector<file_cache::CacheKey>&, absl::Duration)>;

  explicit RouteFeed(RouteFeedOptions options);
  ~RouteFeed();  // Stop()

  // AgentOptions::on_accepted: queues route versions (configs are ignored).
  // Callable before Start (kept until then) and after Stop (ignored).
  void OnAccepted(const file_cache::CacheEntry& entry);
  // DnsServer's RequestFn: never blocks.
  void Request(const std::string& service);

  // Loads the cached tables into `server`, then starts the threads.
  // `server` must outlive Stop(); `subscribe` is called on the feed's
  // thread.
  void Start(DnsServer* server, SubscribeFn subscribe);
  // Joins the threads; later calls do nothing.
  void Stop();

 private:
  // One item of the delivery queue: a version of a route table, or the
  // end of a request.
  struct Item {
    bool done = false;
    std::string service;  // done: the requested name
    file_cache::CacheEntry entry;
  };

  void LoadCached();
  void DeliverLoop();
  void SubscribeLoop();
  void Deliver(const file_cache::CacheEntry& entry);

  const RouteFeedOptions options_;
  DnsServer* server_ = nullptr;  // set by Start, before the threads
  SubscribeFn subscribe_;
  std::thread deliver_thread_;
  std::thread subscribe_thread_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  // Per service (catalog key): the newest version queued in items_ (an
  // older queued one is skipped when delivered).
  std::map<std::string, int64_t> newest_queued_ ABSL_GUARDED_BY(mu_);
  // Catalog keys a distributor answered for (any version) since start.
  std::set<std::string> answered_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> requests_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> subscribed_by_dns_ ABSL_GUARDED_BY(mu_);

  metrics::Counter* subscribed_;
  metrics::Counter* over_limit_;
  metrics::Counter* subscribe_errors_;
  metrics::Counter* bad_tables_;
};

}  // namespace dns
}  // namespace agent
}  // namespace kess
