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
  bad_tables_ = options_.registry->GetCounter(
      "kess_agent_dns_bad_tables_total",
      "Route table versions the DNS interface could not parse (skipped).");
}

RouteFeed::~RouteFeed() { Stop(); }

void RouteFeed::OnAccepted(const CacheEntry& entry) {
  if (entry.key.type != CacheKey::Type::kRoute) return;
  const std::string key = CatalogKey(entry.key.service);
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  answered_.insert(key);
  int64_t& newest = newest_queued_[key];
  newest = std::max(newest, entry.revision);
  Item item;
  item.entry = entry;
  items_.push_back(std::move(item));
}

void RouteFeed::Request(const std::string& service) {
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (requests_.size() >= kMaxQueuedRequests) {
      refused = true;
      Item done;
      done.done = true;
      done.service = service;
      items_.push_back(std::move(done));
    } else {
      requests_.push_back(service);
    }
  }
  if (refused) over_limit_->Increment();
}

void RouteFeed::Start(DnsServer* server, SubscribeFn subscribe) {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) return;
    started_ = true;
    server_ = server;
    subscribe_ = std::move(subscribe);
  }
  deliver_thread_ = std::thread([this] { DeliverLoop(); });
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

void RouteFeed::LoadCached() {
  const std::string dir = options_.cache_dir + "/routes";
  absl::StatusOr<std::vector<std::string>> names = options_.env->ListDir(dir);
  if (!names.ok()) {
    if (!absl::IsNotFound(names.status())) {
      LOG(WARNING) << "DNS: cannot list " << dir << ": " << names.status();
    }
    return;
  }
  size_t loaded = 0;
  for (const std::string& name : *names) {
    // Temp files of the writer start with '.'; only <service>.json counts.
    if (name.empty() || name[0] == '.' || !absl::EndsWith(name, ".json")) {
      continue;
    }
    absl::StatusOr<std::string> text = options_.env->ReadFile(dir + "/" + name);
    if (!text.ok()) continue;
    absl::StatusOr<CacheEntry> entry = file_cache::DecodeEntry(*text);
    if (!entry.ok() || entry->key.type != CacheKey::Type::kRoute) continue;
    Deliver(*entry);
    ++loaded;
  }
  LOG(INFO) << "DNS: " << loaded << " route tables loaded from " << dir;
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
  LoadCached();
  while (true) {
    Item item;
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
      if (!item.done) {
        // Only the newest queued version of a service is worth parsing.
        const std::string key = CatalogKey(item.entry.key.service);
        auto it = newest_queued_.find(key);
        if (it != newest_queued_.end()) {
          if (item.entry.revision < it->second) continue;
          newest_queued_.erase(it);
        }
      }
    }
    if (item.done) {
      server_->RequestDone(item.service);
    } else {
      Deliver(item.entry);
    }
  }
}

void RouteFeed::SubscribeLoop() {
  while (true) {
    std::vector<std::string> batch;
    std::vector<std::string> refused;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || !requests_.empty();
      };
      AwaitWithSteadyTimeout(&mu_, absl::Condition(&ready), absl::Seconds(1));
      if (stopping_) return;
      while (!requests_.empty() && batch.size() < kRequestBatch) {
        std::string service = std::move(requests_.front());
        requests_.pop_front();
        const bool valid =
            file_cache::ValidateKey(CacheKey::Route(service)).ok();
        if (valid && (subscribed_by_dns_.count(service) > 0 ||
                      subscribed_by_dns_.size() < options_.max_subscriptions)) {
          subscribed_by_dns_.insert(service);
          batch.push_back(std::move(service));
        } else {
          refused.push_back(std::move(service));
        }
      }
      for (const std::string& service : refused) {
        Item done;
        done.done = true;
        done.service = service;
        items_.push_back(std::move(done));
      }
    }
    if (!refused.empty()) {
      over_limit_->Increment(static_cast<double>(refused.size()));
      LOG_EVERY_N(WARNING, 100)
          << "DNS: not subscribing to " << absl::StrJoin(refused, ",")
          << " (invalid, or " << options_.max_subscriptions
          << " services were subscribed through DNS already)";
    }
    if (batch.empty()) continue;

    const auto deadline = std::chrono::steady_clock::now() +
                          absl::ToChronoMilliseconds(options_.subscribe_wait);
    std::vector<CacheKey> keys;
    for (const std::string& service : batch) {
      keys.push_back(CacheKey::Route(service));
    }
    absl::Status status = subscribe_(keys, options_.subscribe_wait);
    if (status.ok()) {
      subscribed_->Increment(static_cast<double>(batch.size()));
    } else {
      subscribe_errors_->Increment(static_cast<double>(batch.size()));
      LOG_EVERY_N(WARNING, 10) << "DNS: subscribing to "
                               << absl::StrJoin(batch, ",")
                               << " failed: " << status;
    }
    // Wait (bounded) until the distributor answered for every one: its
    // answer went through OnAccepted into the queue before this point.
    absl::MutexLock lock(&mu_);
    auto answered = [this, &batch]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      if (stopping_) return true;
      for (const std::string& service : batch) {
        if (answered_.count(service) == 0) return false;
      }
      return true;
    };
    const auto left = deadline - std::chrono::steady_clock::now();
    if (status.ok() && left.count() > 0) {
      AwaitWithSteadyTimeout(&mu_, absl::Condition(&answered),
                             absl::FromChrono(left));
    }
    for (const std::string& service : batch) {
      Item done;
      done.done = true;
      done.service = service;
      items_.push_back(std::move(done));
    }
  }
}

}  // namespace dns
}  // namespace agent
}  // namespace kess
