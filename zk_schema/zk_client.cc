#include "zk_schema/zk_client.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {

struct ZkClient::HandleContext {
  ZkClient* client;
  int64_t generation;
  // Guarded by client->state_mu_.
  int state = 0;
  bool was_connected = false;
  bool installed = false;
};

namespace {

// Big enough for nearly every node; larger ones take a second read.
constexpr int kFirstReadBytes = 64 * 1024;
constexpr int kMaxGrowRetries = 3;

Stat ToStat(const ::Stat& s) {
  Stat out;
  out.czxid = s.czxid;
  out.mzxid = s.mzxid;
  out.pzxid = s.pzxid;
  out.ctime_ms = s.ctime;
  out.mtime_ms = s.mtime;
  out.version = s.version;
  out.cversion = s.cversion;
  out.aversion = s.aversion;
  out.ephemeral_owner = s.ephemeralOwner;
  out.data_length = s.dataLength;
  out.num_children = s.numChildren;
  return out;
}

int ToFlags(CreateMode mode) {
  switch (mode) {
    case CreateMode::kPersistent:
      return ZOO_PERSISTENT;
    case CreateMode::kEphemeral:
      return ZOO_EPHEMERAL;
    case CreateMode::kPersistentSequential:
      return ZOO_PERSISTENT_SEQUENTIAL;
    case CreateMode::kEphemeralSequential:
      return ZOO_EPHEMERAL_SEQUENTIAL;
  }
  return ZOO_PERSISTENT;
}

// An ACL_vector view of an AclList; `acl` must outlive it.
class AclVector {
 public:
  explicit AclVector(const AclList& acl) {
    entries_.reserve(acl.size());
    for (const Acl& a : acl) {
      ::ACL entry;
      entry.perms = a.perms;
      // The library only reads these strings.
      entry.id.scheme = const_cast<char*>(a.scheme.c_str());
      entry.id.id = const_cast<char*>(a.id.c_str());
      entries_.push_back(entry);
    }
    vector_.count = static_cast<int32_t>(entries_.size());
    vector_.data = entries_.data();
  }
  AclVector(const AclVector&) = delete;
  AclVector& operator=(const AclVector&) = delete;
  ::ACL_vector* get() { return &vector_; }

