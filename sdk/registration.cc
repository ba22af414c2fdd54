#include "sdk/registration.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "model/instance_info.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "common/rendezvous.h"
#include "model/route_table.h"
#include "common/steady_await.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "sdk/registration_pool.h"
#include "glog/logging.h"

namespace kess {
namespace sdk {
namespace {

protocol::InstanceInfo ToProto(const Instance& in) {
  protocol::InstanceInfo info;
  info.set_service(in.service);
  info.set_id(in.id);
  info.set_host(in.host);
  info.set_address(in.address);
  info.set_datacenter(in.datacenter);
  info.set_weight(in.weight);
  info.set_health(in.health);
  info.mutable_metadata()->insert(in.metadata.begin(), in.metadata.end());
  info.set_check_status(in.check_status);
  info.set_check_output(in.check_output);
  return info;
}

// Errors every mandator would give alike: switching would not help.
// Errors of the request, not of the mandator: logged and retried at the
// next tick with the same mandator (another would answer the same). A
// registration the mandators' registration rights refuse
// (PERMISSION_DENIED: the instance is bound to another principal, or this
// process's identity may not register it) is one.
bool IsRequestError(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kFailedPrecondition ||
         s.code() == absl::StatusCode::kPermissionDenied;
}

}  // namespace

// Everything below the public API. Lives on its own EventLoop: the
// members marked "loop" are touched only on that thread.
class Registration::Core {
 public:
  // `owned_loop` is null when options.loop is shared.
  Core(RegistrationOptions options, protocol::InstanceInfo info,
       std::unique_ptr<transport::EventLoop> owned_loop)
      : options_(std::move(options)),
        pool_(options_.pool),
        order_(RendezvousOrder(absl::StrCat(info.service(), "/", info.id()),
                               options_.mandators)),
        info_(std::move(info)),
        random_(static_cast<uint32_t>(StableHash(info_.id()) ^
                                      transport::EventLoop::NowMs())),
        loop_(owned_loop != nullptr ? owned_loop.get() : options_.loop),
        owned_loop_(std::move(owned_loop)) {
    switches_ = options_.registry->GetCounter(
        "kess_sdk_registration_switches_total",
        "Mandators replaced after they stopped answering.");
    Publish();
  }

  void Start() {
    loop_->Post([this] {
      // With a pool, the pool's timer ticks this one (after this first
      // tick, which registers at once).
      if (pool_ != nullptr) member_ = pool_->Join([this] { Tick(); });
      Tick();
    });
  }

