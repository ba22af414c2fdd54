// RouteFeed: keeps a DnsServer's catalog in step with the agent, without
// depending on the Agent class (the daemon wires the two through an
// AgentLink, agent_dns.h).
//
//  - At Start, the route tables already in the file cache
//    (<cache_dir>/routes/*.json) of services some owner still subscribes
//    to are read once, so a restarted agent answers at once from what it
//    held; files of unsubscribed services (they stay on disk) are not.
//  - OnAccepted (AgentOptions::on_accepted, the agent's loop thread) queues
//    every route version a distributor sends, keeping only the newest one
//    per service (a service pushed many times while the feed is busy holds
//    one table in memory, not one per version); a thread of the feed parses
//    it (RouteTableFromJson), prepares it (PrepareServiceRecord) and hands
//    it to the server. A tombstone or "never existed" becomes an absent
//    record (NXDOMAIN).
//  - OnUnsubscribed (AgentOptions::on_unsubscribed) drops the record of a
//    service no owner subscribes to any more from the server's catalog, so
//    DNS never serves a table that is no longer updated; the next query
//    subscribes again.
//  - Request (DnsServer's RequestFn) queues a service that a query named
//    and the server does not hold; another thread subscribes the agent to
//    it under the owner kDnsOwner ("dns", persisted like the HTTP
//    subscription API's owners), waits up to `subscribe_wait` for the
//    distributor's answer to reach OnAccepted, and then tells the server
//    the request ended — through the same queue as the tables, so the
//    server has the answer first. DNS names are case-insensitive: a
//    lower-case query name is mapped to a service name with upper-case
//    letters if the agent knows that name (subscribed by some owner, or a
//    table in the cache or received since start); otherwise the name is
//    subscribed as asked (lower case).
//  - Bounds: at most `max_subscriptions` services are held by kDnsOwner at
//    any time — those persisted by an earlier run count; over it, and over
//    256 queued requests, a request ends at once (SERVFAIL). A service the
//    distributor says never existed is unsubscribed again at once
//    (kDnsOwner's hold only), its NXDOMAIN kept for `absent_hold`; a
//    service held by kDnsOwner that no query named for `idle_expiry` is
//    unsubscribed (checked every `sweep_interval`; the time counts from
//    the last query or, after a restart, from the start).
//
// Metrics: kess_agent_dns_subscriptions_total{result} (subscribed,
// over_limit, error), kess_agent_dns_unsubscriptions_total{reason}
// (never_existed, unused, error), kess_agent_dns_subscriptions (held by
// kDnsOwner now), kess_agent_dns_bad_tables_total.
//
// Thread-safety: OnAccepted, OnUnsubscribed and Request are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
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

// The owner of the subscriptions DNS queries create (subscription_set.h).
inline constexpr char kDnsOwner[] = "dns";

struct RouteFeedOptions {
  std::string cache_dir;
  file_cache::Env* env = file_cache::Env::Default();
  EligibilityOptions eligibility;
  absl::Duration subscribe_wait = absl::Seconds(1);
  size_t max_subscriptions = 1000;
  absl::Duration idle_expiry = absl::Hours(24);
  absl::Duration absent_hold = absl::Minutes(1);
  absl::Duration sweep_interval = absl::Minutes(1);
  metrics::Registry* registry = &metrics::Registry::Default();
};

// Route services the agent subscribes to now.
struct RouteSubscriptions {
  std::set<std::string> all;  // held by any owner
  std::set<std::string> dns;  // held by kDnsOwner
};

// What the feed needs of the agent. All are called on the feed's threads
// (never on the agent's loop thread) and may block.
struct AgentLink {
  // Adds route keys for kDnsOwner; waits up to the duration for the
  // distributor's answer (Agent::Subscribe).
  std::function<absl::Status(const std::vector<file_cache::CacheKey>&,
                             absl::Duration)>
      subscribe;
  // Removes kDnsOwner's hold of route keys (Agent::Unsubscribe).
  std::function<absl::Status(const std::vector<file_cache::CacheKey>&)>
      unsubscribe;
  std::function<RouteSubscriptions()> subscriptions;
};

