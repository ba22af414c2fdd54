#include "sdk/discovery.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace kess {
namespace sdk {

using file_cache::CacheEntry;
using file_cache::CacheKey;

absl::StatusOr<std::unique_ptr<Discovery>> Discovery::Create(Options options) {
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("clock is null");
  }
  if (options.failover.initial_ejection <= absl::ZeroDuration() ||
      options.failover.max_ejection < options.failover.initial_ejection ||
      !(options.failover.recovering_weight > 0 &&
        options.failover.recovering_weight <= 1)) {
    return absl::InvalidArgumentError(
        "failover: need 0 < initial_ejection <= max_ejection and "
        "0 < recovering_weight <= 1");
  }
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<CacheWatcher> watcher,
                        CacheWatcher::Create(options));
  std::unique_ptr<Discovery> discovery(
      new Discovery(std::move(options), std::move(watcher)));
  absl::StatusOr<const LoadBalancer*> balancer =
      discovery->Balancer(discovery->options_.balancer);
  if (!balancer.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("balancer: ", balancer.status().message()));
  }
  discovery->default_balancer_ = *balancer;
  return discovery;
}

Discovery::Discovery(Options options, std::unique_ptr<CacheWatcher> watcher)
    : options_(std::move(options)),
      watcher_(std::move(watcher)),
      services_(std::make_shared<const ServiceMap>()) {
  // The same counter as CacheWatcher's unreadable route files.
  read_errors_ = options_.registry->GetCounter(
      "kess_sdk_route_read_errors_total",
      "Cache files of routes that could not be read (the last good version "
      "was kept).");
}

Discovery::~Discovery() {
  // Stop the internal watches while the watcher still runs. (The Service
  // objects themselves may outlive this in a map retired by SnapshotCell;
  // they refer to nothing else.)
  std::shared_ptr<const ServiceMap> services = services_.Load();
  for (const auto& [name, service] : *services) service->watch.reset();
}

int Discovery::OwnerShard() {
  static std::atomic<uint32_t> next{0};
  thread_local const int shard = next.fetch_add(1) % kOwnerShards;
  return shard;
}

absl::StatusOr<const LoadBalancer*> Discovery::Balancer(
    absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = balancers_.find(name);
  if (it != balancers_.end()) return it->second.get();
  LoadBalancerOptions lb;
  lb.local_datacenter = options_.local_datacenter;
  lb.min_local_healthy = options_.min_local_healthy;
  lb.local_first_inner = options_.local_first_inner;
  if (name == "local_first" && lb.local_datacenter.empty()) {
    return absl::InvalidArgumentError("local_first needs local_datacenter");
  }
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<LoadBalancer> balancer,
                        LoadBalancerRegistry::Create(name, lb));
  const LoadBalancer* result = balancer.get();
  balancers_.emplace(std::string(name), std::move(balancer));
  return result;
}

Discovery::Service* Discovery::Find(absl::string_view name) const {
  return services_.Read([&](const std::shared_ptr<const ServiceMap>& map) {
    auto it = map->find(name);
    // Services live as long as the Discovery, so the pointer stays valid.
    return it == map->end() ? nullptr : it->second.get();
  });
}

absl::StatusOr<Discovery::Service*> Discovery::Track(absl::string_view name) {
  if (Service* service = Find(name)) return service;
  const CacheKey key = CacheKey::Route(std::string(name));
  KESS_RETURN_IF_ERROR(file_cache::ValidateKey(key));
  absl::MutexLock lock(&mu_);
  std::shared_ptr<const ServiceMap> map = services_.Load();
  auto it = map->find(name);
  if (it != map->end()) return it->second.get();  // raced with another call

  auto service = std::make_shared<Service>(key.service, options_.failover);
  Service* raw = service.get();
  KESS_ASSIGN_OR_RETURN(service->watch,
                        watcher_->Watch(key, [this, raw](const CacheEntry& e) {
                          Apply(raw, e);
                        }));
  // Watch read the file: apply it now, so the first Select has a table.
  absl::StatusOr<CacheEntry> entry = watcher_->Get(key);
  if (entry.ok()) Apply(raw, *entry);

  auto copy = std::make_shared<ServiceMap>(*map);
  copy->emplace(key.service, std::move(service));
  services_.Store(std::move(copy));
  return raw;
}

