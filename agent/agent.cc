#include "agent/agent.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "agent/distributor_order.h"
#include "agent/resource_key.h"
#include "model/names.h"
#include "model/route_delta.h"
#include "common/steady_await.h"
#include "common/version.h"
#include "glog/logging.h"

namespace kess {
namespace agent {

using file_cache::CacheEntry;
using file_cache::CacheKey;

namespace {

// How long PullNextPage waits for the cache writer to finish a page.
constexpr absl::Duration kPageWriteWait = absl::Seconds(30);

uint64_t Seed(const std::string& host_id) {
  return StableHash(host_id) ^
         static_cast<uint64_t>(
             std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

Agent::Agent(AgentOptions options)
    : options_(std::move(options)),
      backoff_(options_.reconnect_initial, options_.reconnect_max,
               Seed(options_.host_id)),
      registry_(options_.registry) {
  connected_gauge_ = registry_->GetGauge(
      "kess_agent_connected", "1 while subscribed at a distributor.");
  stale_gauge_ = registry_->GetGauge(
      "kess_agent_stale", "1 while the distributor reports it is stale.");
  revision_gauge_ = registry_->GetGauge(
      "kess_agent_revision",
      "The distributor's data revision in its last answer or push.");
  switches_ = registry_->GetCounter(
      "kess_agent_distributor_switches_total",
      "Moves to another distributor (failover or return to the preferred).");
  reconnect_attempts_ = registry_->GetCounter(
      "kess_agent_reconnect_attempts_total",
      "Connection attempts to a distributor after the first.");
  constexpr char kProbesHelp[] =
      "Probes of the preferred distributor while on another one, by result "
      "(not_back: no connect, no answer in time, or stale).";
  probes_returned_ = registry_->GetCounter("kess_agent_return_probes_total",
                                           kProbesHelp, {{"result", "returned"}});
  probes_not_back_ = registry_->GetCounter("kess_agent_return_probes_total",
                                           kProbesHelp, {{"result", "not_back"}});
  page_pulls_ = registry_->GetCounter(
      "kess_agent_page_pulls_total",
      "Pulls of the next page of an answer the distributor cut at its byte "
      "budget (a large namespace).");
}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(AgentOptions options) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kHost, options.host_id));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kDatacenter, options.datacenter));
  if (options.distributors.empty()) {
    return absl::InvalidArgumentError("no distributors given");
  }
  for (const auto& list : {options.distributors, options.mandators}) {
    for (const std::string& address : list) {
      std::string host;
      int port;
      KESS_RETURN_IF_ERROR(SplitHostPort(address, &host, &port));
    }
  }
  if (options.cache_dir.empty()) {
    return absl::InvalidArgumentError("no cache directory given");
  }
  std::unique_ptr<Agent> agent(new Agent(std::move(options)));
  KESS_RETURN_IF_ERROR(agent->Init());
  return agent;
}

absl::Status Agent::Init() {
  order_ = DistributorOrder(options_.host_id, options_.distributors);
  KESS_ASSIGN_OR_RETURN(writer_, file_cache::FileCacheWriter::Open(
                                     {options_.cache_dir, options_.env}));
  KESS_ASSIGN_OR_RETURN(
      subscriptions_, SubscriptionSet::Load(options_.env, options_.cache_dir,
                                            options_.unsubscribe_grace));
  // A file in the cache means the key was subscribed (the set is persisted
  // before any fetch); keep it if subscriptions.json was lost. With the
  // file, it is the truth: files of unsubscribed keys stay but are not
  // subscribed again.
  if (!subscriptions_->loaded_from_file()) {
    for (const auto& [key, revision] : writer_->Revisions()) {
      subscriptions_->AddLoaded(key);
    }
  }
  for (const std::string& damaged : writer_->damaged_files()) {
    registry_
        ->GetCounter("kess_agent_damaged_cache_files_total",
                     "Unreadable cache files found at start-up (refetched).")
        ->Increment();
    LOG(WARNING) << "damaged cache file " << damaged << " will be refetched";
  }
  LOG(INFO) << "file cache " << options_.cache_dir << ": "
            << writer_->Revisions().size() << " files, "
            << subscriptions_->size() << " subscribed keys; distributor order "
            << absl::StrJoin(order_, ",");

  CacheUpdater::Options updater_options;
  updater_options.retry_initial = options_.write_retry_initial;
  updater_options.retry_max = options_.write_retry_max;
  updater_options.registry = registry_;
  updater_options.on_written = options_.on_written;
  updater_options.on_delta_applied = options_.on_accepted;
  updater_options.on_delta_failed = [this](const CacheKey& key) {
    absl::MutexLock lock(&mu_);
    if (loop_gone_ || loop_ == nullptr) return;
    loop_->Post([this, key] { RequestWhole(key); });
  };
  updater_ = std::make_unique<CacheUpdater>(writer_.get(), updater_options);
  secrets_ = std::make_unique<SecretValues>(
      SecretValues::Options{options_.secret_keys_dir, registry_});
  // Secret values an earlier run wrote stay restricted from the start.
  secrets_->MarkFromCache(options_.cache_dir);
  registry_->SetCallbackGauge("kess_agent_keys", "Subscribed keys.", {},
                              [this] { return subscriptions_->size(); });

  KESS_ASSIGN_OR_RETURN(loop_, transport::EventLoop::Create("agent"));
  HostHeartbeater::Options hb;
  hb.mandators = options_.mandators;
  hb.interval = options_.host_heartbeat_interval;
  hb.call_timeout = options_.call_timeout;
  hb.connect_timeout = options_.connect_timeout;
  hb.registry = registry_;
  hb.tls = options_.tls;
  hb.credential = options_.credential;
  heartbeater_ = std::make_unique<HostHeartbeater>(loop_.get(), hb, [this] {
    protocol::HostHeartbeat m;
    m.set_host_id(options_.host_id);
    m.set_datacenter(options_.datacenter);
    {
      absl::MutexLock lock(&mu_);
      m.set_distributor(distributor_);
    }
    m.set_revision(updater_->max_revision());
    m.set_synced_revision(distributor_revision_.load());
    m.set_agent_version(BuildVersion());
    return m;
  });
  heartbeater_->Start();
  loop_->Post([this] {
    ConnectTo(0);
    ScheduleExpiry();  // what lingered before a restart
  });
  return absl::OkStatus();
}