// The link to an agent::Agent (a template so that this package does not
// link the agent's; AgentT has Subscribe(owner, Subscription, wait),
// Unsubscribe(owner, Subscription) and Owners()).
template <typename AgentT>
AgentLink LinkToAgent(AgentT* agent) {
  using Subscription =
      typename std::decay_t<decltype(agent->Owners())>::mapped_type;
  AgentLink link;
  link.subscribe = [agent](const std::vector<file_cache::CacheKey>& keys,
                           absl::Duration wait) {
    Subscription what;
    what.keys.insert(keys.begin(), keys.end());
    return agent->Subscribe(kDnsOwner, what, wait);
  };
  link.unsubscribe = [agent](const std::vector<file_cache::CacheKey>& keys) {
    Subscription what;
    what.keys.insert(keys.begin(), keys.end());
    return agent->Unsubscribe(kDnsOwner, what).status();
  };
  link.subscriptions = [agent] {
    RouteSubscriptions out;
    for (const auto& [owner, what] : agent->Owners()) {
      for (const file_cache::CacheKey& key : what.keys) {
        if (key.type != file_cache::CacheKey::Type::kRoute) continue;
        out.all.insert(key.service);
        if (owner == kDnsOwner) out.dns.insert(key.service);
      }
    }
    return out;
  };
  return link;
}

class RouteFeed {
 public:
  explicit RouteFeed(RouteFeedOptions options);
  ~RouteFeed();  // Stop()

  // AgentOptions::on_accepted: queues route versions (configs are ignored).
  // Callable before Start (kept until then) and after Stop (ignored).
  void OnAccepted(const file_cache::CacheEntry& entry);
  // AgentOptions::on_unsubscribed: keys no owner holds any more.
  void OnUnsubscribed(const std::vector<file_cache::CacheKey>& keys);
  // DnsServer's RequestFn: never blocks.
  void Request(const std::string& service);

  // Loads the cached tables of subscribed services into `server`, then
  // starts the threads. `server` must outlive Stop().
  void Start(DnsServer* server, AgentLink link);
  // Joins the threads; later calls do nothing.
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  // One item of the delivery queue, by catalog key.
  struct Item {
    enum class Kind {
      kTable,   // the version in pending_ (none: skipped)
      kDone,    // the request for `key` ended
      kRemove,  // drop `key` from the catalog
    };
    Kind kind = Kind::kTable;
    std::string key;
  };
  struct Held {  // a service kDnsOwner holds
    std::string service;
    Clock::time_point last_used;
  };

  void LoadCached(const std::set<std::string>& subscribed);
  void DeliverLoop();
  void SubscribeLoop();
  void Deliver(const file_cache::CacheEntry& entry);
  // Subscribe thread: collects use, expires idle subscriptions and held
  // NXDOMAIN answers.
  void Sweep();
  // Subscribe thread: removes kDnsOwner's hold of `services`.
  void Release(const std::vector<std::string>& services, metrics::Counter* why);
  void UpdateHeldGauge() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RouteFeedOptions options_;
  DnsServer* server_ = nullptr;  // set by Start, before the threads
  AgentLink link_;               // likewise
  std::thread deliver_thread_;
  std::thread subscribe_thread_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  // Per catalog key: the newest version not delivered yet.
  std::map<std::string, file_cache::CacheEntry> pending_ ABSL_GUARDED_BY(mu_);
  // Catalog keys a distributor answered for (any version) since start.
  std::set<std::string> answered_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> requests_ ABSL_GUARDED_BY(mu_);
  // Catalog key -> the service kDnsOwner holds.
  std::map<std::string, Held> held_ ABSL_GUARDED_BY(mu_);
  // Services held by kDnsOwner that never existed: to release.
  std::vector<std::string> never_existed_ ABSL_GUARDED_BY(mu_);
  // Catalog key -> until when its NXDOMAIN stays after the release.
  std::map<std::string, Clock::time_point> negative_ ABSL_GUARDED_BY(mu_);
  // Catalog key -> a service name known to exist (or to have existed).
  std::map<std::string, std::string> known_names_ ABSL_GUARDED_BY(mu_);

  metrics::Counter* subscribed_;
  metrics::Counter* over_limit_;
  metrics::Counter* subscribe_errors_;
  metrics::Counter* released_absent_;
  metrics::Counter* released_unused_;
  metrics::Counter* release_errors_;
  metrics::Gauge* held_gauge_;
  metrics::Counter* bad_tables_;
};

}  // namespace dns
}  // namespace agent
}  // namespace kess