std::pair<std::shared_ptr<const RouteTable>, bool> Discovery::Apply(
    Service* service, const CacheEntry& entry) {
  absl::MutexLock lock(&service->mu);
  auto current = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(service->mu) {
    return service->snapshot == nullptr ? nullptr
                                        : service->snapshot->shared_table();
  };
  if (entry.revision < service->revision) return {current(), false};
  if (entry.revision == service->revision) {
    return {current(), service->snapshot != nullptr};
  }
  absl::StatusOr<RouteTable> table = RouteTable();
  if (entry.absent) {
    table->service = service->name;  // deleted upstream: no instances
    table->revision = entry.revision;
  } else {
    table = RouteTableFromJson(entry.value);
    if (table.ok() && table->service != service->name) {
      table = absl::DataLossError(
          absl::StrCat("the table is for service \"", table->service, "\""));
    }
  }
  if (!table.ok()) {
    read_errors_->Increment();
    const int64_t now = options_.clock->NowMs();
    if (now - service->last_error_log_ms >= 10000 ||
        service->last_error_log_ms == 0) {
      service->last_error_log_ms = now;
      LOG(WARNING) << "kess route table of " << service->name << " at revision "
                   << entry.revision
                   << " is invalid; keeping the last good one (revision "
                   << service->revision << "): " << table.status();
    }
    return {current(), false};
  }
  service->revision = entry.revision;
  service->snapshot = RouteSnapshot::Build(
      std::make_shared<const RouteTable>(*std::move(table)));
  Publish(service);
  return {service->snapshot->shared_table(), true};
}

void Discovery::Publish(Service* service) {
  auto view = std::make_shared<View>();
  view->snapshot = service->snapshot;
  if (view->snapshot != nullptr) {
    view->availability =
        service->tracker.Build(*view->snapshot, options_.clock->NowMs());
  }
  for (int i = 0; i < kOwnerShards && view->snapshot != nullptr; ++i) {
    view->owners.push_back(
        std::make_shared<const SnapshotOwner>(SnapshotOwner{view->snapshot}));
  }
  service->view.Store(std::move(view));
}

absl::StatusOr<std::shared_ptr<const RouteInstance>> Discovery::Select(
    absl::string_view service, absl::string_view key) {
  return Select(service, key, *default_balancer_);
}

absl::StatusOr<std::shared_ptr<const RouteInstance>> Discovery::Select(
    absl::string_view service_name, absl::string_view key,
    const LoadBalancer& balancer) {
  Service* service = Find(service_name);
  if (service == nullptr) {
    KESS_ASSIGN_OR_RETURN(service, Track(service_name));
  }
  return service->view.Read(
      [&](const std::shared_ptr<const View>& view)
          -> absl::StatusOr<std::shared_ptr<const RouteInstance>> {
        if (view->snapshot == nullptr) {
          return absl::NotFoundError(absl::StrCat("no route table for service ",
                                                  service_name,
                                                  " in the cache yet"));
        }
        const int64_t now =
            view->availability == nullptr ? 0 : options_.clock->NowMs();
        KESS_ASSIGN_OR_RETURN(
            const RouteInstance* instance,
            SelectInstance(balancer, *view->snapshot, view->availability.get(),
                           key, now));
        // Shares ownership of the snapshot, which holds the table.
        return std::shared_ptr<const RouteInstance>(view->owners[OwnerShard()],
                                                    instance);
      });
}

void Discovery::ReportFailure(absl::string_view service,
                              absl::string_view instance_id) {
  Report(service, instance_id, /*failure=*/true);
}

void Discovery::ReportSuccess(absl::string_view service,
                              absl::string_view instance_id) {
  Report(service, instance_id, /*failure=*/false);
}

void Discovery::Report(absl::string_view service_name,
                       absl::string_view instance_id, bool failure) {
  absl::StatusOr<Service*> tracked = Track(service_name);
  if (!tracked.ok()) return;  // an invalid name
  Service* service = *tracked;
  absl::MutexLock lock(&service->mu);
  const std::string id(instance_id);
  const int64_t now = options_.clock->NowMs();
  const bool changed = failure ? service->tracker.ReportFailure(id, now)
                               : service->tracker.ReportSuccess(id, now);
  if (changed) Publish(service);
}

absl::StatusOr<std::unique_ptr<Discovery::WatchHandle>> Discovery::Watch(
    absl::string_view service_name, Callback callback) {
  KESS_ASSIGN_OR_RETURN(Service * service, Track(service_name));
  return watcher_->Watch(
      CacheKey::Route(service->name),
      [this, service, callback = std::move(callback)](const CacheEntry& e) {
        auto [table, is_entry] = Apply(service, e);
        if (is_entry) callback(std::move(table));
      });
}

absl::StatusOr<std::shared_ptr<const RouteTable>> Discovery::GetTable(
    absl::string_view service_name) {
  KESS_ASSIGN_OR_RETURN(Service * service, Track(service_name));
  std::shared_ptr<const View> view = service->view.Load();
  if (view->snapshot == nullptr) {
    return absl::NotFoundError(absl::StrCat("no route table for service ",
                                            service_name, " in the cache yet"));
  }
  return view->snapshot->shared_table();
}

}  // namespace sdk
}  // namespace kess