Agent::~Agent() {
  heartbeater_.reset();
  if (loop_ != nullptr) {
    absl::Notification done;
    loop_->Post([this, &done] {
      for (auto id :
           {reconnect_timer_, pull_timer_, return_timer_, page_timer_,
            expiry_timer_}) {
        if (id != 0) loop_->CancelTimer(id);
      }
      ++generation_;
      client_.reset();
      probe_.reset();
      RunAfterFirst();
      done.Notify();
    });
    done.WaitForNotification();
    {
      absl::MutexLock lock(&mu_);
      loop_gone_ = true;
    }
    loop_.reset();
  }
  registry_->RemoveCallbackGauge("kess_agent_keys", {});
  updater_.reset();
  SetConnected(false);
}

void Agent::SetConnected(bool connected) {
  connected_ = connected;
  connected_gauge_->Set(connected ? 1 : 0);
}

// ---- connection management (loop thread) ----

void Agent::ConnectTo(size_t index) {
  reconnect_timer_ = 0;
  if (client_ != nullptr) loop_->DeleteSoon(std::move(client_));
  index_ = index % order_.size();
  subscribed_ = false;
  first_sent_ = false;
  RunAfterFirst();  // the old session's waiters: nothing to wait for
  const uint64_t generation = ++generation_;
  transport::ClientOptions opts;
  SplitHostPort(order_[index_], &opts.host, &opts.port).IgnoreError();
  opts.connect_timeout = options_.connect_timeout;
  opts.heartbeat_interval = options_.heartbeat_interval;
  opts.heartbeat_timeout = options_.heartbeat_timeout;
  opts.registry = registry_;
  opts.tls = options_.tls;
  transport::ClientCallbacks callbacks;
  callbacks.on_connect = [this, generation](const absl::Status& status) {
    if (status.ok()) {
      OnConnected(generation);
    } else {
      OnSessionLost(generation, status.ToString());
    }
  };
  callbacks.on_push = [this, generation](const std::string& method,
                                         std::string payload) {
    if (generation != generation_ || method != "kess.Update") return;
    protocol::UpdatePush push;
    if (!push.ParseFromString(payload)) {
      LOG(WARNING) << "unparsable kess.Update from " << order_[index_];
      return;
    }
    stale_ = push.stale();
    stale_gauge_->Set(push.stale());
    distributor_revision_ =
        std::max(distributor_revision_.load(), push.revision());
    revision_gauge_->Set(distributor_revision_);
    for (const protocol::Resource& r : push.updates()) Apply(r);
    if (push.deferred() > 0) PullNextPage(push.deferred());
  };
  callbacks.on_disconnect = [this, generation](const char* reason,
                                               const absl::Status& detail) {
    OnSessionLost(generation, absl::StrCat(reason, " ", detail.ToString()));
  };
  auto client = transport::Client::Create(loop_.get(), opts, callbacks);
  if (!client.ok()) {
    OnSessionLost(generation, client.status().ToString());
    return;
  }
  client_ = std::move(client).value();
}