  // Applies `change` to the instance on the loop and sends it at once
  // (nothing changes if `change` returns an error).
  absl::Status Update(
      std::function<absl::Status(protocol::InstanceInfo&)> change) {
    absl::Status result;
    absl::Notification done;
    loop_->Post([&] {
      if (stopped_) {
        result = absl::FailedPreconditionError(
            "the instance was deregistered; create a new Registration");
      } else {
        result = change(info_);
        if (result.ok()) {
          ++version_;
          BeatAll();
          Publish();
        }
      }
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  absl::Status Deregister() {
    {
      absl::MutexLock lock(&deregister_mu_);
      if (deregister_started_) {
        deregister_mu_.Await(absl::Condition(&deregister_done_));
        return deregister_result_;
      }
      deregister_started_ = true;
    }
    struct Pending {
      absl::Mutex mu;
      int left = 0;
      std::vector<std::string> failed;
      SteadyNotification done;
    };
    auto pending = std::make_shared<Pending>();
    std::vector<std::string> asked;
    absl::Notification posted;
    loop_->Post([&, pending] {
      stopped_ = true;
      if (timer_ != 0) loop_->CancelTimer(timer_);
      if (pool_ != nullptr) pool_->Leave(member_);
      protocol::DeregisterRequest request;
      protocol::InstanceRef* ref = request.add_instances();
      ref->set_service(info_.service());
      ref->set_id(info_.id());
      const std::string payload = request.SerializeAsString();
      pending->left = static_cast<int>(targets_.size());
      for (auto& t : targets_) {
        asked.push_back(t->address);
        const std::string address = t->address;
        SendCall(
            *t, protocol::kDeregisterMethod, payload,
            options_.deregister_timeout,
            [this, pending, address](absl::StatusOr<std::string> r) {
              Count(protocol::kDeregisterMethod, r.status());
              absl::MutexLock lock(&pending->mu);
              if (!r.ok()) {
                pending->failed.push_back(
                    absl::StrCat(address, " (", r.status().message(), ")"));
              }
              if (--pending->left == 0) pending->done.Notify();
            });
      }
      if (targets_.empty()) pending->done.Notify();
      Publish();
      posted.Notify();
    });
    posted.WaitForNotification();
    absl::Status result;
    if (asked.empty()) {
      result = absl::UnavailableError(
          "deregistration not sent: no mandator was in use");
    } else if (!pending->done.WaitForNotificationWithTimeout(
                   options_.deregister_timeout + absl::Milliseconds(500))) {
      result = absl::UnavailableError(
          absl::StrCat("deregistration not acknowledged within ",
                       absl::FormatDuration(options_.deregister_timeout),
                       " by ", absl::StrJoin(asked, ", ")));
    } else {
      absl::MutexLock lock(&pending->mu);
      if (!pending->failed.empty()) {
        result = absl::UnavailableError(absl::StrCat(
            "deregistration failed at ", absl::StrJoin(pending->failed, ", "),
            "; they forget the instance after 10 silent heartbeat intervals"));
      }
    }
    absl::MutexLock lock(&deregister_mu_);
    deregister_result_ = result;
    deregister_done_ = true;
    return result;
  }

  // Closes every connection and stops the loop. After Deregister().
  void Shutdown() {
    absl::Notification done;
    loop_->Post([&] {
      stopped_ = true;
      if (timer_ != 0) loop_->CancelTimer(timer_);
      if (pool_ != nullptr) pool_->Leave(member_);
      // The pool's calls in flight outlive this Core: their callbacks
      // check this token first.
      alive_.reset();
      std::vector<std::unique_ptr<Target>> gone = std::move(targets_);
      targets_.clear();
      gone.clear();  // their calls complete CANCELLED and find no target
      done.Notify();
    });
    done.WaitForNotification();
    if (owned_loop_ != nullptr) {
      owned_loop_.reset();
      return;
    }
    // A shared loop goes on: let the clients handed to DeleteSoon before
    // now be destroyed (their callbacks name this Core) before it goes.
    absl::Notification flushed;
    loop_->Post([&] { flushed.Notify(); });
    flushed.WaitForNotification();
  }

  bool deregister_on_destroy() const { return options_.deregister_on_destroy; }

  RegistrationState State() const {
    absl::MutexLock lock(&state_mu_);
    return state_;
  }

  absl::Status WaitRegistered(int n, absl::Duration timeout) const {
    absl::MutexLock lock(&state_mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(state_mu_) {
      return static_cast<int>(state_.registered.size()) >= n;
    };
    if (AwaitWithSteadyTimeout(&state_mu_, absl::Condition(&enough), timeout)) {
      return absl::OkStatus();
    }
    return absl::DeadlineExceededError(absl::StrCat(
        state_.registered.size(), " of ", n, " mandators acknowledged within ",
        absl::FormatDuration(timeout)));
  }

 private:
  struct Target {
    uint64_t id = 0;
    std::string address;
    std::unique_ptr<transport::Client> client;
    int64_t acked_version = -1;  // version_ the mandator acknowledged
    bool in_flight = false;
    bool probe = false;  // a down mandator being tried again
  };

  // loop: every heartbeat interval (+-10 %), and the probes that bring
  // preferred mandators back.
  void Tick() {
    if (stopped_) return;
    Repair();
    const int64_t now = transport::EventLoop::NowMs();
    int in_use = static_cast<int>(targets_.size());
    for (size_t i = 0; i < order_.size(); ++i) {
      const std::string& a = order_[i];
      auto down = down_since_.find(a);
      if (down == down_since_.end() || FindByAddress(a) != nullptr) continue;
      const bool preferred = static_cast<int>(i) < options_.replicas;
      const bool due =
          absl::Milliseconds(now - down->second) >= options_.return_interval;
      if ((preferred && due) || in_use < options_.replicas) {
        AddTarget(a, /*probe=*/true);
        ++in_use;
      }
    }
    BeatAll();
    Publish();
    if (pool_ != nullptr) return;  // the pool's timer ticks again
    const int64_t tenth_ms =
        absl::ToInt64Milliseconds(options_.heartbeat_interval) / 10;
    std::uniform_int_distribution<int64_t> jitter(-tenth_ms, tenth_ms);
    timer_ = loop_->RunAfter(
        options_.heartbeat_interval + absl::Milliseconds(jitter(random_)),
        [this] { Tick(); });
  }

  // loop: targets := the first `replicas` mandators not known to be down
  // (probes stay until they succeed or fail).
  void Repair() {
    if (stopped_) return;
    std::vector<std::string> want;
    for (const std::string& a : order_) {
      if (static_cast<int>(want.size()) == options_.replicas) break;
      if (down_since_.count(a) == 0) want.push_back(a);
    }
    for (size_t i = 0; i < targets_.size();) {
      Target& t = *targets_[i];
      if (!t.probe &&
          std::find(want.begin(), want.end(), t.address) == want.end()) {
        RemoveTarget(i);  // still fine, but a preferred one is back
      } else {
        ++i;
      }
    }
    for (const std::string& a : want) {
      if (FindByAddress(a) != nullptr) continue;
      Target* t = FindById(AddTarget(a, /*probe=*/false));
      if (t != nullptr) Beat(*t);
    }
  }

  // loop: Beat() every target. A call may fail synchronously and change
  // targets_, hence by id.
  void BeatAll() {
    std::vector<uint64_t> ids;
    for (const auto& t : targets_) ids.push_back(t->id);
    for (uint64_t id : ids) {
      Target* t = FindById(id);
      if (t != nullptr) Beat(*t);
    }
  }

  // loop: starts connecting; returns the new target's id, or 0 if it
  // already failed (then Fail() has run). The client's callbacks may run
  // inside Client::Create, hence the lookups by id.
  uint64_t AddTarget(const std::string& address, bool probe) {
    auto t = std::make_unique<Target>();
    t->id = next_target_id_++;
    t->address = address;
    t->probe = probe;
    if (pool_ != nullptr) {  // the pool's connection, made on first call
      const uint64_t id = t->id;
      targets_.push_back(std::move(t));
      return id;
    }
    // The instance heartbeats are the traffic.
    transport::ClientOptions o = SchedulerClientOptions(
        address, options_.connect_timeout, options_.registry, options_.tls,
        options_.credential);
    transport::ClientCallbacks callbacks;
    const uint64_t id = t->id;
    callbacks.on_connect = [this, id](const absl::Status& s) {
      if (!s.ok()) Fail(id, s);
    };
    callbacks.on_disconnect = [this, id](const char* reason,
                                         const absl::Status& detail) {
      Fail(id,
           absl::UnavailableError(absl::StrCat("disconnected (", reason, ")")));
    };
    targets_.push_back(std::move(t));
    auto client = transport::Client::Create(loop_, o, callbacks);
    if (!client.ok()) {
      Fail(id, client.status());
      return 0;
    }
    Target* added = FindById(id);
    if (added == nullptr) {  // failed inside Create
      loop_->DeleteSoon(std::move(client).value());
      return 0;
    }
    added->client = std::move(client).value();
    return id;
  }

  void RemoveTarget(size_t index) {
    std::unique_ptr<Target> t = std::move(targets_[index]);
    targets_.erase(targets_.begin() + index);
    // Its pending calls complete CANCELLED and no longer find it.
    if (t->client != nullptr) loop_->DeleteSoon(std::move(t->client));
  }

  Target* FindById(uint64_t id) {
    for (auto& t : targets_) {
      if (t->id == id) return t.get();
    }
    return nullptr;
  }
  Target* FindByAddress(const std::string& address) {
    for (auto& t : targets_) {
      if (t->address == address) return t.get();
    }
    return nullptr;
  }

  // loop: sends what the target needs: the registration if it has not
  // acknowledged the current version, else a heartbeat.
  void Beat(Target& t) {
    if (stopped_ || t.in_flight) return;
    if (pool_ == nullptr && t.client == nullptr) return;
    t.in_flight = true;
    const uint64_t id = t.id;
    if (t.acked_version != version_) {
      protocol::RegisterRequest request;
      *request.add_instances() = info_;
      const int64_t version = version_;
      SendCall(t, protocol::kRegisterMethod, request.SerializeAsString(),
               options_.call_timeout,
               [this, id, version](absl::StatusOr<std::string> r) {
                 OnRegistered(id, version, std::move(r));
               });
    } else if (pool_ != nullptr) {
      std::weak_ptr<bool> alive = alive_;
      pool_->Heartbeat(t.address, info_.service(), info_.id(),
                       [this, alive, id](absl::StatusOr<bool> unknown) {
                         if (alive.expired()) return;
                         OnHeartbeatResult(id, unknown.status(),
                                           unknown.ok() && *unknown);
                       });
    } else {
      protocol::HeartbeatRequest request;
      protocol::InstanceRef* ref = request.add_instances();
      ref->set_service(info_.service());
      ref->set_id(info_.id());
      t.client->Call(protocol::kHeartbeatMethod, request.SerializeAsString(),
                     options_.call_timeout,
                     [this, id](absl::StatusOr<std::string> r) {
                       OnHeartbeat(id, std::move(r));
                     });
    }
  }

  // loop: the common part of every answer. Returns the target when the
  // call succeeded; nullptr when there is nothing more to do (stopped,
  // cancelled, target gone, or the failure was handled here).
  Target* Answered(uint64_t id, const char* method, const absl::Status& s) {
    if (stopped_ || s.code() == absl::StatusCode::kCancelled) return nullptr;
    Count(method, s);
    Target* t = FindById(id);
    if (t == nullptr) return nullptr;
    t->in_flight = false;
    if (s.ok()) return t;
    if (IsRequestError(s)) {
      LogFailure(t->address, s);  // retried at the next tick
    } else {
      Fail(id, s);
    }
    return nullptr;
  }

  void OnRegistered(uint64_t id, int64_t version,
                    absl::StatusOr<std::string> reply) {
    Target* t = Answered(id, protocol::kRegisterMethod, reply.status());
    if (t == nullptr) return;
    t->acked_version = version;
    if (t->probe) {
      t->probe = false;
      down_since_.erase(t->address);
      LOG(INFO) << "kess registration of " << info_.service() << "/"
                << info_.id() << ": mandator " << t->address
                << " answers again";
      Repair();  // it displaces its replacement
    }
    t = FindById(id);
    if (t != nullptr && t->acked_version != version_) Beat(*t);  // changed
    Publish();
  }

  void OnHeartbeat(uint64_t id, absl::StatusOr<std::string> reply) {
    protocol::HeartbeatResponse response;
    OnHeartbeatResult(id, reply.status(),
                      reply.ok() && response.ParseFromString(*reply) &&
                          response.unknown_size() > 0);
  }

  // loop: a heartbeat's outcome; `unknown`: the mandator did not know it.
  void OnHeartbeatResult(uint64_t id, const absl::Status& status,
                         bool unknown) {
    Target* t = Answered(id, protocol::kHeartbeatMethod, status);
    if (t == nullptr) return;
    if (unknown) {
      t->acked_version = -1;  // it forgot us: register again now
      Beat(*t);
      Publish();
    }
  }

  // loop: one call to the target's mandator, over its own client or the
  // pool's shared connection; `done` runs on the loop, only while this
  // Core lives.
  void SendCall(Target& t, const char* method, std::string payload,
                absl::Duration timeout,
                std::function<void(absl::StatusOr<std::string>)> done) {
    if (pool_ == nullptr) {
      t.client->Call(method, std::move(payload), timeout, std::move(done));
      return;
    }
    std::weak_ptr<bool> alive = alive_;
    pool_->Call(t.address, method, std::move(payload), timeout,
                [alive, done = std::move(done)](absl::StatusOr<std::string> r) {
                  if (alive.expired()) return;
                  done(std::move(r));
                });
  }

  // loop: the target's mandator stopped answering: skip it until it is
  // probed again, and put the next one in its place at once.
  void Fail(uint64_t id, const absl::Status& status) {
    if (stopped_) return;
    for (size_t i = 0; i < targets_.size(); ++i) {
      if (targets_[i]->id != id) continue;
      const std::string address = targets_[i]->address;
      const bool probe = targets_[i]->probe;
      down_since_[address] = transport::EventLoop::NowMs();
      RemoveTarget(i);
      LogFailure(address, status);
      if (!probe) switches_->Increment();
      Repair();
      Publish();
      return;
    }
  }

  void Count(const char* method, const absl::Status& status) {
    options_.registry
        ->GetCounter(
            "kess_sdk_registration_calls_total",
            "Calls of the provider SDK to mandators, by method and "
            "result.",
            {{"method", method}, {"result", status.ok() ? "ok" : "error"}})
        ->Increment();
  }

  void LogFailure(const std::string& address, const absl::Status& status) {
    const int64_t now = transport::EventLoop::NowMs();
    int64_t& last = last_log_ms_[address];
    if (last != 0 && now - last < 60000) return;
    last = now;
    LOG(WARNING) << "kess registration of " << info_.service() << "/"
                 << info_.id() << ": mandator " << address
                 << " failed (logged once a minute): " << status;
  }

  // loop: mirrors what state() reports.
  void Publish() {
    RegistrationState s;
    s.order = order_;
    for (const auto& t : targets_) {
      s.targets.push_back(t->address);
      if (t->acked_version == version_) s.registered.push_back(t->address);
    }
    s.switches = static_cast<int64_t>(switches_->Value());
    s.deregistered = stopped_;
    if (stopped_) s.registered.clear();
    absl::MutexLock lock(&state_mu_);
    state_ = std::move(s);
  }

  const RegistrationOptions options_;
  const std::shared_ptr<RegistrationPool> pool_;  // may be null
  const std::vector<std::string> order_;
  metrics::Counter* switches_ = nullptr;

  // loop
  protocol::InstanceInfo info_;
  int64_t version_ = 0;
  std::vector<std::unique_ptr<Target>> targets_;
  std::map<std::string, int64_t> down_since_;  // address -> NowMs
  std::map<std::string, int64_t> last_log_ms_;
  uint64_t next_target_id_ = 1;
  bool stopped_ = false;
  transport::EventLoop::TimerId timer_ = 0;
  std::minstd_rand random_;
  uint64_t member_ = 0;  // in pool_
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  mutable absl::Mutex state_mu_;
  RegistrationState state_ ABSL_GUARDED_BY(state_mu_);

  absl::Mutex deregister_mu_;
  bool deregister_started_ ABSL_GUARDED_BY(deregister_mu_) = false;
  bool deregister_done_ ABSL_GUARDED_BY(deregister_mu_) = false;
  absl::Status deregister_result_ ABSL_GUARDED_BY(deregister_mu_);

  transport::EventLoop* const loop_;
  std::unique_ptr<transport::EventLoop> owned_loop_;  // last: stops first
};

absl::StatusOr<std::unique_ptr<Registration>> Registration::Create(
    RegistrationOptions options) {
  if (options.mandators.empty()) {
    return absl::InvalidArgumentError(
        "no mandators given: list the host:port of your DC's mandators");
  }
  for (const std::string& m : options.mandators) {
    std::string host;
    int port = 0;
    KESS_RETURN_IF_ERROR(transport::SplitHostPort(m, &host, &port));
  }
  if (options.heartbeat_interval <= absl::ZeroDuration() ||
      options.replicas < 1 || options.call_timeout <= absl::ZeroDuration() ||
      options.deregister_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "heartbeat_interval, replicas, call_timeout and "
        "deregister_timeout must be positive");
  }
  protocol::InstanceInfo info = ToProto(options.instance);
  KESS_RETURN_IF_ERROR(ValidateInstanceInfo(info));
  if (options.registry == nullptr) {
    options.registry = &metrics::Registry::Default();
  }
  if (options.pool != nullptr) {
    if (options.loop != nullptr && options.loop != options.pool->loop()) {
      return absl::InvalidArgumentError(
          "a Registration with a pool runs on the pool's loop");
    }
    options.loop = options.pool->loop();
  }
  std::unique_ptr<transport::EventLoop> loop;
  if (options.loop == nullptr) {
    KESS_ASSIGN_OR_RETURN(loop, transport::EventLoop::Create("kess-register"));
  }
  auto core = std::make_shared<Core>(std::move(options), std::move(info),
                                     std::move(loop));
  core->Start();
  return std::unique_ptr<Registration>(new Registration(std::move(core)));
}

Registration::Registration(std::shared_ptr<Core> core)
    : core_(std::move(core)) {}

Registration::~Registration() {
  if (core_->deregister_on_destroy()) {
    absl::Status s = core_->Deregister();
    LOG_IF(WARNING, !s.ok()) << "kess registration: " << s;
  }
  core_->Shutdown();
}

absl::Status Registration::SetHealth(const std::string& health) {
  if (!ValidHealthWord(health)) {
    return absl::InvalidArgumentError(
        absl::StrCat("health \"", health.substr(0, 64),
                     "\" must be a lower-case word of a-z and _ (at most 32)"));
  }
  return core_->Update(
      [health](protocol::InstanceInfo& info) {
        info.set_health(health);
        return absl::OkStatus();
      });
}

absl::Status Registration::SetWeight(int weight) {
  if (weight < 1 || weight > kMaxInstanceWeight) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight ", weight, " is outside 1..", kMaxInstanceWeight));
  }
  return core_->Update(
      [weight](protocol::InstanceInfo& info) {
        info.set_weight(weight);
        return absl::OkStatus();
      });
}

absl::Status Registration::SetCheckStatus(const std::string& status,
                                          const std::string& output) {
  if (!ValidCheckStatus(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("check status \"", status.substr(0, 32),
                     "\" is not one of passing, warning, critical"));
  }
  if (!ValidCheckOutput(output)) {
    return absl::InvalidArgumentError(
        absl::StrCat("check output must be at most ", kMaxCheckOutputBytes,
                     " bytes of printable ASCII, tab and newline"));
  }
  return core_->Update([status, output](protocol::InstanceInfo& info) {
    info.set_check_status(status);
    info.set_check_output(output);
    return absl::OkStatus();
  });
}

absl::Status Registration::SetInstance(const Instance& instance) {
  protocol::InstanceInfo next = ToProto(instance);
  KESS_RETURN_IF_ERROR(ValidateInstanceInfo(next));
  return core_->Update([next](protocol::InstanceInfo& info) {
    if (next.service() != info.service() || next.id() != info.id() ||
        next.host() != info.host() || next.datacenter() != info.datacenter()) {
      return absl::InvalidArgumentError(
          "SetInstance may not change the service, id, host or datacenter");
    }
    info = next;
    return absl::OkStatus();
  });
}

absl::Status Registration::Deregister() { return core_->Deregister(); }

RegistrationState Registration::state() const { return core_->State(); }

absl::Status Registration::WaitRegistered(int n, absl::Duration timeout) const {
  return core_->WaitRegistered(n, timeout);
}

}  // namespace sdk
}  // namespace kess