 private:
  std::vector<::ACL> entries_;
  ::ACL_vector vector_;
};

WatchEventType ToEventType(int type) {
  if (type == ZOO_CREATED_EVENT) return WatchEventType::kCreated;
  if (type == ZOO_DELETED_EVENT) return WatchEventType::kDeleted;
  if (type == ZOO_CHILD_EVENT) return WatchEventType::kChildren;
  return WatchEventType::kChanged;
}

const char* StateName(int state) {
  if (state == ZOO_CONNECTED_STATE) return "connected";
  if (state == ZOO_CONNECTING_STATE) return "connecting";
  if (state == ZOO_ASSOCIATING_STATE) return "associating";
  if (state == ZOO_EXPIRED_SESSION_STATE) return "expired";
  if (state == ZOO_AUTH_FAILED_STATE) return "auth failed";
  return "not connected";
}

struct AuthWait {
  absl::Mutex mu;
  bool done = false;
  int rc = ZOK;
};

void AuthDone(int rc, const void* data) {
  auto* wait = static_cast<AuthWait*>(const_cast<void*>(data));
  absl::MutexLock lock(&wait->mu);
  wait->done = true;
  wait->rc = rc;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ZkClient>> ZkClient::Create(
    ZkClientOptions options) {
  if (options.connect_string.empty()) {
    return absl::InvalidArgumentError("ZkClient: empty connect string");
  }
  for (const DigestCredential& c : options.credentials) {
    if (c.user.empty() || c.user.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          "ZkClient: digest user must be non-empty and must not contain ':'");
    }
  }
  static absl::once_flag log_level_once;
  // The library logs every connection attempt at INFO to stderr.
  absl::call_once(log_level_once,
                  [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
  std::unique_ptr<ZkClient> client(new ZkClient(std::move(options)));
  KESS_RETURN_IF_ERROR(
      client->RecreateSession(/*retry_forever=*/false, /*only_if=*/-1));
  return client;
}

ZkClient::ZkClient(ZkClientOptions options)
    : options_(std::move(options)),
      default_acl_(options_.default_acl.empty() ? OpenAcl()
                                                : options_.default_acl) {
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  dispatcher_id_ = dispatcher_.get_id();
}

ZkClient::~ZkClient() {
  CHECK(std::this_thread::get_id() != dispatcher_id_)
      << "ZkClient destroyed from its own callback thread";
  {
    absl::MutexLock lock(&state_mu_);
    shutting_down_ = true;
  }
  {
    absl::MutexLock lock(&queue_mu_);
    stop_dispatch_ = true;
  }
  dispatcher_.join();
  absl::MutexLock lock(&reconnect_mu_);
  CloseCurrentHandle();
}

absl::StatusOr<zhandle_t*> ZkClient::OpenHandle(HandleContext* ctx) {
  const int timeout_ms =
      static_cast<int>(absl::ToInt64Milliseconds(options_.session_timeout));
  errno = 0;
  zhandle_t* zh = zookeeper_init(options_.connect_string.c_str(),
                                 &ZkClient::SessionWatcher, timeout_ms,
                                 /*clientid=*/nullptr, ctx, /*flags=*/0);
  if (zh == nullptr) {
    int err = errno;
    std::string what =
        absl::StrCat("zookeeper_init(\"", options_.connect_string,
                     "\"): ", err != 0 ? std::strerror(err) : "failed");
    return err == EINVAL ? absl::InvalidArgumentError(what)
                         : absl::UnavailableError(what);
  }
  if (options_.resolution_delay > absl::ZeroDuration()) {
    zoo_set_servers_resolution_delay(
        zh,
        static_cast<int>(absl::ToInt64Milliseconds(options_.resolution_delay)));
  }
  int state = 0;
  bool shutting_down = false;
  {
    absl::MutexLock lock(&state_mu_);
    auto settled = [this, ctx]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) {
      return ctx->state == ZOO_CONNECTED_STATE ||
             ctx->state == ZOO_EXPIRED_SESSION_STATE ||
             ctx->state == ZOO_AUTH_FAILED_STATE || shutting_down_;
    };
    AwaitWithSteadyTimeout(&state_mu_, absl::Condition(&settled),
                           options_.connect_timeout);
    state = ctx->state;
    shutting_down = shutting_down_;
  }
  if (state != ZOO_CONNECTED_STATE || shutting_down) {
    zookeeper_close(zh);
    if (shutting_down) return absl::CancelledError("ZkClient is shutting down");
    return absl::UnavailableError(
        absl::StrCat("no ZooKeeper session with ", options_.connect_string,
                     " within ", absl::FormatDuration(options_.connect_timeout),
                     " (state: ", StateName(state), ")"));
  }
  for (const DigestCredential& cred : options_.credentials) {
    // Heap-allocated and leaked if the server never answers: the library
    // may still call AuthDone after we give up.
    auto* wait = new AuthWait;
    std::string cert = absl::StrCat(cred.user, ":", cred.password);
    int rc = zoo_add_auth(zh, "digest", cert.data(),
                          static_cast<int>(cert.size()), &AuthDone, wait);
    bool done = false;
    if (rc == ZOK) {
      absl::MutexLock lock(&wait->mu);
      done = AwaitWithSteadyTimeout(&wait->mu, absl::Condition(&wait->done),
                                    options_.connect_timeout);
      rc = done ? wait->rc : ZOPERATIONTIMEOUT;
    }
    if (done || rc != ZOPERATIONTIMEOUT) delete wait;
    if (rc != ZOK) {
      zookeeper_close(zh);
      return ZkStatus(rc, absl::StrCat("digest auth as \"", cred.user, "\""));
    }
  }
  return zh;
}

absl::Status ZkClient::RecreateSession(bool retry_forever,
                                       int64_t only_if_generation) {
  absl::MutexLock reconnect_lock(&reconnect_mu_);
  if (only_if_generation >= 0 && generation() != only_if_generation) {
    return absl::OkStatus();
  }
  CloseCurrentHandle();
  absl::Duration backoff = options_.min_backoff;
  std::mt19937_64 rng(std::random_device{}());
  // Unbounded on purpose with retry_forever: a daemon keeps trying to get
  // its session back until it is destroyed (the destructor interrupts).
  for (int attempt = 1;; ++attempt) {
    int64_t generation = 0;
    {
      absl::MutexLock lock(&state_mu_);
      if (shutting_down_) return absl::CancelledError("ZkClient shutting down");
      generation = generation_ + 1;
    }
    auto ctx = std::make_unique<HandleContext>();
    ctx->client = this;
    ctx->generation = generation;
    absl::StatusOr<zhandle_t*> zh = OpenHandle(ctx.get());
    if (zh.ok()) {
      const clientid_t* id = zoo_client_id(*zh);
      absl::WriterMutexLock handle_lock(&handle_mu_);
      absl::MutexLock state_lock(&state_mu_);
      handle_ = *zh;
      ctx->installed = true;
      ctx->was_connected = true;
      const bool expired_already = ctx->state == ZOO_EXPIRED_SESSION_STATE;
      handle_ctx_ = std::move(ctx);
      generation_ = generation;
      session_id_ = id->client_id;
      LOG(INFO) << "ZooKeeper session 0x" << std::hex << session_id_ << std::dec
                << " established (generation " << generation << ", "
                << options_.connect_string << ")";
      if (generation > 1)
        PostSessionEvent(SessionEvent::kNewSession, generation);
      if (expired_already) {
        // Expired between OpenHandle() and now: SessionWatcher ignored it.
        PostSessionEvent(SessionEvent::kExpired, generation);
        if (options_.recreate_on_expiry) PostRecreate(generation);
      }
      return absl::OkStatus();
    }
    if (!retry_forever) return zh.status();
    LOG(WARNING) << "ZooKeeper session re-creation attempt " << attempt
                 << " failed: " << zh.status() << "; retrying in ~" << backoff;
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    absl::Duration sleep = backoff * jitter(rng);
    {
      absl::MutexLock lock(&state_mu_);
      AwaitWithSteadyTimeout(&state_mu_, absl::Condition(&shutting_down_),
                             sleep);
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void ZkClient::CloseCurrentHandle() {
  zhandle_t* zh = nullptr;
  std::unique_ptr<HandleContext> ctx;
  {
    // Once we hold the writer lock no call is using the handle, and new
    // calls see no handle.
    absl::WriterMutexLock lock(&handle_mu_);
    zh = handle_;
    handle_ = nullptr;
    ctx = std::move(handle_ctx_);
  }
  if (zh != nullptr) zookeeper_close(zh);  // joins the library's threads
  {
    absl::MutexLock lock(&state_mu_);
    session_id_ = 0;
  }
  if (ctx != nullptr) {
    // Watches of a closed session never fire.
    absl::MutexLock lock(&watch_mu_);
    absl::erase_if(watches_, [&](const auto& entry) {
      return entry.second.generation == ctx->generation;
    });
  }
}

absl::Status ZkClient::Reconnect() {
  return RecreateSession(/*retry_forever=*/false, /*only_if=*/-1);
}

absl::StatusOr<SessionCredentials> ZkClient::session_credentials() const {
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) {
    return absl::FailedPreconditionError("no live ZooKeeper session");
  }
  const clientid_t* id = zoo_client_id(handle_);
  return SessionCredentials{id->client_id,
                            std::string(id->passwd, sizeof(id->passwd))};
}

int64_t ZkClient::generation() const {
  absl::MutexLock lock(&state_mu_);
  return generation_;
}

int64_t ZkClient::session_id() const {
  absl::MutexLock lock(&state_mu_);
  return session_id_;
}

// ---- Events and callbacks ------------------------------------------------

void ZkClient::SessionWatcher(zhandle_t* /*zh*/, int type, int state,
                              const char* /*path*/, void* context) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* ctx = static_cast<HandleContext*>(context);
  ZkClient* self = ctx->client;
  VLOG(1) << "ZooKeeper session event: generation " << ctx->generation
          << " state " << StateName(state);
  absl::MutexLock lock(&self->state_mu_);
  const int previous = ctx->state;
  ctx->state = state;
  if (!ctx->installed) return;  // OpenHandle is still waiting for it
  const int64_t gen = ctx->generation;
  if (state == ZOO_CONNECTED_STATE) {
    if (ctx->was_connected && previous != ZOO_CONNECTED_STATE) {
      self->PostSessionEvent(SessionEvent::kReconnected, gen);
    }
    ctx->was_connected = true;
  } else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
    if (previous == ZOO_CONNECTED_STATE) {
      self->PostSessionEvent(SessionEvent::kConnectionLost, gen);
    }
  } else if (state == ZOO_EXPIRED_SESSION_STATE) {
    LOG(WARNING) << "ZooKeeper session of generation " << gen << " expired";
    self->PostSessionEvent(SessionEvent::kExpired, gen);
    if (self->options_.recreate_on_expiry) self->PostRecreate(gen);
  } else if (state == ZOO_AUTH_FAILED_STATE) {
    self->PostSessionEvent(SessionEvent::kAuthFailed, gen);
  }
}

void ZkClient::PathWatcher(zhandle_t* zh, int type, int /*state*/,
                           const char* path, void* context) {
  // Session events reach every registered watcher; SessionWatcher handles
  // them once.
  if (type == ZOO_SESSION_EVENT || type == ZOO_NOTWATCHING_EVENT) return;
  auto* ctx = static_cast<const HandleContext*>(zoo_get_context(zh));
  ZkClient* self = ctx->client;
  const uint64_t id = reinterpret_cast<uintptr_t>(context);
  WatchCallback callback;
  {
    absl::MutexLock lock(&self->watch_mu_);
    auto it = self->watches_.find(id);
    if (it == self->watches_.end()) return;
    callback = std::move(it->second.callback);
    self->watches_.erase(it);
  }
  WatchEvent event{ToEventType(type), path != nullptr ? path : ""};
  self->Post([callback = std::move(callback), event = std::move(event)] {
    callback(event);
  });
}

void ZkClient::PostRecreate(int64_t expired_generation) {
  Post([this, expired_generation] {
    RecreateSession(/*retry_forever=*/true, expired_generation).IgnoreError();
  });
}

uint64_t ZkClient::RegisterWatch(WatchCallback callback) {
  const int64_t gen = generation();
  absl::MutexLock lock(&watch_mu_);
  const uint64_t id = next_watch_id_++;
  watches_.emplace(id, WatchEntry{std::move(callback), gen});
  return id;
}

void ZkClient::DropWatch(uint64_t id) {
  absl::MutexLock lock(&watch_mu_);
  watches_.erase(id);
}

void ZkClient::Post(std::function<void()> task) {
  absl::MutexLock lock(&queue_mu_);
  if (stop_dispatch_) return;
  queue_.push_back(std::move(task));
}

void ZkClient::PostSessionEvent(SessionEvent::Type type, int64_t generation) {
  const SessionEvent event{type, generation};
  Post([this, event] { listeners_.Deliver(event); });
}

void ZkClient::DispatchLoop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&queue_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return stop_dispatch_ || !queue_.empty();
      };
      queue_mu_.Await(absl::Condition(&ready));
      if (stop_dispatch_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::MutexLock running(&callback_mu_);
    task();
  }
}