// The first frame of a connection stays under the distributor's limit for
// peers that have not authenticated yet
// (options_.distributor_untrusted_max_frame_bytes, its
// --untrusted_max_frame_bytes): it carries the token and the keys that fit
// what is left of that limit after the request's other fields and the
// frame's envelope; the others follow at once in a second Subscribe (the
// distributor trusts the connection as it accepts the first, before it
// reads the next frame).
size_t Agent::FirstSubscribeKeyBytes() const {
  // The frame header, id, kind and method name of the envelope, and the
  // payload field's tag and length, with room to spare.
  constexpr size_t kEnvelopeBytes = 256;
  protocol::SubscribeRequest request;
  request.set_host_id(options_.host_id);
  request.set_datacenter(options_.datacenter);
  request.set_auth_token(options_.auth_token);
  request.set_route_deltas(options_.route_deltas);
  const size_t fixed = request.ByteSizeLong() + kEnvelopeBytes;
  const size_t limit = options_.distributor_untrusted_max_frame_bytes;
  return limit > fixed ? limit - fixed : 0;
}

void Agent::OnConnected(uint64_t generation) {
  if (generation != generation_) return;
  const size_t first_bytes = FirstSubscribeKeyBytes();
  std::vector<CacheKey> first;
  std::vector<CacheKey> rest;
  size_t bytes = 0;
  for (const CacheKey& k : subscriptions_->Keys()) {
    // The Known as it will be sent, plus its field's tag and length.
    protocol::Known known;
    *known.mutable_key() = ToResourceKey(k);
    known.set_revision(updater_->Known(k));
    const size_t size = known.ByteSizeLong();
    const size_t cost =
        1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
    if (rest.empty() && bytes + cost <= first_bytes) {
      first.push_back(k);
      bytes += cost;
    } else {
      rest.push_back(k);
    }
  }
  // Namespaces (with the revisions held of their keys) go with the rest.
  std::vector<std::string> namespaces;
  for (const std::string& ns : subscriptions_->Namespaces()) {
    namespaces.push_back(ns);
  }
  first_sent_ = true;
  // API Subscribes made while connecting are answered with the last frame.
  std::function<void()> done;
  if (!after_first_.empty()) {
    done = [waiting = std::move(after_first_)] {
      for (const auto& fn : waiting) fn();
    };
    after_first_.clear();
  }
  if (rest.empty() && namespaces.empty()) {
    SendSubscribe(std::move(first), {}, std::move(done));
  } else {
    SendSubscribe(std::move(first), {}, nullptr);
    SendSubscribe(std::move(rest), std::move(namespaces), std::move(done));
  }
}

void Agent::RunAfterFirst() {
  std::vector<std::function<void()>> waiting = std::move(after_first_);
  after_first_.clear();
  for (const auto& fn : waiting) fn();
}

void Agent::OnSessionLost(uint64_t generation, const std::string& why) {
  if (generation != generation_) return;
  ++generation_;  // ignore anything else from this client
  const bool was_subscribed = subscribed_;
  subscribed_ = false;
  first_sent_ = false;
  RunAfterFirst();
  SetConnected(false);
  {
    absl::MutexLock lock(&mu_);
    distributor_.clear();
  }
  if (pull_timer_ != 0) loop_->CancelTimer(pull_timer_);
  pull_timer_ = 0;
  if (page_timer_ != 0) loop_->CancelTimer(page_timer_);
  page_timer_ = 0;
  LOG(WARNING) << "distributor " << order_[index_]
               << (was_subscribed ? " lost: " : " unusable: ") << why;
  if (client_ != nullptr) loop_->DeleteSoon(std::move(client_));
  ScheduleReconnect();
}

void Agent::ScheduleReconnect() {
  const absl::Duration delay = backoff_.NextDelay();
  const size_t next = (index_ + 1) % order_.size();
  VLOG(1) << "next attempt: " << order_[next] << " in " << delay;
  reconnect_timer_ = loop_->RunAfter(delay, [this, next] {
    reconnect_attempts_->Increment();
    ConnectTo(next);
  });
}

void Agent::SchedulePull() {
  if (pull_timer_ != 0) loop_->CancelTimer(pull_timer_);
  pull_timer_ =
      loop_->RunAfter(backoff_.Jitter(options_.pull_interval, 0.1), [this] {
        pull_timer_ = 0;
        SendPull(/*periodic=*/true);
      });
}

