#include "mandator/scheduler/scheduler_service.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "model/instance_info.h"
#include "model/names.h"
#include "model/protocol/discovery_methods.h"
#include "model/protocol/distribution.pb.h"
#include "model/route_table.h"

namespace kess {
namespace mandator {
namespace scheduler {
namespace {

// Why a valid-looking instance failed ValidateInstanceInfo, for the label.
const char* InstanceReason(const protocol::InstanceInfo& info) {
  if (info.weight() < 1 || info.weight() > kMaxInstanceWeight) {
    return "invalid_weight";
  }
  if (!ValidateName(NameKind::kService, info.service()).ok() ||
      !ValidateName(NameKind::kKey, info.id()).ok() ||
      !ValidateName(NameKind::kHost, info.host()).ok() ||
      !ValidateName(NameKind::kDatacenter, info.datacenter()).ok()) {
    return "invalid_name";
  }
  return "invalid_instance";
}

template <typename T>
bool Parse(absl::string_view payload, T* message) {
  return message->ParseFromArray(payload.data(),
                                 static_cast<int>(payload.size()));
}

}  // namespace

SchedulerService::SchedulerService(PartialTable* table,
                                   SchedulerServiceOptions options)
    : table_(table),
      options_(std::move(options)),
      registry_(options_.registry != nullptr ? options_.registry
                                             : &metrics::Registry::Default()) {
  for (const char* reason : kReasons) {
    rejected_[reason] = registry_->GetCounter(
        "kess_scheduler_rejected_total",
        "Requests to the scheduler refused as invalid, by reason.",
        {{"reason", reason}});
  }
  for (const char* method :
       {protocol::kRegisterMethod, protocol::kHeartbeatMethod,
        protocol::kDeregisterMethod, protocol::kHostHeartbeatMethod,
        protocol::kGetPartialTableMethod}) {
    requests_[method] = registry_->GetCounter(
        "kess_scheduler_requests_total",
        "Requests the scheduler received, by method.", {{"method", method}});
    for (const char* reason : kRefusedReasons) {
      refused_[method][reason] = registry_->GetCounter(
          "kess_registration_refused_total",
          "Scheduler requests refused (PERMISSION_DENIED) by the "
          "registration rights, by method and reason.",
          {{"method", method}, {"reason", reason}});
    }
  }
  heartbeats_ = registry_->GetCounter(
      "kess_scheduler_heartbeats_total",
      "Instances refreshed by kess.Heartbeat (one request carries many).");
  unknown_ = registry_->GetCounter(
      "kess_scheduler_unknown_heartbeats_total",
      "Heartbeats for instances this mandator did not know (answered "
      "`unknown`, so the SDK re-registers).");
  registrations_ = registry_->GetCounter(
      "kess_scheduler_registrations_total",
      "Instances registered or refreshed by kess.Register.");
  deregistrations_ =
      registry_->GetCounter("kess_scheduler_deregistrations_total",
                            "Live instances deregistered by kess.Deregister.");
  host_heartbeats_ =
      registry_->GetCounter("kess_scheduler_host_heartbeats_total",
                            "Host heartbeats received from agents.");
  PartialTable* t = table_;
  registry_->SetCallbackGauge(
      "kess_scheduler_instances",
      "Live instances in this mandator's partial table.", {},
      [t] { return static_cast<double>(t->instance_count()); });
  registry_->SetCallbackGauge(
      "kess_scheduler_tombstones",
      "Deregistered instances kept so the leader learns of them.", {},
      [t] { return static_cast<double>(t->tombstone_count()); });
  registry_->SetCallbackGauge(
      "kess_scheduler_hosts", "Hosts whose agent heartbeats this mandator.", {},
      [t] { return static_cast<double>(t->host_count()); });
  snapshot_thread_ = std::thread([this] { SnapshotLoop(); });
}

SchedulerService::~SchedulerService() {
  {
    absl::MutexLock lock(&snapshot_mu_);
    stop_ = true;
  }
  snapshot_thread_.join();
  registry_->RemoveCallbackGauge("kess_scheduler_instances", {});
  registry_->RemoveCallbackGauge("kess_scheduler_tombstones", {});
  registry_->RemoveCallbackGauge("kess_scheduler_hosts", {});
}

void SchedulerService::Add(
    transport::HandlerMap& handlers, const char* method,
    absl::StatusOr<std::string> (SchedulerService::*fn)(
        const identity::Principal&, absl::string_view)) {
  metrics::Counter* requests = requests_.at(method);
  handlers[method] = [this, fn, requests](transport::Request request,
                                          transport::Responder responder) {
    requests->Increment();
    const identity::Principal& who = request.principal != nullptr
                                         ? *request.principal
                                         : *identity::Anonymous();
    responder.Respond((this->*fn)(who, request.payload));
  };
}

absl::Status SchedulerService::Refuse(const char* method, const char* reason,
                                      const identity::Principal& who,
                                      const std::string& message) {
  refused_.at(method).at(reason)->Increment();
  const int64_t now = absl::ToUnixMillis(absl::Now());
  int64_t last = last_refusal_log_ms_.load();
  if (now - last >= 1000 &&
      last_refusal_log_ms_.compare_exchange_strong(last, now)) {
    LOG(WARNING) << "scheduler: refused " << method << " from "
                 << who.DebugString() << " (" << reason
                 << "; logged at most once a second): " << message;
  }
  return absl::PermissionDeniedError(absl::StrCat(method, ": ", message));
}

absl::Status SchedulerService::MayRegister(const identity::Principal& who,
                                           const protocol::InstanceInfo& info) {
  const char* method = protocol::kRegisterMethod;
  switch (who.kind) {
    case identity::Kind::kAnonymous:
      return Refuse(method, "anonymous", who,
                    "registering needs an identity: a host or service "
                    "certificate (mutual TLS) or credential");
    case identity::Kind::kHost:
      if (info.host() != who.name) {
        return Refuse(method, "foreign_host", who,
                      absl::StrCat("host ", who.name,
                                   " may register only instances on itself; "
                                   "instance \"", info.id(), "\" claims host \"",
                                   info.host(), "\""));
      }
      break;
    case identity::Kind::kService:
      if (info.service() != who.name) {
        return Refuse(method, "foreign_service", who,
                      absl::StrCat("service principal ", who.name,
                                   " may register only instances of service "
                                   "\"", who.name, "\", not of \"",
                                   info.service(), "\""));
      }
      break;
    default:
      return Refuse(method, "wrong_kind", who,
                    absl::StrCat("a ", identity::KindName(who.kind),
                                 " principal may not register instances"));
  }
  return absl::OkStatus();
}

absl::Status SchedulerService::MayTakePublished(
    const identity::Principal& who, const protocol::InstanceInfo& info) {
  const char* method = protocol::kRegisterMethod;
  if (options_.published_host && who.kind == identity::Kind::kHost) {
    std::optional<std::string> host =
        options_.published_host(info.service(), info.id());
    if (host.has_value() && *host != who.name) {
      return Refuse(method, "published_elsewhere", who,
                    absl::StrCat("instance \"", info.id(), "\" of service \"",
                                 info.service(),
                                 "\" is published on host \"", *host,
                                 "\"; only that host or the service's own "
                                 "principal may register it"));
    }
  }
  return absl::OkStatus();
}

transport::HandlerMap SchedulerService::Handlers() {
  transport::HandlerMap handlers;
  Add(handlers, protocol::kRegisterMethod, &SchedulerService::Register);
  Add(handlers, protocol::kHeartbeatMethod, &SchedulerService::Heartbeat);
  Add(handlers, protocol::kDeregisterMethod, &SchedulerService::Deregister);
  Add(handlers, protocol::kHostHeartbeatMethod,
      &SchedulerService::HostHeartbeat);
  metrics::Counter* snapshots = requests_.at(protocol::kGetPartialTableMethod);
  handlers[protocol::kGetPartialTableMethod] =
      [this, snapshots](transport::Request request,
                        transport::Responder responder) {
        snapshots->Increment();
        if (options_.require_identity && request.principal != nullptr &&
            request.principal->kind != identity::Kind::kMandator) {
          // Refused before it can take a place in the queue.
          responder.Respond(
              GetPartialTable(*request.principal, request.payload));
          return;
        }
        auto shared =
            std::make_shared<transport::Responder>(std::move(responder));
        absl::MutexLock lock(&snapshot_mu_);
        if (snapshot_jobs_.size() >= kMaxQueuedSnapshots) {
          shared->Respond(absl::ResourceExhaustedError(
              "too many kess.GetPartialTable requests waiting; retry"));
          return;
        }
        std::shared_ptr<const identity::Principal> who =
            request.principal != nullptr ? request.principal
                                         : identity::Anonymous();
        snapshot_jobs_.push_back(
            [this, shared, who, payload = std::move(request.payload)] {
              shared->Respond(GetPartialTable(*who, payload));
            });
      };
  return handlers;
}

void SchedulerService::SnapshotLoop() {
  for (;;) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&snapshot_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(snapshot_mu_) {
        return stop_ || !snapshot_jobs_.empty();
      };
      snapshot_mu_.Await(absl::Condition(&ready));
      if (stop_) {
        snapshot_jobs_.clear();  // their Responders answer INTERNAL
        return;
      }
      job = std::move(snapshot_jobs_.front());
      snapshot_jobs_.pop_front();
    }
    job();
  }
}

absl::Status SchedulerService::Reject(const char* reason, absl::Status status) {
  rejected_.at(reason)->Increment();
  LOG_EVERY_N(WARNING, 100) << "scheduler: rejected a request (" << reason
                            << ", logged every 100th): " << status;
  return status;
}

absl::Status SchedulerService::CheckBatch(int size) {
  if (size <= options_.max_batch) return absl::OkStatus();
  return Reject("too_many", absl::InvalidArgumentError(absl::StrCat(
                                size, " instances in one request; at most ",
                                options_.max_batch)));
}

absl::Status SchedulerService::CheckInstance(
    const protocol::InstanceInfo& info) {
  absl::Status s = ValidateInstanceInfo(info);
  if (!s.ok()) return Reject(InstanceReason(info), std::move(s));
  if (!options_.datacenter.empty() &&
      info.datacenter() != options_.datacenter) {
    return Reject("wrong_datacenter",
                  absl::FailedPreconditionError(absl::StrCat(
                      "instance \"", info.id(), "\" is in datacenter \"",
                      info.datacenter(), "\" but this mandator serves \"",
                      options_.datacenter,
                      "\"; register with the mandators of your own DC")));
  }
  return absl::OkStatus();
}

absl::Status SchedulerService::CheckRefs(const InstanceRefs& refs) {
  KESS_RETURN_IF_ERROR(CheckBatch(refs.size()));
  for (const protocol::InstanceRef& ref : refs) {
    absl::Status s = ValidateInstanceRef(ref);
    if (!s.ok()) return Reject("invalid_name", std::move(s));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SchedulerService::Register(
    const identity::Principal& who, absl::string_view payload) {
  // An anonymous peer is refused before its payload is parsed.
  if (options_.require_identity && who.anonymous()) {
    return Refuse(protocol::kRegisterMethod, "anonymous", who,
                  "registering needs an identity: a host or service "
                  "certificate (mutual TLS) or credential");
  }
  protocol::RegisterRequest request;
  if (!Parse(payload, &request)) {
    return Reject("malformed", absl::InvalidArgumentError(
                                   "kess.Register: not a RegisterRequest"));
  }
  KESS_RETURN_IF_ERROR(CheckBatch(request.instances_size()));
  for (const protocol::InstanceInfo& info : request.instances()) {
    KESS_RETURN_IF_ERROR(CheckInstance(info));
  }
  std::string owner;
  if (options_.require_identity) {
    owner = who.Uri();
    for (const protocol::InstanceInfo& info : request.instances()) {
      KESS_RETURN_IF_ERROR(MayRegister(who, info));
      absl::Status bound = table_->CheckOwner(info.service(), info.id(), owner);
      if (!bound.ok()) {
        return Refuse(protocol::kRegisterMethod, "owned_by_other", who,
                      std::string(bound.message()));
      }
      KESS_RETURN_IF_ERROR(MayTakePublished(who, info));
    }
  }
  absl::Status applied = table_->Register(request.instances(), owner);
  if (!applied.ok()) return Reject("table_full", std::move(applied));
  registrations_->Increment(request.instances_size());
  protocol::RegisterResponse response;
  response.set_heartbeat_interval_ms(
      absl::ToInt64Milliseconds(options_.heartbeat_interval));
  return response.SerializeAsString();
}

absl::StatusOr<std::string> SchedulerService::Heartbeat(
    const identity::Principal& who, absl::string_view payload) {
  if (options_.require_identity && who.anonymous()) {
    return Refuse(protocol::kHeartbeatMethod, "anonymous", who,
                  "heartbeats need the identity that registered the "
                  "instances");
  }
  protocol::HeartbeatRequest request;
  if (!Parse(payload, &request)) {
    return Reject("malformed", absl::InvalidArgumentError(
                                   "kess.Heartbeat: not a HeartbeatRequest"));
  }
  KESS_RETURN_IF_ERROR(CheckRefs(request.instances()));
  if (!request.health().empty() && !ValidHealthWord(request.health())) {
    return Reject("invalid_health",
                  absl::InvalidArgumentError(
                      "health must be a lower-case word of a-z and _ (at "
                      "most 32)"));
  }
  protocol::HeartbeatResponse response;
  std::string owner;
  size_t foreign = 0;
  if (options_.require_identity) owner = who.Uri();
  const size_t refreshed = table_->Heartbeat(
      request.instances(), request.health(), response.mutable_unknown(),
      options_.require_identity ? std::optional<absl::string_view>(owner)
                                : std::nullopt,
      &foreign);
  heartbeats_->Increment(static_cast<double>(refreshed));
  if (response.unknown_size() > 0) unknown_->Increment(response.unknown_size());
  if (foreign > 0) {
    return Refuse(protocol::kHeartbeatMethod, "owned_by_other", who,
                  absl::StrCat(foreign,
                               " instance(s) in this heartbeat are bound to "
                               "another principal and were not refreshed"));
  }
  return response.SerializeAsString();
}

absl::StatusOr<std::string> SchedulerService::Deregister(
    const identity::Principal& who, absl::string_view payload) {
  if (options_.require_identity && who.anonymous()) {
    return Refuse(protocol::kDeregisterMethod, "anonymous", who,
                  "deregistering needs the identity that registered the "
                  "instances");
  }
  protocol::DeregisterRequest request;
  if (!Parse(payload, &request)) {
    return Reject("malformed", absl::InvalidArgumentError(
                                   "kess.Deregister: not a DeregisterRequest"));
  }
  KESS_RETURN_IF_ERROR(CheckRefs(request.instances()));
  if (options_.require_identity) {
    const std::string owner = who.Uri();
    for (const protocol::InstanceRef& ref : request.instances()) {
      absl::Status bound = table_->CheckOwner(ref.service(), ref.id(), owner);
      if (!bound.ok()) {
        return Refuse(protocol::kDeregisterMethod, "owned_by_other", who,
                      std::string(bound.message()));
      }
    }
  }
  deregistrations_->Increment(
      static_cast<double>(table_->Deregister(request.instances())));
  return protocol::DeregisterResponse().SerializeAsString();
}

absl::StatusOr<std::string> SchedulerService::HostHeartbeat(
    const identity::Principal& who, absl::string_view payload) {
  if (options_.require_identity && who.anonymous()) {
    return Refuse(protocol::kHostHeartbeatMethod, "anonymous", who,
                  "host heartbeats need the host's own principal");
  }
  protocol::HostHeartbeat request;
  if (!Parse(payload, &request)) {
    return Reject("malformed", absl::InvalidArgumentError(
                                   "kess.HostHeartbeat: not a HostHeartbeat"));
  }
  absl::Status s = ValidateName(NameKind::kHost, request.host_id());
  if (!s.ok()) return Reject("invalid_name", std::move(s));
  if (options_.require_identity &&
      (who.kind != identity::Kind::kHost || who.name != request.host_id())) {
    return Refuse(protocol::kHostHeartbeatMethod,
                  who.anonymous()                     ? "anonymous"
                  : who.kind != identity::Kind::kHost ? "wrong_kind"
                                                      : "foreign_host",
                  who,
                  absl::StrCat("only the host principal of \"",
                               request.host_id(),
                               "\" may send its host heartbeats"));
  }
  if (!options_.datacenter.empty() && !request.datacenter().empty() &&
      request.datacenter() != options_.datacenter) {
    return Reject("wrong_datacenter",
                  absl::FailedPreconditionError(absl::StrCat(
                      "host \"", request.host_id(), "\" is in datacenter \"",
                      request.datacenter(), "\" but this mandator serves \"",
                      options_.datacenter, "\"")));
  }
  if (!table_->HostHeartbeat(request.host_id(), request.distributor(),
                             request.revision(), request.synced_revision(),
                             request.agent_version())) {
    return Reject("table_full",
                  absl::ResourceExhaustedError(
                      "this mandator holds its maximum number of hosts"));
  }
  host_heartbeats_->Increment();
  return protocol::HostHeartbeatResponse().SerializeAsString();
}

absl::StatusOr<std::string> SchedulerService::GetPartialTable(
    const identity::Principal& who, absl::string_view payload) {
  if (options_.require_identity && who.kind != identity::Kind::kMandator) {
    return Refuse(protocol::kGetPartialTableMethod,
                  who.anonymous() ? "anonymous" : "not_mandator", who,
                  "the partial table is for mandators only (a mandator "
                  "certificate or credential)");
  }
  protocol::PartialTableRequest request;
  if (!Parse(payload, &request) || request.max_instances() < 0) {
    return Reject("malformed",
                  absl::InvalidArgumentError(
                      "kess.GetPartialTable: not a PartialTableRequest"));
  }
  protocol::PartialTable table =
      table_->Snapshot(static_cast<size_t>(request.max_instances()),
                       request.has_after() ? &request.after() : nullptr);
  table.set_mandator_id(options_.mandator_id);
  table.set_datacenter(options_.datacenter);
  if (!request.requester_dc().empty() && !options_.datacenter.empty() &&
      request.requester_dc() != options_.datacenter) {
    collected_by_other_dc_ns_ =
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now().time_since_epoch())
            .count();
  }
  return table.SerializeAsString();
}

std::optional<absl::Duration> SchedulerService::SinceCollectedFromAnotherDc()
    const {
  const int64_t at = collected_by_other_dc_ns_.load();
  if (at == 0) return std::nullopt;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  return absl::Nanoseconds(now - at);
}

}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