int64_t ZkClient::AddSessionListener(SessionListener listener) {
  return listeners_.Add(std::move(listener));
}

void ZkClient::RemoveSessionListener(int64_t id) {
  listeners_.Remove(id);
  // Wait for a listener that may be running right now.
  if (std::this_thread::get_id() != dispatcher_id_) {
    absl::MutexLock wait(&callback_mu_);
  }
}

// ---- Operations ------------------------------------------------------------

absl::StatusOr<GetResult> ZkClient::Get(const std::string& path,
                                        WatchCallback watch) {
  const std::string context = absl::StrCat("get ", path);
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  const uint64_t watch_id = watch ? RegisterWatch(std::move(watch)) : 0;
  GetResult result;
  std::string buffer(kFirstReadBytes, '\0');
  int length = static_cast<int>(buffer.size());
  ::Stat stat{};
  int rc =
      watch_id != 0
          ? zoo_wget(handle_, path.c_str(), &ZkClient::PathWatcher,
                     reinterpret_cast<void*>(watch_id), buffer.data(), &length,
                     &stat)
          : zoo_get(handle_, path.c_str(), 0, buffer.data(), &length, &stat);
  if (rc != ZOK) {
    if (watch_id != 0) DropWatch(watch_id);  // not set on errors
    return ZkStatus(rc, context);
  }
  // The node is larger than the buffer: read again with its size (the watch
  // from the first read stays armed).
  for (int i = 0; i < kMaxGrowRetries && stat.dataLength > length; ++i) {
    buffer.assign(static_cast<size_t>(stat.dataLength), '\0');
    length = stat.dataLength;
    rc = zoo_get(handle_, path.c_str(), 0, buffer.data(), &length, &stat);
    if (rc != ZOK) return ZkStatus(rc, context);
  }
  if (stat.dataLength > length) {
    return absl::UnavailableError(
        absl::StrCat(context, ": node kept growing while being read"));
  }
  buffer.resize(length > 0 ? static_cast<size_t>(length) : 0);
  result.data = std::move(buffer);
  result.stat = ToStat(stat);
  return result;
}