void Agent::SendPull(bool periodic) {
  if (!subscribed_ || client_ == nullptr) return;
  protocol::PullRequest request;
  const std::set<CacheKey> keys = subscriptions_->Keys();
  std::vector<CacheKey> all(keys.begin(), keys.end());
  for (protocol::Known& k : KnownFor(all)) *request.add_keys() = k;
  const std::set<std::string> namespaces = subscriptions_->Namespaces();
  for (protocol::Known& k : KnownForNamespaces(std::vector<std::string>(
           namespaces.begin(), namespaces.end()))) {
    *request.add_keys() = std::move(k);
  }
  const uint64_t generation = generation_;
  auto answered = [this, generation,
                   periodic](absl::StatusOr<std::string> reply) {
    if (generation != generation_) return;
    if (reply.ok()) {
      OnAnswer(generation, "kess.Pull", std::move(reply));
    } else {
      // The heartbeat decides whether the distributor is gone; a slow pull
      // is retried next time.
      LOG(WARNING) << "kess.Pull to " << order_[index_]
                   << " failed: " << reply.status();
    }
    if (periodic) SchedulePull();
  };
  client_->Call("kess.Pull", request.SerializeAsString(),
                options_.call_timeout, std::move(answered));
}

// The next page is asked for once the cache writer has written this one, so
// at most one answer's budget of values waits in memory however large the
// namespace. A disk that keeps failing leaves it to the periodic pull.
void Agent::PullNextPage(int64_t deferred) {
  if (page_timer_ != 0) return;  // one page at a time
  VLOG(1) << deferred << " resources deferred by " << order_[index_]
          << "; pulling the next page once this one is written";
  const uint64_t generation = generation_;
  const absl::Time give_up = absl::Now() + kPageWriteWait;
  auto check = std::make_shared<std::function<void()>>();
  *check = [this, generation, give_up, check] {
    page_timer_ = 0;
    if (generation != generation_ || !subscribed_) return;
    if (updater_->pending() > 0) {
      if (absl::Now() >= give_up) {
        LOG(WARNING) << "cache writes of the last page not done after "
                     << kPageWriteWait
                     << "; the rest comes with the periodic pull";
        return;
      }
      page_timer_ = loop_->RunAfter(absl::Milliseconds(10), [check] {
        (*check)();
      });
      return;
    }
    page_pulls_->Increment();
    SendPull(/*periodic=*/false);
  };
  page_timer_ = loop_->RunAfter(absl::ZeroDuration(), [check] { (*check)(); });
}

void Agent::ScheduleReturnProbe() {
  if (return_timer_ != 0 || index_ == 0 || order_.size() < 2) return;
  return_timer_ =
      loop_->RunAfter(backoff_.Jitter(options_.return_interval, 0.2), [this] {
        return_timer_ = 0;
        Probe();
      });
}

// Connects to the preferred distributor on the side and asks it a real
// question: an empty kess.Subscribe (authenticates, subscribes to nothing).
// Only an answer in time that says "not stale" moves the session there
// (the old one is closed). A connect alone proves little: a stopped
// process's kernel still completes handshakes, and a slow link connects
// fast; returning to either would fail again a heartbeat timeout later,
// every --return_interval_ms.
void Agent::Probe() {
  if (index_ == 0 || !subscribed_) return;
  transport::ClientOptions opts;
  SplitHostPort(order_[0], &opts.host, &opts.port).IgnoreError();
  opts.connect_timeout = options_.connect_timeout;
  opts.heartbeat_interval = absl::ZeroDuration();
  opts.heartbeat_timeout = absl::ZeroDuration();
  opts.registry = registry_;
  opts.tls = options_.tls;
  // In time = well within what the session's heartbeat would tolerate.
  const absl::Duration answer_time_budget =
      options_.heartbeat_timeout > absl::ZeroDuration()
          ? std::min(options_.call_timeout, options_.heartbeat_timeout / 2)
          : options_.call_timeout;
  auto give_up = [this](const std::string& why) {
    probes_not_back_->Increment();
    if (probe_ != nullptr) loop_->DeleteSoon(std::move(probe_));
    VLOG(1) << "preferred distributor " << order_[0] << " not back: " << why;
    ScheduleReturnProbe();
  };
  // The call is queued until the connect is done (or fails with it), so the
  // answer's time budget covers the connect too.
  auto probe = transport::Client::Create(loop_.get(), opts, {});
  if (!probe.ok()) return give_up(probe.status().ToString());
  probe_ = std::move(probe).value();
  protocol::SubscribeRequest request;
  request.set_host_id(options_.host_id);
  request.set_datacenter(options_.datacenter);
  request.set_auth_token(options_.auth_token);
  probe_->Call(
      "kess.Subscribe", request.SerializeAsString(), answer_time_budget,
      [this, give_up](absl::StatusOr<std::string> reply) {
        if (absl::IsCancelled(reply.status())) return;  // agent stopping
        protocol::SubscribeResponse response;
        if (!reply.ok()) return give_up(reply.status().ToString());
        if (!response.ParseFromString(*reply)) {
          return give_up("unparsable answer");
        }
        if (response.stale()) return give_up("it reports stale data");
        if (index_ == 0 || !subscribed_) return give_up("no longer needed");
        if (probe_ != nullptr) loop_->DeleteSoon(std::move(probe_));
        probes_returned_->Increment();
        LOG(INFO) << "preferred distributor " << order_[0]
                  << " is back; moving to it from " << order_[index_];
        if (pull_timer_ != 0) loop_->CancelTimer(pull_timer_);
        pull_timer_ = 0;
        SetConnected(false);
        ConnectTo(0);
      });
}

