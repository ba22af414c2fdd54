#include "agent/dns/route_feed.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "model/route_table.h"

namespace kess {
namespace agent {
namespace dns {
namespace {

using file_cache::CacheEntry;
using file_cache::CacheKey;

constexpr size_t kMaxQueuedRequests = 256;
constexpr size_t kRequestBatch = 64;

}  // namespace

RouteFeed::RouteFeed(RouteFeedOptions options) : options_(std::move(options)) {
  constexpr char kHelp[] =
      "Services the DNS interface asked the agent to subscribe to, by result "
      "(over_limit: --dns_max_subscriptions reached or too many queued).";
  subscribed_ = options_.registry->GetCounter(
      "kess_agent_dns_subscriptions_total", kHelp, {{"result", "subscribed"}});
  over_limit_ = options_.registry->GetCounter(
      "kess_agent_dns_subscriptions_total", kHelp, {{"result", "over_limit"}});
  subscribe_errors_ = options_.registry->GetCounter(
      "kess_agent_dns_subscriptions_total", kHelp, {{"result", "error"}});
  constexpr char kReleaseHelp[] =
      "Services the DNS interface unsubscribed again, by reason "
      "(never_existed, unused: no query for --dns_unused_expiry_seconds, "
      "error: the unsubscription failed).";
  released_absent_ = options_.registry->GetCounter(
      "kess_agent_dns_unsubscriptions_total", kReleaseHelp,
      {{"reason", "never_existed"}});
  released_unused_ = options_.registry->GetCounter(
      "kess_agent_dns_unsubscriptions_total", kReleaseHelp,
      {{"reason", "unused"}});
  release_errors_ = options_.registry->GetCounter(
      "kess_agent_dns_unsubscriptions_total", kReleaseHelp,
      {{"reason", "error"}});
  held_gauge_ = options_.registry->GetGauge(
      "kess_agent_dns_subscriptions",
      "Services subscribed by the DNS interface (owner \"dns\") now; at "
      "most --dns_max_subscriptions.");
  bad_tables_ = options_.registry->GetCounter(
      "kess_agent_dns_bad_tables_total",
      "Route table versions the DNS interface could not parse (skipped).");
}

RouteFeed::~RouteFeed() { Stop(); }

void RouteFeed::OnAccepted(const CacheEntry& entry) {
  if (entry.key.type != CacheKey::Type::kRoute) return;
  const std::string key = CatalogKey(entry.key.service);
  const bool never_existed = entry.absent && entry.revision <= 0;
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  answered_.insert(key);
  if (!never_existed) {
    known_names_[key] = entry.key.service;
  } else {
    auto held = held_.find(key);
    if (held != held_.end() && held->second.service == entry.key.service &&
        negative_.count(key) == 0) {
      never_existed_.push_back(entry.key.service);
      negative_[key] = Clock::now() + absl::ToChronoNanoseconds(
                                          options_.absent_hold);
    }
  }
  auto [it, inserted] = pending_.try_emplace(key);
  if (inserted) {
    it->second = entry;
    items_.push_back(Item{Item::Kind::kTable, key});
  } else if (entry.revision > it->second.revision) {
    it->second = entry;  // the older one is never parsed
  }
}

void RouteFeed::OnUnsubscribed(const std::vector<CacheKey>& keys) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  for (const CacheKey& k : keys) {
    if (k.type != CacheKey::Type::kRoute) continue;
    const std::string key = CatalogKey(k.service);
    held_.erase(key);
    // A name that never existed keeps its NXDOMAIN for absent_hold (Sweep
    // removes it then), so repeated queries do not subscribe again.
    if (negative_.count(key) > 0) continue;
    answered_.erase(key);
    pending_.erase(key);
    items_.push_back(Item{Item::Kind::kRemove, key});
  }
  UpdateHeldGauge();
}

void RouteFeed::Request(const std::string& service) {
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (requests_.size() >= kMaxQueuedRequests) {
      refused = true;
      items_.push_back(Item{Item::Kind::kDone, service});
    } else {
      requests_.push_back(service);
    }
  }
  if (refused) over_limit_->Increment();
}

void RouteFeed::Start(DnsServer* server, AgentLink link) {
  RouteSubscriptions subscriptions;
  if (link.subscriptions) subscriptions = link.subscriptions();
  std::vector<std::string> cached;
  {
    absl::StatusOr<std::vector<std::string>> names =
        options_.env->ListDir(options_.cache_dir + "/routes");
    if (names.ok()) cached = std::move(*names);
  }
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) return;
    started_ = true;
    server_ = server;
    link_ = std::move(link);
    const Clock::time_point now = Clock::now();
    for (const std::string& service : subscriptions.dns) {
      held_[CatalogKey(service)] = Held{service, now};
    }
    for (const std::string& service : subscriptions.all) {
      known_names_.emplace(CatalogKey(service), service);
    }
    for (const std::string& name : cached) {
      // <service>.json; temp files of the writer start with '.'.
      if (name.empty() || name[0] == '.' || !absl::EndsWith(name, ".json")) {
        continue;
      }
      const std::string service = name.substr(0, name.size() - 5);
      if (file_cache::ValidateKey(CacheKey::Route(service)).ok()) {
        known_names_.emplace(CatalogKey(service), service);
      }
    }
    UpdateHeldGauge();
    if (held_.size() > options_.max_subscriptions) {
      LOG(WARNING) << "DNS: " << held_.size()
                   << " services are subscribed through DNS, more than "
                      "--dns_max_subscriptions="
                   << options_.max_subscriptions
                   << "; no more until unused ones expire";
    }
  }
  deliver_thread_ = std::thread(
      [this, all = std::move(subscriptions.all)] {
        LoadCached(all);
        DeliverLoop();
      });
  subscribe_thread_ = std::thread([this] { SubscribeLoop(); });
}

