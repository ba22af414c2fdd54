#include "sdk/registration_pool.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "glog/logging.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"

namespace kess {
namespace sdk {
namespace {

std::string RefKey(const std::string& service, const std::string& id) {
  return absl::StrCat(service, "/", id);
}

}  // namespace

transport::ClientOptions SchedulerClientOptions(
    const std::string& address, absl::Duration connect_timeout,
    metrics::Registry* registry, std::shared_ptr<tls::TlsContext> tls,
    std::shared_ptr<const identity::CredentialFile> credential) {
  transport::ClientOptions o;
  o.credential = std::move(credential);
  transport::SplitHostPort(address, &o.host, &o.port).IgnoreError();
  o.connect_timeout = connect_timeout;
  o.heartbeat_interval = absl::ZeroDuration();
  o.heartbeat_timeout = absl::ZeroDuration();
  o.registry = registry;
  o.tls = std::move(tls);
  return o;
}

absl::StatusOr<std::shared_ptr<RegistrationPool>> RegistrationPool::Create(
    RegistrationPoolOptions options) {
  if (options.loop == nullptr) {
    return absl::InvalidArgumentError("RegistrationPool needs a loop");
  }
  if (options.heartbeat_interval <= absl::ZeroDuration() ||
      options.call_timeout <= absl::ZeroDuration() ||
      options.connect_timeout <= absl::ZeroDuration() ||
      options.max_batch_instances < 1 || options.max_batch_bytes < 1024) {
    return absl::InvalidArgumentError(
        "RegistrationPool: heartbeat_interval, call_timeout, connect_timeout "
        "and max_batch_instances must be positive, max_batch_bytes >= 1024");
  }
  if (options.registry == nullptr) {
    options.registry = &metrics::Registry::Default();
  }
  std::shared_ptr<RegistrationPool> pool(
      new RegistrationPool(std::move(options)));
  pool->Start();
  return pool;
}

RegistrationPool::RegistrationPool(RegistrationPoolOptions options)
    : options_(std::move(options)) {
  batches_ = options_.registry->GetCounter(
      "kess_sdk_heartbeat_batches_total",
      "Batched kess.Heartbeat requests a RegistrationPool sent.");
  refs_ = options_.registry->GetCounter(
      "kess_sdk_heartbeat_batched_instances_total",
      "Instance references carried by batched heartbeats.");
  splits_ = options_.registry->GetCounter(
      "kess_sdk_heartbeat_batch_splits_total",
      "Batched heartbeats refused as INVALID_ARGUMENT and sent again in "
      "halves.");
  random_ = static_cast<uint32_t>(transport::EventLoop::NowMs());
}

void RegistrationPool::Start() {
  options_.loop->Post([this] { Tick(); });
}

RegistrationPool::~RegistrationPool() {
  // Waits for the loop below: on the loop thread it would never return.
  CHECK(!options_.loop->InLoopThread());
  absl::Notification done;
  options_.loop->Post([&] {
    *alive_ = false;
    alive_.reset();
    if (timer_ != 0) options_.loop->CancelTimer(timer_);
    timer_ = 0;
    // Pending calls complete CANCELLED; their callbacks find !alive.
    for (auto& [address, channel] : channels_) {
      if (channel.client != nullptr) {
        options_.loop->DeleteSoon(std::move(channel.client));
      }
    }
    channels_.clear();
    std::map<std::string, std::vector<Queued>> queued = std::move(queued_);
    queued_.clear();
    for (auto& [address, refs] : queued) {
      for (Queued& q : refs) q.done(absl::CancelledError("pool destroyed"));
    }
    done.Notify();
  });
  done.WaitForNotification();
  // Let the clients handed to DeleteSoon go before the pool does.
  absl::Notification flushed;
  options_.loop->Post([&] { flushed.Notify(); });
  flushed.WaitForNotification();
}

uint64_t RegistrationPool::Join(std::function<void()> tick) {
  DCHECK(options_.loop->InLoopThread());
  const uint64_t id = next_member_++;
  members_[id] = std::move(tick);
  return id;
}

void RegistrationPool::Leave(uint64_t member) {
  DCHECK(options_.loop->InLoopThread());
  members_.erase(member);
}

void RegistrationPool::Tick() {
  if (alive_ == nullptr) return;
  std::vector<uint64_t> ids;
  ids.reserve(members_.size());
  for (const auto& [id, tick] : members_) ids.push_back(id);
  in_tick_ = true;
  for (uint64_t id : ids) {
    auto it = members_.find(id);
    if (it == members_.end()) continue;
    std::function<void()> tick = it->second;  // it may Leave inside
    tick();
  }
  in_tick_ = false;
  Flush();
  // +-10 % jitter, so that agents started together spread out.
  const int64_t tenth_ms =
      absl::ToInt64Milliseconds(options_.heartbeat_interval) / 10;
  random_ = random_ * 1664525u + 1013904223u;
  const int64_t jitter =
      tenth_ms > 0 ? static_cast<int64_t>(random_ % (2 * tenth_ms + 1)) -
                         tenth_ms
                   : 0;
  timer_ = options_.loop->RunAfter(
      options_.heartbeat_interval + absl::Milliseconds(jitter),
      [this] { Tick(); });
}

transport::Client* RegistrationPool::ChannelFor(const std::string& address) {
  auto it = channels_.find(address);
  if (it != channels_.end() && !it->second.dead &&
      it->second.client != nullptr) {
    return it->second.client.get();
  }
  if (it != channels_.end()) {
    if (it->second.client != nullptr) {
      options_.loop->DeleteSoon(std::move(it->second.client));
    }
    channels_.erase(it);
  }
  transport::ClientOptions o = SchedulerClientOptions(
      address, options_.connect_timeout, options_.registry, options_.tls,
      options_.credential);
  // Transport heartbeats too (one small frame per interval): a channel that
  // no call uses, or whose peer went silent between calls, is declared
  // dead after three intervals without a byte from the mandator.
  o.heartbeat_interval = options_.heartbeat_interval;
  o.heartbeat_timeout = 3 * options_.heartbeat_interval;
  // The channel's generation: callbacks of a client already replaced must
  // not mark its successor dead. They may run inside Client::Create.
  const uint64_t gen = next_gen_++;
  channels_[address].gen = gen;
  std::weak_ptr<bool> alive = alive_;
  auto mark_dead = [this, alive, address, gen] {
    if (alive.expired()) return;
    auto c = channels_.find(address);
    if (c != channels_.end() && c->second.gen == gen) {
      c->second.dead = true;  // made again at the next call
    }
  };
  transport::ClientCallbacks callbacks;
  callbacks.on_connect = [mark_dead](const absl::Status& s) {
    if (!s.ok()) mark_dead();
  };
  callbacks.on_disconnect = [mark_dead](const char*, const absl::Status&) {
    mark_dead();
  };
  absl::StatusOr<std::unique_ptr<transport::Client>> client =
      transport::Client::Create(options_.loop, o, callbacks);
  if (!client.ok()) {
    channels_.erase(address);
    return nullptr;
  }
  Channel& channel = channels_[address];
  channel.client = std::move(client).value();
  return channel.client.get();
}

void RegistrationPool::Call(
    const std::string& address, const char* method, std::string payload,
    absl::Duration timeout,
    std::function<void(absl::StatusOr<std::string>)> done) {
  DCHECK(options_.loop->InLoopThread());
  transport::Client* client = ChannelFor(address);
  if (client == nullptr) {
    done(absl::UnavailableError(
        absl::StrCat("cannot open a connection to ", address)));
    return;
  }
  const uint64_t gen = channels_[address].gen;
  std::weak_ptr<bool> alive = alive_;
  client->Call(
      method, std::move(payload), timeout,
      [this, alive, address, gen,
       done = std::move(done)](absl::StatusOr<std::string> r) {
        if (alive.expired()) {
          done(absl::CancelledError("pool destroyed"));
          return;
        }
        if (r.status().code() == absl::StatusCode::kDeadlineExceeded) {
          DropChannel(address, gen);
        }
        done(std::move(r));
      });
}

void RegistrationPool::DropChannel(const std::string& address, uint64_t gen) {
  auto it = channels_.find(address);
  if (it == channels_.end() || it->second.gen != gen || it->second.dead) {
    return;  // already replaced or dropped
  }
  // A call that got no answer in time: the connection may be half-open
  // (packets dropped without a RST), which TCP alone notices only after
  // many minutes. Drop it as a failed connection: its other calls fail
  // UNAVAILABLE now, and the next call connects again.
  it->second.dead = true;
  if (it->second.client != nullptr) it->second.client->Close();
}

void RegistrationPool::Heartbeat(
    const std::string& address, const std::string& service,
    const std::string& id,
    std::function<void(absl::StatusOr<bool> unknown)> done) {
  DCHECK(options_.loop->InLoopThread());
  queued_[address].push_back(Queued{service, id, std::move(done)});
  if (!in_tick_) FlushSoon();
}

void RegistrationPool::FlushSoon() {
  if (flush_posted_) return;
  flush_posted_ = true;
  std::weak_ptr<bool> alive = alive_;
  options_.loop->Post([this, alive] {
    if (alive.expired()) return;
    flush_posted_ = false;
    Flush();
  });
}

void RegistrationPool::Flush() {
  std::map<std::string, std::vector<Queued>> queued = std::move(queued_);
  queued_.clear();
  for (auto& [address, refs] : queued) SendBatches(address, std::move(refs));
}

void RegistrationPool::SendBatches(const std::string& address,
                                   std::vector<Queued> refs) {
  // A reference costs its two strings plus a few bytes of framing.
  auto batch = std::make_shared<std::vector<Queued>>();
  size_t bytes = 0;
  for (Queued& q : refs) {
    const size_t cost = q.service.size() + q.id.size() + 8;
    if (!batch->empty() && (batch->size() >= options_.max_batch_instances ||
                            bytes + cost > options_.max_batch_bytes)) {
      SendBatch(address, std::move(batch));
      batch = std::make_shared<std::vector<Queued>>();
      bytes = 0;
    }
    bytes += cost;
    batch->push_back(std::move(q));
  }
  if (!batch->empty()) SendBatch(address, std::move(batch));
}

void RegistrationPool::SendBatch(const std::string& address,
                                 std::shared_ptr<std::vector<Queued>> batch) {
  protocol::HeartbeatRequest request;
  for (const Queued& q : *batch) {
    protocol::InstanceRef* ref = request.add_instances();
    ref->set_service(q.service);
    ref->set_id(q.id);
  }
  batches_->Increment();
  refs_->Increment(batch->size());
  std::weak_ptr<bool> alive = alive_;
  Call(address, protocol::kHeartbeatMethod, request.SerializeAsString(),
       options_.call_timeout,
       [this, alive, address, batch](absl::StatusOr<std::string> r) {
         if (alive.expired() || !r.ok()) {
           if (!alive.expired() &&
               r.status().code() == absl::StatusCode::kInvalidArgument &&
               batch->size() > 1) {
             // A mandator with a smaller batch limit: halves, again.
             splits_->Increment();
             const size_t half = batch->size() / 2;
             auto first = std::make_shared<std::vector<Queued>>(
                 std::make_move_iterator(batch->begin()),
                 std::make_move_iterator(batch->begin() + half));
             auto second = std::make_shared<std::vector<Queued>>(
                 std::make_move_iterator(batch->begin() + half),
                 std::make_move_iterator(batch->end()));
             SendBatch(address, std::move(first));
             SendBatch(address, std::move(second));
             return;
           }
           const absl::Status s =
               alive.expired() ? absl::CancelledError("pool destroyed")
                               : r.status();
           for (Queued& q : *batch) q.done(s);
           return;
         }
         protocol::HeartbeatResponse response;
         std::set<std::string> unknown;
         if (response.ParseFromString(*r)) {
           for (const protocol::InstanceRef& u : response.unknown()) {
             unknown.insert(RefKey(u.service(), u.id()));
           }
         }
         for (Queued& q : *batch) {
           q.done(unknown.count(RefKey(q.service, q.id)) > 0);
         }
       });
}

int64_t RegistrationPool::batches_sent() const {
  return static_cast<int64_t>(batches_->Value());
}
int64_t RegistrationPool::refs_sent() const {
  return static_cast<int64_t>(refs_->Value());
}

}  // namespace sdk
}  // namespace kess