// ---- protocol (loop thread) ----

std::vector<protocol::Known> Agent::KnownFor(
    const std::vector<CacheKey>& keys) const {
  std::vector<protocol::Known> known;
  for (const CacheKey& key : keys) {
    protocol::Known k;
    *k.mutable_key() = ToResourceKey(key);
    k.set_revision(want_whole_.count(key) ? 0 : updater_->Known(key));
    known.push_back(std::move(k));
  }
  return known;
}

std::vector<protocol::Known> Agent::KnownForNamespaces(
    const std::vector<std::string>& namespaces) const {
  std::vector<protocol::Known> known;
  if (namespaces.empty()) return known;
  std::map<std::string, size_t> index;
  for (const std::string& ns : namespaces) {
    index[ns] = known.size();
    protocol::Known k;
    k.mutable_key()->set_type(protocol::ResourceKey::NAMESPACE);
    k.mutable_key()->set_namespace_name(ns);
    known.push_back(std::move(k));
  }
  // What is on disk (a pending version is resent at worst, and dropped as
  // not newer).
  for (const auto& [key, revision] : writer_->Revisions()) {
    if (key.type != CacheKey::Type::kConfig) continue;
    auto it = index.find(key.namespace_name);
    if (it == index.end()) continue;
    protocol::HeldKey* held = known[it->second].add_held();
    held->set_key(key.key);
    held->set_revision(updater_->Known(key));
    held->set_absent(tombstones_.count(key) > 0);
  }
  return known;
}

void Agent::SendSubscribe(std::vector<CacheKey> keys,
                          std::vector<std::string> namespaces,
                          std::function<void()> done) {
  if (client_ == nullptr) {
    if (done) done();
    return;
  }
  protocol::SubscribeRequest request;
  request.set_host_id(options_.host_id);
  request.set_datacenter(options_.datacenter);
  request.set_auth_token(options_.auth_token);
  request.set_route_deltas(options_.route_deltas);
  for (protocol::Known& k : KnownFor(keys)) *request.add_keys() = k;
  for (protocol::Known& k : KnownForNamespaces(namespaces)) {
    *request.add_keys() = std::move(k);
  }
  const uint64_t generation = generation_;
  client_->Call("kess.Subscribe", request.SerializeAsString(),
                options_.call_timeout,
                [this, generation, done](absl::StatusOr<std::string> reply) {
                  if (generation == generation_) {
                    if (!reply.ok()) {
                      // A distributor that refuses (auth, overload) or does not
                      // answer is as good as down: try the next one.
                      OnSessionLost(generation, "kess.Subscribe: " +
                                                    reply.status().ToString());
                    } else {
                      OnAnswer(generation, "kess.Subscribe", std::move(reply));
                    }
                  }
                  if (done) done();
                });
}

void Agent::OnAnswer(uint64_t generation, const char* what,
                     absl::StatusOr<std::string> reply) {
  protocol::SubscribeResponse response;
  if (!response.ParseFromString(*reply)) {
    OnSessionLost(generation, absl::StrCat(what, ": unparsable answer"));
    return;
  }
  if (!subscribed_) {
    subscribed_ = true;
    backoff_.Reset();
    SetConnected(true);
    {
      absl::MutexLock lock(&mu_);
      distributor_ = order_[index_];
    }
    if (!last_distributor_.empty() && last_distributor_ != order_[index_]) {
      switches_->Increment();
    }
    last_distributor_ = order_[index_];
    LOG(INFO) << "subscribed at distributor " << order_[index_] << " (#"
              << index_ + 1 << " of this host's order), revision "
              << response.revision() << ", " << response.updates_size()
              << " updates";
    SchedulePull();
    ScheduleReturnProbe();
  }
  stale_ = response.stale();
  stale_gauge_->Set(response.stale());
  distributor_revision_ =
      std::max(distributor_revision_.load(), response.revision());
  revision_gauge_->Set(distributor_revision_);
  if (response.rejected_size() > 0) {
    // Every Pull repeats a rejection: logged once a minute at most.
    const absl::Time now = absl::Now();
    if (now - last_rejected_log_ >= absl::Minutes(1)) {
      last_rejected_log_ = now;
      LOG(WARNING) << what << ": distributor rejected "
                   << response.rejected_size()
                   << " keys: " << response.rejected_reason()
                   << " (logged once a minute)";
      for (const protocol::ResourceKey& k : response.rejected()) {
        // A distributor older than namespace subscriptions rejects them as
        // an unknown type.
        LOG_IF(WARNING, k.type() == protocol::ResourceKey::NAMESPACE)
            << what << ": distributor " << order_[index_]
            << " refused the subscription of namespace "
            << k.namespace_name().substr(0, kMaxNameLength)
            << " (a distributor without namespace subscriptions?)";
      }
    }
  }
  for (const protocol::Resource& r : response.updates()) Apply(r);
  if (response.deferred() > 0) PullNextPage(response.deferred());
}