void RouteFeed::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (deliver_thread_.joinable()) deliver_thread_.join();
  if (subscribe_thread_.joinable()) subscribe_thread_.join();
}

void RouteFeed::UpdateHeldGauge() {
  held_gauge_->Set(static_cast<double>(held_.size()));
}

void RouteFeed::LoadCached(const std::set<std::string>& subscribed) {
  const std::string dir = options_.cache_dir + "/routes";
  absl::StatusOr<std::vector<std::string>> names = options_.env->ListDir(dir);
  if (!names.ok()) {
    if (!absl::IsNotFound(names.status())) {
      LOG(WARNING) << "DNS: cannot list " << dir << ": " << names.status();
    }
    return;
  }
  size_t loaded = 0;
  size_t unsubscribed = 0;
  for (const std::string& name : *names) {
    // Temp files of the writer start with '.'; only <service>.json counts.
    if (name.empty() || name[0] == '.' || !absl::EndsWith(name, ".json")) {
      continue;
    }
    absl::StatusOr<std::string> text = options_.env->ReadFile(dir + "/" + name);
    if (!text.ok()) continue;
    absl::StatusOr<CacheEntry> entry = file_cache::DecodeEntry(*text);
    if (!entry.ok() || entry->key.type != CacheKey::Type::kRoute) continue;
    // A file stays when its service is unsubscribed; it is no longer
    // updated, so it is not served.
    if (subscribed.count(entry->key.service) == 0) {
      ++unsubscribed;
      continue;
    }
    Deliver(*entry);
    ++loaded;
  }
  LOG(INFO) << "DNS: " << loaded << " route tables loaded from " << dir
            << " (" << unsubscribed << " of unsubscribed services left out)";
}

void RouteFeed::Deliver(const CacheEntry& entry) {
  if (entry.absent) {
    server_->Update(std::make_shared<const ServiceRecord>(
        AbsentServiceRecord(entry.key.service, entry.revision)));
    return;
  }
  absl::StatusOr<RouteTable> table = RouteTableFromJson(entry.value);
  if (!table.ok() || table->service != entry.key.service) {
    bad_tables_->Increment();
    LOG_EVERY_N(WARNING, 100)
        << "DNS: route table of " << entry.key.service << " revision "
        << entry.revision << " skipped: "
        << (table.ok() ? "it names another service" : table.status().ToString());
    return;
  }
  ServiceRecord record = PrepareServiceRecord(*table, options_.eligibility);
  record.revision = entry.revision;
  server_->Update(std::make_shared<const ServiceRecord>(std::move(record)));
}

