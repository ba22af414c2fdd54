#include "mandator/routes/route_writer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

bool SameAsPublished(const RouteTables& published, const ServiceChange& c) {
  auto it = published.find(c.service);
  if (it == published.end()) return !c.table.has_value();
  return c.table.has_value() && SameInstances(it->second, *c.table);
}

}  // namespace

RouteWriter::RouteWriter(RouteStore* store, Options options)
    : store_(store), options_(std::move(options)) {
  metrics::Registry* r = options_.registry;
  writes_ok_ = r->GetCounter("kess_routes_writes_total",
                             "Route table commits to ZooKeeper (puts and "
                             "deletes), by result.",
                             {{"result", "ok"}});
  writes_error_ =
      r->GetCounter("kess_routes_writes_total", "", {{"result", "error"}});
  coalesced_ = r->GetCounter(
      "kess_routes_coalesced_total",
      "Route table changes merged into a write that was still waiting.");
  pending_gauge_ = r->GetGauge("kess_routes_pending",
                               "Services whose route table waits to be "
                               "written (coalescing window or retry).");
}

absl::Status RouteWriter::Load() {
  KESS_ASSIGN_OR_RETURN(RouteTables tables, store_->LoadAll());
  published_ = std::move(tables);
  desired_ = published_;
  pending_.clear();
  pending_gauge_->Set(0);
  loaded_ = true;
  return absl::OkStatus();
}

void RouteWriter::Submit(std::vector<ServiceChange> changes) {
  for (ServiceChange& change : changes) {
    const std::string service = change.service;
    if (change.table.has_value()) {
      desired_[service] = *change.table;
    } else {
      desired_.erase(service);
    }
    if (SameAsPublished(published_, change)) {
      pending_.erase(service);
      continue;
    }
    auto [it, added] = pending_.insert_or_assign(service, std::move(change));
    if (!added) coalesced_->Increment();
  }
  pending_gauge_->Set(static_cast<double>(pending_.size()));
}

bool RouteWriter::Rewrite(const std::string& service) {
  auto it = desired_.find(service);
  if (it == desired_.end()) return false;
  if (pending_.count(service) == 0) {
    pending_[service] = ServiceChange{service, it->second};
    pending_gauge_->Set(static_cast<double>(pending_.size()));
  }
  return true;
}

std::vector<std::string> RouteWriter::PendingServices() const {
  std::vector<std::string> services;
  for (const auto& [service, change] : pending_) services.push_back(service);
  return services;
}

absl::Status RouteWriter::Write(const std::string& service,
                                const ServiceChange& change,
                                const std::string& fence) {
  if (change.table.has_value()) {
    auto held = published_.find(service);
    const RouteTable* previous =
        held == published_.end() ? nullptr : &held->second;
    KESS_ASSIGN_OR_RETURN(int64_t revision,
                          store_->Put(*change.table, fence, previous));
    RouteTable& published = published_[service];
    published = *change.table;
    published.revision = revision;
    desired_[service].revision = revision;
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> deleted = store_->Delete(service, fence);
  if (!deleted.ok() && !absl::IsNotFound(deleted.status())) {
    return deleted.status();
  }
  published_.erase(service);
  return absl::OkStatus();
}

RouteWriter::FlushResult RouteWriter::Flush(absl::Time now,
                                            const std::string& fence) {
  FlushResult result;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto last = last_write_.find(it->first);
    if (last != last_write_.end() && now - last->second < options_.window) {
      ++result.waiting;
      ++it;
      continue;
    }
    absl::Status written = Write(it->first, it->second, fence);
    if (!written.ok()) {
      ++result.failed;
      writes_error_->Increment();
      result.last_error = written;
      LOG(WARNING) << "route table of " << it->first
                   << " not written (retried next cycle): " << written;
      if (absl::IsUnavailable(written)) break;  // fence or connection
      ++it;
      continue;
    }
    ++result.written;
    ++writes_total_;
    writes_ok_->Increment();
    last_write_[it->first] = now;
    it = pending_.erase(it);
  }
  // Forget windows that are over (bounded map for services that go away).
  for (auto it = last_write_.begin(); it != last_write_.end();) {
    if (now - it->second >= options_.window && !pending_.count(it->first)) {
      it = last_write_.erase(it);
    } else {
      ++it;
    }
  }
  pending_gauge_->Set(static_cast<double>(pending_.size()));
  return result;
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