void Agent::Apply(const protocol::Resource& resource) {
  auto reject = [this](const char* reason) {
    registry_
        ->GetCounter("kess_agent_rejected_updates_total",
                     "Resources from a distributor that were not applied.",
                     {{"reason", reason}})
        ->Increment();
  };
  const CacheKey key = ToCacheKey(resource.key());
  absl::Status valid = file_cache::ValidateKey(key);
  if (!valid.ok()) {
    LOG_EVERY_N(WARNING, 100) << "update with invalid name: " << valid;
    return reject("invalid_name");
  }
  {
    absl::MutexLock lock(&mu_);
    answered_.insert(key);
  }
  if (!subscriptions_->Contains(key)) return reject("not_subscribed");
  if (!resource.route_delta().empty()) return ApplyDelta(resource, key);
  want_whole_.erase(key);
  if (Crc32(resource.value()) != resource.crc32()) {
    LOG_EVERY_N(WARNING, 100)
        << "update of " << key.ToString() << " revision " << resource.revision()
        << " has a bad CRC-32; dropped (a pull "
           "fetches it again)";
    return reject("crc_mismatch");
  }
  CacheEntry entry;
  entry.key = key;
  entry.revision = resource.revision();
  entry.absent = resource.absent();
  if (!resource.absent()) entry.value = resource.value();
  entry.content_type = resource.content_type();
  entry.mtime_ms = resource.mtime_ms();
  // Decrypted here, before anything local sees the value (secret_values.h).
  secrets_->Open(&entry);
  if (options_.on_accepted) options_.on_accepted(entry);
  if (resource.revision() <= 0) return;  // never existed: nothing to hold
  if (resource.revision() > updater_->Known(key)) {
    if (resource.absent()) {
      tombstones_.insert(key);
    } else {
      tombstones_.erase(key);
    }
  }
  updater_->Submit(std::move(entry));  // ignored unless newer than held
}

void Agent::ApplyDelta(const protocol::Resource& resource,
                       const CacheKey& key) {
  absl::StatusOr<RouteDelta> delta =
      key.type == CacheKey::Type::kRoute
          ? RouteDeltaFromJson(resource.route_delta())
          : absl::InvalidArgumentError("a delta for a config");
  if (delta.ok() && (delta->revision != resource.revision() ||
                     delta->base_revision != resource.delta_base_revision() ||
                     delta->service != key.service)) {
    delta = absl::InvalidArgumentError(
        "the delta's revisions or service differ from its resource's");
  }
  if (!delta.ok()) {
    registry_
        ->GetCounter("kess_agent_rejected_updates_total",
                     "Resources from a distributor that were not applied.",
                     {{"reason", "malformed_delta"}})
        ->Increment();
    LOG_EVERY_N(WARNING, 100) << "route delta of " << key.ToString()
                              << " dropped: " << delta.status();
    RequestWhole(key);
    return;
  }
  if (resource.revision() <= updater_->Known(key)) return;  // an older copy
  tombstones_.erase(key);
  CacheEntry entry;
  entry.key = key;
  entry.revision = resource.revision();
  entry.content_type = resource.content_type();
  entry.mtime_ms = resource.mtime_ms();
  // Not queued when its base is not held: on_delta_failed asks for the
  // whole table.
  updater_->SubmitDelta(std::move(entry), resource.crc32(),
                        std::make_shared<const RouteDelta>(*std::move(delta)));
}

void Agent::RequestWhole(const CacheKey& key) {
  if (!subscriptions_->Contains(key)) return;
  want_whole_.insert(key);
  if (whole_pull_posted_) return;  // one pull for a burst of failures
  whole_pull_posted_ = true;
  loop_->RunAfter(absl::ZeroDuration(), [this] {
    whole_pull_posted_ = false;
    SendPull(/*periodic=*/false);
  });
}

// ---- API (any thread) ----

absl::Status Agent::Subscribe(const std::vector<CacheKey>& keys,
                              absl::Duration wait) {
  Subscription what;
  what.keys.insert(keys.begin(), keys.end());
  return Subscribe(kDefaultOwner, what, wait);
}