void RouteFeed::DeliverLoop() {
  while (true) {
    Item item;
    CacheEntry entry;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || !items_.empty();
      };
      AwaitWithSteadyTimeout(&mu_, absl::Condition(&ready), absl::Seconds(1));
      if (stopping_) return;
      if (items_.empty()) continue;
      item = std::move(items_.front());
      items_.pop_front();
      if (item.kind == Item::Kind::kTable) {
        auto node = pending_.extract(item.key);
        if (node.empty()) continue;  // removed since
        entry = std::move(node.mapped());
      }
    }
    switch (item.kind) {
      case Item::Kind::kTable:
        Deliver(entry);
        break;
      case Item::Kind::kDone:
        server_->RequestDone(item.key);
        break;
      case Item::Kind::kRemove:
        server_->Remove(item.key);
        break;
    }
  }
}

void RouteFeed::Release(const std::vector<std::string>& services,
                        metrics::Counter* why) {
  if (services.empty()) return;
  std::vector<CacheKey> keys;
  for (const std::string& service : services) {
    keys.push_back(CacheKey::Route(service));
  }
  absl::Status status = link_.unsubscribe ? link_.unsubscribe(keys)
                                          : absl::OkStatus();
  if (status.ok()) {
    why->Increment(static_cast<double>(services.size()));
    return;
  }
  release_errors_->Increment(static_cast<double>(services.size()));
  LOG_EVERY_N(WARNING, 10) << "DNS: unsubscribing "
                           << absl::StrJoin(services, ",")
                           << " failed: " << status;
  // Held again: a later sweep retries the unused ones.
  absl::MutexLock lock(&mu_);
  const Clock::time_point now = Clock::now();
  for (const std::string& service : services) {
    held_.try_emplace(CatalogKey(service), Held{service, now});
  }
  UpdateHeldGauge();
}