namespace {

// The answers of one GetMany batch, filled by the library's completion
// thread.
struct GetBatch {
  struct Slot {
    GetBatch* batch;
    size_t index;
  };
  absl::Mutex mu;
  size_t outstanding ABSL_GUARDED_BY(mu) = 0;
  std::vector<int> rc;
  std::vector<GetResult> results;
  std::vector<Slot> slots;
};

void GetBatchCompletion(int rc, const char* value, int value_len,
                        const ::Stat* stat, const void* data) {
  const auto* slot = static_cast<const GetBatch::Slot*>(data);
  GetBatch* batch = slot->batch;
  absl::MutexLock lock(&batch->mu);
  batch->rc[slot->index] = rc;
  if (rc == ZOK) {
    GetResult& result = batch->results[slot->index];
    if (value != nullptr && value_len > 0) {
      result.data.assign(value, static_cast<size_t>(value_len));
    }
    if (stat != nullptr) result.stat = ToStat(*stat);
  }
  --batch->outstanding;
}

}  // namespace

// A keepalive's answer: nothing to do.
static void KeepaliveCompletion(int /*rc*/, const ::Stat* /*stat*/,
                                const void* /*data*/) {}

std::vector<absl::StatusOr<GetResult>> ZkClient::GetMany(
    std::vector<GetRequest> requests) {
  const size_t n = requests.size();
  std::vector<absl::StatusOr<GetResult>> out;
  out.reserve(n);
  GetBatch batch;
  batch.rc.assign(n, ZOK);
  batch.results.resize(n);
  batch.slots.resize(n);
  std::vector<uint64_t> watch_ids(n, 0);
  absl::ReaderMutexLock lock(&handle_mu_);
  for (size_t i = 0; i < n; ++i) {
    batch.slots[i] = GetBatch::Slot{&batch, i};
    if (handle_ == nullptr) {
      batch.rc[i] = ZINVALIDSTATE;
      continue;
    }
    if (requests[i].watch) {
      watch_ids[i] = RegisterWatch(std::move(requests[i].watch));
    }
    {
      absl::MutexLock count(&batch.mu);
      ++batch.outstanding;
    }
    const int rc = watch_ids[i] != 0
                       ? zoo_awget(handle_, requests[i].path.c_str(),
                                   &ZkClient::PathWatcher,
                                   reinterpret_cast<void*>(watch_ids[i]),
                                   &GetBatchCompletion, &batch.slots[i])
                       : zoo_aget(handle_, requests[i].path.c_str(), 0,
                                  &GetBatchCompletion, &batch.slots[i]);
    if (rc != ZOK) {  // not queued: no completion will come
      absl::MutexLock count(&batch.mu);
      --batch.outstanding;
      batch.rc[i] = rc;
    }
  }
  {
    // The library completes every queued request: with its answer, or with
    // an error when the connection is lost or the handle closes (which
    // waits for handle_mu_, held here).
    //
    // Keepalive: the C client sends no ping while requests are outstanding,
    // and the server expires a session it hears nothing from for the
    // session timeout. A long pipelined batch over a narrow link (answers
    // of 128 KiB arriving one per second for a minute) would thus lose its
    // session halfway. So while waiting, an exists("/") goes out every
    // third of the negotiated timeout: the server hears from the session.
    const int timeout_ms = handle_ != nullptr ? zoo_recv_timeout(handle_) : 0;
    const absl::Duration keepalive =
        absl::Milliseconds(std::max(100, timeout_ms / 3));
    absl::MutexLock wait(&batch.mu);
    auto done = [&batch]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(batch.mu) {
      return batch.outstanding == 0;
    };
    while (
        !AwaitWithSteadyTimeout(&batch.mu, absl::Condition(&done), keepalive)) {
      if (handle_ != nullptr) {
        zoo_aexists(handle_, "/", 0, &KeepaliveCompletion, nullptr);
      }
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (batch.rc[i] != ZOK) {
      if (watch_ids[i] != 0) DropWatch(watch_ids[i]);  // not set on errors
      const std::string context = absl::StrCat("get ", requests[i].path);
      out.push_back(handle_ == nullptr ? NoSessionStatus(context)
                                       : ZkStatus(batch.rc[i], context));
    } else {
      out.push_back(std::move(batch.results[i]));
    }
  }
  return out;
}

absl::StatusOr<std::optional<Stat>> ZkClient::Exists(const std::string& path,
                                                     WatchCallback watch) {
  const std::string context = absl::StrCat("exists ", path);
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  const uint64_t watch_id = watch ? RegisterWatch(std::move(watch)) : 0;
  ::Stat stat{};
  int rc = watch_id != 0
               ? zoo_wexists(handle_, path.c_str(), &ZkClient::PathWatcher,
                             reinterpret_cast<void*>(watch_id), &stat)
               : zoo_exists(handle_, path.c_str(), 0, &stat);
  if (rc == ZNONODE) return std::optional<Stat>();  // watch stays armed
  if (rc != ZOK) {
    if (watch_id != 0) DropWatch(watch_id);
    return ZkStatus(rc, context);
  }
  return std::optional<Stat>(ToStat(stat));
}

absl::StatusOr<ChildrenResult> ZkClient::GetChildren(const std::string& path,
                                                     WatchCallback watch) {
  const std::string context = absl::StrCat("get children of ", path);
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  const uint64_t watch_id = watch ? RegisterWatch(std::move(watch)) : 0;
  ::String_vector names{};
  ::Stat stat{};
  int rc =
      watch_id != 0
          ? zoo_wget_children2(handle_, path.c_str(), &ZkClient::PathWatcher,
                               reinterpret_cast<void*>(watch_id), &names, &stat)
          : zoo_get_children2(handle_, path.c_str(), 0, &names, &stat);
  if (rc != ZOK) {
    if (watch_id != 0) DropWatch(watch_id);
    return ZkStatus(rc, context);
  }
  ChildrenResult result;
  result.children.reserve(names.count);
  for (int i = 0; i < names.count; ++i)
    result.children.push_back(names.data[i]);
  deallocate_String_vector(&names);
  std::sort(result.children.begin(), result.children.end());
  result.stat = ToStat(stat);
  return result;
}

absl::StatusOr<std::string> ZkClient::Create(const std::string& path,
                                             absl::string_view data,
                                             CreateMode mode,
                                             const AclList& acl) {
  const std::string context = absl::StrCat("create ", path);
  KESS_RETURN_IF_ERROR(
      CheckCreateSize(path, data.size(), acl, default_acl_, context));
  const AclList& acl_list = acl.empty() ? default_acl_ : acl;
  AclVector acl_vector(acl_list);
  std::string created(path.size() + 32, '\0');  // room for a sequence suffix
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  int rc =
      zoo_create(handle_, path.c_str(), data.data(),
                 static_cast<int>(data.size()), acl_vector.get(), ToFlags(mode),
                 created.data(), static_cast<int>(created.size()));
  KESS_RETURN_IF_ERROR(ZkStatus(rc, context));
  created.resize(std::strlen(created.c_str()));
  return created;
}

absl::StatusOr<Stat> ZkClient::Set(const std::string& path,
                                   absl::string_view data, int version) {
  const std::string context = absl::StrCat("set ", path);
  KESS_RETURN_IF_ERROR(CheckSetSize(path, data.size(), context));
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  ::Stat stat{};
  int rc = zoo_set2(handle_, path.c_str(), data.data(),
                    static_cast<int>(data.size()), version, &stat);
  KESS_RETURN_IF_ERROR(ZkStatus(rc, context));
  return ToStat(stat);
}

absl::Status ZkClient::Delete(const std::string& path, int version) {
  const std::string context = absl::StrCat("delete ", path);
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  return ZkStatus(zoo_delete(handle_, path.c_str(), version), context);
}

absl::StatusOr<AclList> ZkClient::GetAcl(const std::string& path) {
  const std::string context = absl::StrCat("get ACL of ", path);
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  ::ACL_vector acls{};
  ::Stat stat{};
  const int rc = zoo_get_acl(handle_, path.c_str(), &acls, &stat);
  if (rc != ZOK) return ZkStatus(rc, context);
  AclList out;
  for (int32_t i = 0; i < acls.count; ++i) {
    const ::ACL& a = acls.data[i];
    out.push_back(Acl{a.perms, a.id.scheme != nullptr ? a.id.scheme : "",
                      a.id.id != nullptr ? a.id.id : ""});
  }
  deallocate_ACL_vector(&acls);
  return out;
}

absl::Status ZkClient::SetAcl(const std::string& path, const AclList& acl) {
  const std::string context = absl::StrCat("set ACL of ", path);
  absl::ReaderMutexLock lock(&handle_mu_);
  if (handle_ == nullptr) return NoSessionStatus(context);
  AclVector acl_vector(acl);
  return ZkStatus(zoo_set_acl(handle_, path.c_str(), -1, acl_vector.get()),
                  context);
}

absl::StatusOr<std::vector<OpResult>> ZkClient::Multi(const MultiOps& ops) {
  const size_t n = ops.size();
  if (n == 0) return std::vector<OpResult>();
  const std::string context = absl::StrCat("multi of ", n, " ops");
  KESS_RETURN_IF_ERROR(CheckMultiSize(ops, default_acl_, context));
  // libzookeeper_mt 3.8's zoo_multi frees an uninitialized pointer for
  // every op after one with an invalid path (the process dies), and
  // reports a lone invalid last op as a marshalling error: such a multi is
  // refused here, naming the op, and not sent.
  if (std::optional<size_t> bad = FirstInvalidPath(ops)) {
    return MultiOpFailedStatus(ops, *bad, ZBADARGUMENTS, context);
  }
  std::vector<zoo_op_t> zops(n);
  std::vector<zoo_op_result_t> results(n);
  std::vector<std::unique_ptr<AclVector>> acls(n);
  std::vector<std::string> created(n);
  std::vector<::Stat> stats(n);
  for (size_t i = 0; i < n; ++i) {
    const MultiOps::Op& op = ops.ops()[i];
    std::memset(&results[i], 0, sizeof(results[i]));
    std::memset(&stats[i], 0, sizeof(stats[i]));
    switch (op.type) {
      case MultiOps::Type::kCreate:
        acls[i] =
            std::make_unique<AclVector>(op.acl.empty() ? default_acl_ : op.acl);
        created[i].assign(op.path.size() + 32, '\0');
        zoo_create_op_init(&zops[i], op.path.c_str(), op.data.data(),
                           static_cast<int>(op.data.size()), acls[i]->get(),
                           ToFlags(op.mode), created[i].data(),
                           static_cast<int>(created[i].size()));
        break;
      case MultiOps::Type::kSet:
        zoo_set_op_init(&zops[i], op.path.c_str(), op.data.data(),
                        static_cast<int>(op.data.size()), op.version,
                        &stats[i]);
        break;
      case MultiOps::Type::kDelete:
        zoo_delete_op_init(&zops[i], op.path.c_str(), op.version);
        break;
      case MultiOps::Type::kCheck:
        zoo_check_op_init(&zops[i], op.path.c_str(), op.version);
        break;
    }
  }
  int rc;
  {
    absl::ReaderMutexLock lock(&handle_mu_);
    if (handle_ == nullptr) return NoSessionStatus(context);
    rc = zoo_multi(handle_, static_cast<int>(n), zops.data(), results.data());
  }
  if (rc != ZOK) {
    std::vector<int> op_rcs(n);
    for (size_t i = 0; i < n; ++i) op_rcs[i] = results[i].err;
    return MultiStatus(rc, op_rcs, ops, context);
  }
  std::vector<OpResult> out(n);
  for (size_t i = 0; i < n; ++i) {
    const MultiOps::Type type = ops.ops()[i].type;
    if (type == MultiOps::Type::kCreate) {
      out[i].created_path = created[i].c_str();
    } else if (type == MultiOps::Type::kSet) {
      out[i].stat = ToStat(stats[i]);
    }
  }
  return out;
}

}  // namespace zk
}  // namespace kess