absl::Status Agent::Subscribe(const std::string& owner,
                              const Subscription& what, absl::Duration wait) {
  KESS_RETURN_IF_ERROR(ValidateOwner(owner));
  KESS_ASSIGN_OR_RETURN(Subscription added, subscriptions_->Add(owner, what));
  if (added.empty()) return absl::OkStatus();
  auto answered = std::make_shared<SteadyNotification>();
  loop_->Post([this, added, answered] {
    // While the session is connecting, nothing is sent: the connection's
    // first frame must be OnConnected's (size-limited for an untrusted
    // peer), and it names every subscribed key, these too. Once it is
    // sent, a key added while the session subscribes must not wait for the
    // next pull. With no session at all the next one subscribes every key.
    if (client_ != nullptr && !first_sent_) {
      after_first_.push_back([answered] { answered->Notify(); });
      return;
    }
    // An Unsubscribe that removed some of them again may have reached the
    // loop first: what no owner holds any more is not sent.
    std::vector<CacheKey> keys;
    for (const CacheKey& key : added.keys) {
      if (!subscriptions_->OwnersOf(key).empty()) keys.push_back(key);
    }
    std::vector<std::string> namespaces;
    for (const std::string& ns : added.namespaces) {
      if (!subscriptions_->OwnersOfNamespace(ns).empty()) {
        namespaces.push_back(ns);
      }
    }
    if (keys.empty() && namespaces.empty()) {
      answered->Notify();
      return;
    }
    SendSubscribe(std::move(keys), std::move(namespaces),
                  [answered] { answered->Notify(); });
  });
  const auto start = std::chrono::steady_clock::now();
  if (answered->WaitForNotificationWithTimeout(wait)) {
    const absl::Duration waited =
        absl::FromChrono(std::chrono::steady_clock::now() - start);
    updater_->WaitIdle(std::max(absl::ZeroDuration(), wait - waited));
  }
  return absl::OkStatus();
}

absl::StatusOr<Subscription> Agent::Unsubscribe(const std::string& owner,
                                                const Subscription& what) {
  KESS_RETURN_IF_ERROR(ValidateOwner(owner));
  KESS_ASSIGN_OR_RETURN(Subscription removed,
                        subscriptions_->Remove(owner, what));
  if (removed.empty()) return removed;
  if (subscriptions_->grace() > absl::ZeroDuration()) {
    VLOG(1) << removed.keys.size() << " keys and " << removed.namespaces.size()
            << " namespaces no application holds any more (last: " << owner
            << ") stay subscribed for " << subscriptions_->grace();
    loop_->Post([this] { ScheduleExpiry(); });
    return removed;
  }
  LOG(INFO) << "unsubscribing " << removed.keys.size() << " keys and "
            << removed.namespaces.size()
            << " namespaces no application holds any more (last: " << owner
            << "); their cache files stay";
  loop_->Post([this, removed] {
    // A Subscribe of another owner may have taken some of them again after
    // Remove() and reached the loop first: those stay subscribed.
    Subscription gone;
    for (const CacheKey& key : removed.keys) {
      if (subscriptions_->OwnersOf(key).empty()) gone.keys.insert(key);
    }
    for (const std::string& ns : removed.namespaces) {
      if (subscriptions_->OwnersOfNamespace(ns).empty()) {
        gone.namespaces.insert(ns);
      }
    }
    if (gone.empty()) return;
    if (options_.on_unsubscribed && !gone.keys.empty()) {
      options_.on_unsubscribed(
          std::vector<CacheKey>(gone.keys.begin(), gone.keys.end()));
    }
    SendUnsubscribe(gone);
  });
  return removed;
}

void Agent::ScheduleExpiry() {
  const int64_t next_ms = subscriptions_->NextExpiryMs();
  if (expiry_timer_ != 0) loop_->CancelTimer(expiry_timer_);
  expiry_timer_ = 0;
  if (next_ms == 0) return;
  const int64_t delay_ms = std::max<int64_t>(
      0, next_ms - options_.env->NowMs());
  // The deadline's millisecond is over once the timer fires a bit after it.
  expiry_timer_ = loop_->RunAfter(absl::Milliseconds(delay_ms + 1), [this] {
    expiry_timer_ = 0;
    ExpireLingering();
  });
}

void Agent::ExpireLingering() {
  absl::StatusOr<Subscription> expired = subscriptions_->Expire();
  if (!expired.ok()) {
    LOG(WARNING) << "could not persist the end of lingering subscriptions "
                    "(retried in 1 s): "
                 << expired.status();
    expiry_timer_ = loop_->RunAfter(absl::Seconds(1), [this] {
      expiry_timer_ = 0;
      ExpireLingering();
    });
    return;
  }
  // Expired entries had no owner (an owner taking one ends its lingering
  // under the set's lock), so all of it goes.
  if (!expired->empty()) {
    LOG(INFO) << "unsubscribing " << expired->keys.size() << " keys and "
              << expired->namespaces.size()
              << " namespaces no application took again within "
              << subscriptions_->grace() << "; their cache files stay";
    if (options_.on_unsubscribed && !expired->keys.empty()) {
      options_.on_unsubscribed(std::vector<CacheKey>(expired->keys.begin(),
                                                     expired->keys.end()));
    }
    SendUnsubscribe(*expired);
  }
  ScheduleExpiry();
}