void RouteFeed::Sweep() {
  const std::vector<std::string> used = server_->TakeUsed();
  RouteSubscriptions subscriptions;
  if (link_.subscriptions) subscriptions = link_.subscriptions();
  std::set<std::string> subscribed_keys;
  for (const std::string& service : subscriptions.all) {
    subscribed_keys.insert(CatalogKey(service));
  }
  std::vector<std::string> unused;
  {
    absl::MutexLock lock(&mu_);
    const Clock::time_point now = Clock::now();
    for (const std::string& key : used) {
      auto it = held_.find(key);
      if (it != held_.end()) it->second.last_used = now;
    }
    const auto expiry = absl::ToChronoNanoseconds(options_.idle_expiry);
    for (auto it = held_.begin(); it != held_.end();) {
      if (now - it->second.last_used >= expiry) {
        unused.push_back(it->second.service);
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = negative_.begin(); it != negative_.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      // Subscribed again meanwhile (by an application, or DNS): its
      // record is live, keep it.
      if (subscribed_keys.count(it->first) == 0 &&
          held_.count(it->first) == 0) {
        answered_.erase(it->first);
        pending_.erase(it->first);
        items_.push_back(Item{Item::Kind::kRemove, it->first});
      }
      it = negative_.erase(it);
    }
    UpdateHeldGauge();
  }
  if (!unused.empty()) {
    LOG(INFO) << "DNS: unsubscribing " << unused.size()
              << " services no DNS query named for "
              << absl::FormatDuration(options_.idle_expiry);
  }
  Release(unused, released_unused_);
}

void RouteFeed::SubscribeLoop() {
  Clock::time_point next_sweep =
      Clock::now() + absl::ToChronoNanoseconds(options_.sweep_interval);
  while (true) {
    std::vector<std::string> requested;  // lower case, as the server asked
    std::vector<std::string> never_existed;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || !requests_.empty() || !never_existed_.empty();
      };
      const absl::Duration until_sweep = std::max(
          absl::ZeroDuration(), absl::FromChrono(next_sweep - Clock::now()));
      AwaitWithSteadyTimeout(&mu_, absl::Condition(&ready),
                             std::min(absl::Seconds(1), until_sweep));
      if (stopping_) return;
      never_existed.swap(never_existed_);
      for (const std::string& service : never_existed) {
        held_.erase(CatalogKey(service));
      }
      UpdateHeldGauge();
      while (!requests_.empty() && requested.size() < kRequestBatch) {
        requested.push_back(std::move(requests_.front()));
        requests_.pop_front();
      }
    }
    Release(never_existed, released_absent_);
    if (Clock::now() >= next_sweep) {
      Sweep();
      next_sweep =
          Clock::now() + absl::ToChronoNanoseconds(options_.sweep_interval);
    }
    if (requested.empty()) continue;

    // The names to subscribe: a name the agent knows in another case is
    // subscribed as it is spelt there.
    std::map<std::string, std::string> subscribed_names;  // key -> name
    if (link_.subscriptions) {
      for (const std::string& s : link_.subscriptions().all) {
        subscribed_names.emplace(CatalogKey(s), s);
      }
    }
    std::vector<std::string> batch;  // catalog keys
    std::vector<std::string> names;  // as subscribed
    std::vector<std::string> refused;
    {
      absl::MutexLock lock(&mu_);
      const Clock::time_point now = Clock::now();
      for (std::string& key : requested) {
        std::string name = key;
        auto s = subscribed_names.find(key);
        auto k = known_names_.find(key);
        if (s != subscribed_names.end()) {
          name = s->second;
        } else if (k != known_names_.end()) {
          name = k->second;
        }
        const bool valid = file_cache::ValidateKey(CacheKey::Route(name)).ok();
        auto held = held_.find(key);
        if (valid && (held != held_.end() ||
                      held_.size() < options_.max_subscriptions)) {
          if (held == held_.end()) {
            held_[key] = Held{name, now};
          } else {
            held->second.last_used = now;
          }
          batch.push_back(std::move(key));
          names.push_back(std::move(name));
        } else {
          refused.push_back(std::move(key));
        }
      }
      for (const std::string& key : refused) {
        items_.push_back(Item{Item::Kind::kDone, key});
      }
      UpdateHeldGauge();
    }
    if (!refused.empty()) {
      over_limit_->Increment(static_cast<double>(refused.size()));
      LOG_EVERY_N(WARNING, 100)
          << "DNS: not subscribing to " << absl::StrJoin(refused, ",")
          << " (invalid, or " << options_.max_subscriptions
          << " services are subscribed through DNS already)";
    }
    if (batch.empty()) continue;

    const auto deadline = Clock::now() +
                          absl::ToChronoMilliseconds(options_.subscribe_wait);
    std::vector<CacheKey> keys;
    for (const std::string& name : names) keys.push_back(CacheKey::Route(name));
    absl::Status status = link_.subscribe(keys, options_.subscribe_wait);
    if (status.ok()) {
      subscribed_->Increment(static_cast<double>(batch.size()));
      // A service some owner held already, or one held before whose file
      // is current, gets no new version from the distributor: its table is
      // the cache file (a newer version replaces it as usual). One the
      // distributor answered for since (re)subscribed needs none.
      for (const std::string& name : names) {
        {
          absl::MutexLock lock(&mu_);
          if (answered_.count(CatalogKey(name)) > 0) continue;
        }
        absl::StatusOr<std::string> text = options_.env->ReadFile(
            options_.cache_dir + "/" +
            file_cache::RelativePath(CacheKey::Route(name)));
        if (!text.ok()) continue;
        absl::StatusOr<CacheEntry> entry = file_cache::DecodeEntry(*text);
        if (entry.ok() && entry->key == CacheKey::Route(name)) {
          OnAccepted(*entry);
        }
      }
    } else {
      subscribe_errors_->Increment(static_cast<double>(batch.size()));
      LOG_EVERY_N(WARNING, 10) << "DNS: subscribing to "
                               << absl::StrJoin(names, ",")
                               << " failed: " << status;
    }
    // Wait (bounded) until the distributor answered for every one: its
    // answer went through OnAccepted into the queue before this point.
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      for (const std::string& key : batch) held_.erase(key);
      UpdateHeldGauge();
    }
    auto answered = [this, &batch]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      if (stopping_) return true;
      for (const std::string& key : batch) {
        if (answered_.count(key) == 0) return false;
      }
      return true;
    };
    const auto left = deadline - Clock::now();
    if (status.ok() && left.count() > 0) {
      AwaitWithSteadyTimeout(&mu_, absl::Condition(&answered),
                             absl::FromChrono(left));
    }
    for (const std::string& key : batch) {
      items_.push_back(Item{Item::Kind::kDone, key});
    }
  }
}

}  // namespace dns
}  // namespace agent
}  // namespace kess