void Agent::SendUnsubscribe(const Subscription& removed) {
  // Without a session there is nothing to tell: the next session's
  // Subscribe no longer names them.
  if (client_ == nullptr) return;
  protocol::UnsubscribeRequest request;
  // A key still wanted through a namespace keeps coming through it.
  for (const CacheKey& key : removed.keys) {
    *request.add_keys() = ToResourceKey(key);
  }
  for (const std::string& ns : removed.namespaces) {
    protocol::ResourceKey* k = request.add_keys();
    k->set_type(protocol::ResourceKey::NAMESPACE);
    k->set_namespace_name(ns);
  }
  const std::string where = order_[index_];
  client_->Call("kess.Unsubscribe", request.SerializeAsString(),
                options_.call_timeout,
                [where](absl::StatusOr<std::string> reply) {
                  // Harmless if lost: pushes of keys no longer subscribed
                  // are dropped (not_subscribed), and the next session does
                  // not name them.
                  LOG_IF(WARNING, !reply.ok() &&
                                      !absl::IsCancelled(reply.status()))
                      << "kess.Unsubscribe to " << where
                      << " failed: " << reply.status();
                });
}

std::vector<KeyState> Agent::Keys() const {
  std::set<CacheKey> keys = subscriptions_->Keys();
  return Keys(std::vector<CacheKey>(keys.begin(), keys.end()));
}

std::vector<KeyState> Agent::Keys(const std::vector<CacheKey>& keys) const {
  std::vector<KeyState> out;
  absl::MutexLock lock(&mu_);
  for (const CacheKey& key : keys) {
    KeyState s;
    s.key = key;
    s.path =
        absl::StrCat(options_.cache_dir, "/", file_cache::RelativePath(key));
    s.revision = updater_->OnDisk(key);
    s.answered = answered_.count(key) > 0;
    s.owners = subscriptions_->OwnersOf(key);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::pair<CacheKey, int64_t>> Agent::HeldFiles() const {
  const std::set<CacheKey> keys = subscriptions_->Keys();
  const std::set<std::string> namespaces = subscriptions_->Namespaces();
  std::vector<std::pair<CacheKey, int64_t>> out;
  for (const auto& [key, revision] : writer_->Revisions()) {
    if (revision <= 0) continue;
    if (keys.count(key) > 0 ||
        (key.type == CacheKey::Type::kConfig &&
         namespaces.count(key.namespace_name) > 0)) {
      out.emplace_back(key, revision);
    }
  }
  return out;
}

std::vector<NamespaceState> Agent::Namespaces() const {
  return Namespaces(subscriptions_->Namespaces());
}

std::vector<NamespaceState> Agent::Namespaces(
    const std::set<std::string>& namespaces) const {
  std::map<std::string, NamespaceState> states;
  for (const std::string& ns : namespaces) {
    NamespaceState& s = states[ns];
    s.namespace_name = ns;
    s.owners = subscriptions_->OwnersOfNamespace(ns);
    s.path = absl::StrCat(options_.cache_dir, "/configs/", ns);
  }
  for (const auto& [key, revision] : writer_->Revisions()) {
    if (key.type != CacheKey::Type::kConfig) continue;
    auto it = states.find(key.namespace_name);
    if (it == states.end()) continue;
    ++it->second.cached_keys;
    it->second.revision = std::max(it->second.revision, revision);
  }
  std::vector<NamespaceState> out;
  for (auto& [ns, s] : states) out.push_back(std::move(s));
  return out;
}

AgentStatus Agent::Status() const {
  AgentStatus s;
  {
    absl::MutexLock lock(&mu_);
    s.distributor = distributor_;
  }
  s.connected = connected_;
  s.stale = stale_;
  s.distributor_revision = distributor_revision_;
  s.cache_revision = updater_->max_revision();
  s.keys = subscriptions_->size();
  s.pending_writes = updater_->pending();
  s.failing_writes = updater_->failing();
  s.switches = static_cast<int64_t>(switches_->Value());
  s.reconnect_attempts = static_cast<int64_t>(reconnect_attempts_->Value());
  s.order = order_;
  return s;
}

absl::Status Agent::Health() const {
  size_t failing = updater_->failing();
  if (failing > 0) {
    return absl::UnavailableError(
        absl::StrCat(failing, " cache files cannot be written (see log)"));
  }
  return absl::OkStatus();
}

}  // namespace agent
}  // namespace kess
