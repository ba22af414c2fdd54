#include "distributor/distributor.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "model/names.h"
#include "model/protocol/distribution.pb.h"
#include "common/steady_await.h"
#include "common/transport/close_reason.h"
#include "common/version.h"
#include "glog/logging.h"
#include "zk_schema/codec.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/skeleton_acl.h"

namespace kess {
namespace distributor {
namespace {

constexpr char kConnectedAgents[] = "kess_distributor_connected_agents";
// Room for the Frame envelope (id, kind, method name) around a payload.
constexpr size_t kEnvelopeBytes = 1024;

std::string FanoutJson(const FanoutRecord& f) {
  return absl::StrCat("{\"revision\":", f.revision, ",\"changes\":", f.changes,
                      ",\"deliveries\":", f.deliveries, ",\"bytes\":", f.bytes,
                      ",\"started_monotonic_ns\":", f.started_ns,
                      ",\"written_monotonic_ns\":", f.written_ns, "}");
}

}  // namespace

// The reader a connection's principal is (nullopt: anonymous).
static std::optional<zk::Reader> ReaderOf(
    const identity::Principal& principal) {
  if (principal.anonymous() || principal.name.empty()) return std::nullopt;
  return zk::Reader{identity::KindName(principal.kind), principal.name};
}

class Distributor::ServerPusher : public Pusher {
 public:
  void set_server(transport::Server* server) { server_ = server; }
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload,
            std::function<void()> on_written) override {
    absl::Status status = server_->PushMany(connections, kUpdateMethod,
                                            payload, std::move(on_written));
    LOG_IF(ERROR, !status.ok()) << "distributor: push failed: " << status;
  }

 private:
  transport::Server* server_ = nullptr;
};

absl::StatusOr<std::unique_ptr<Distributor>> Distributor::Create(
    DistributorOptions options) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kHost, options.id));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kDatacenter, options.datacenter));
  if (options.zk_connect.empty()) {
    return absl::InvalidArgumentError("no ZooKeeper connect string");
  }
  if (options.follower.max_shrink_fraction < 0 ||
      options.follower.max_shrink_fraction > 1) {
    return absl::InvalidArgumentError("max_shrink_fraction must be in [0, 1]");
  }
  KESS_ASSIGN_OR_RETURN(zk::Layout layout, zk::Layout::Create(options.zk_root));
  std::unique_ptr<Distributor> d(
      new Distributor(std::move(options), std::move(layout)));
  KESS_RETURN_IF_ERROR(d->StartServers());
  d->supervisor_ = std::thread([raw = d.get()] { raw->Supervise(); });
  return d;
}

Distributor::Distributor(DistributorOptions options, zk::Layout layout)
    : options_(std::move(options)),
      layout_(std::move(layout)),
      registry_(options_.registry != nullptr ? options_.registry
                                             : &metrics::Registry::Default()),
      metrics_(registry_) {}

absl::Status Distributor::StartServers() {
  transport::ServerOptions server_options;
  server_options.host = options_.listen_host;
  server_options.port = options_.port;
  server_options.num_loops = options_.server_loops;
  server_options.heartbeat_timeout = options_.heartbeat_timeout;
  server_options.connection.max_send_queue_bytes =
      options_.max_send_queue_bytes;
  server_options.registry = registry_;
  server_options.tls = options_.tls;
  server_options.max_connections = options_.max_connections;
  server_options.max_connections_per_peer = options_.max_connections_per_peer;
  server_options.first_frame_timeout = options_.first_frame_timeout;
  server_options.untrusted_max_frame_bytes = options_.untrusted_max_frame_bytes;
  server_options.trust_timeout = options_.trust_timeout;
  server_options.untrusted_max_requests = options_.untrusted_max_requests;
  // The frame bomb: refused by a pre-scan before a handler parses it. A
  // Known is two elements (itself and its ResourceKey).
  server_options.request_types[kSubscribeMethod] =
      protocol::SubscribeRequest::descriptor();
  server_options.request_types[kPullMethod] =
      protocol::PullRequest::descriptor();
  server_options.request_types[kUnsubscribeMethod] =
      protocol::UnsubscribeRequest::descriptor();
  server_options.request_budget.max_elements =
      2 * options_.max_keys_per_connection + 1024;
  server_options.request_budget.max_depth = 4;
  KESS_RETURN_IF_ERROR(
      transport::ValidateConnectionOptions(server_options.connection));

  HubOptions hub_options;
  hub_options.auth_token = options_.auth_token;
  const size_t max_frame = server_options.connection.max_frame_bytes;
  hub_options.max_payload_bytes = max_frame - kEnvelopeBytes;
  // Half the send queue: an answer fits even with earlier frames queued.
  hub_options.budget_bytes = std::max(hub_options.max_payload_bytes,
                                      options_.max_send_queue_bytes / 2);
  hub_options.max_keys_per_connection = options_.max_keys_per_connection;
  hub_options.route_deltas = options_.follower.route_deltas;
  pusher_ = std::make_unique<ServerPusher>();
  hub_ = std::make_unique<SubscriptionHub>(
      &data_, [this] { return stale(); }, pusher_.get(), hub_options,
      &metrics_);
  ReadGuardOptions guard_options;
  const bool principals =
      options_.tls != nullptr && options_.tls->options().require_client_cert;
  // Without principals every agent is anonymous: enforcing then denies the
  // keys that have an ACL to everyone (fail closed).
  guard_options.access.enforce = principals || !options_.insecure_dev_mode;
  guard_options.claimed_host = !principals;
  guard_options.access.default_deny = options_.acl_default_deny;
  guard_options.max_payload_bytes = hub_options.max_payload_bytes;
  guard_options.budget_bytes = hub_options.budget_bytes;
  guard_options.registry = registry_;
  guard_ = std::make_unique<ReadGuard>(
      &data_, hub_.get(), [this] { return stale(); },
      [this](uint64_t connection, const std::string& payload) {
        absl::Status status = server_->Push(connection, kUpdateMethod, payload);
        LOG_IF(ERROR, !status.ok()) << "distributor: push failed: " << status;
      },
      guard_options);
  if (!guard_options.access.enforce) {
    LOG(WARNING) << "distributor: --insecure_dev_mode and agents are not "
                    "authenticated by client certificates (--tls_client_auth): "
                    "read ACLs are IGNORED, every connection may read every "
                    "namespace and service (docs/security.md, \"Read "
                    "rights\")";
  } else if (!principals) {
    LOG(WARNING) << "distributor: agents are not authenticated by client "
                    "certificates (--tls_client_auth), so every agent is "
                    "anonymous: namespaces and services with a read ACL are "
                    "denied to all (counted in "
                    "kess_distributor_read_denied_total; docs/security.md, "
                    "\"Read rights\")";
  }

  transport::HandlerMap handlers;
  // Trust() right after the hub accepted the token lifts the limits for
  // unauthenticated peers before the connection's next frame is read.
  handlers[kSubscribeMethod] = [this](transport::Request request,
                                      transport::Responder responder) {
    Answer answer = guard_->Subscribe(request.connection_id, request.payload,
                                      ReaderOf(*request.principal));
    if (hub_->Authenticated(request.connection_id)) {
      server_->Trust(request.connection_id);
    }
    Deliver(request.connection_id, std::move(answer), std::move(responder));
  };
  handlers[kPullMethod] = [this](transport::Request request,
                                 transport::Responder responder) {
    Answer answer = guard_->Pull(request.connection_id, request.payload,
                                 ReaderOf(*request.principal));
    if (hub_->Authenticated(request.connection_id)) {
      server_->Trust(request.connection_id);
    }
    Deliver(request.connection_id, std::move(answer), std::move(responder));
  };
  handlers[kUnsubscribeMethod] = [this](transport::Request request,
                                        transport::Responder responder) {
    responder.Respond(
        guard_->Unsubscribe(request.connection_id, request.payload));
  };
  transport::ServerCallbacks callbacks;
  callbacks.on_disconnect = [this](uint64_t connection, const char* reason) {
    OnDisconnect(connection, reason);
  };
  KESS_ASSIGN_OR_RETURN(
      server_, transport::Server::Create(server_options, std::move(handlers),
                                         std::move(callbacks)));
  pusher_->set_server(server_.get());
  transport::Server* server = server_.get();
  registry_->SetCallbackGauge(
      kConnectedAgents, "Agent connections open on the transport", {},
      [server] { return static_cast<double>(server->connection_count()); });

  if (options_.http_port >= 0) {
    http::EventHttpServer::Options http_options;
    http_options.host = options_.listen_host;
    http_options.port = options_.http_port;
    http_options.tls = options_.http_tls;
    http_options.registry = registry_;
    http_options.worker_threads = std::max(1, options_.http_threads);
    http_options.max_connections = options_.http_max_connections;
    http_options.max_connections_per_address =
        options_.http_max_connections_per_address;
    http_options.read_timeout = options_.http_header_timeout;
    http_options.max_body_bytes = 64 << 10;  // GET only
    KESS_ASSIGN_OR_RETURN(http_, http::EventHttpServer::Create(http_options));
    http_->Handle("GET", "/healthz", [this](const HttpRequest&) {
      absl::StatusOr<std::string> health = Health();
      HttpResponse r =
          health.ok() ? HttpResponse::Text(200, *health + "\n")
                      : HttpResponse::Text(
                            503, std::string(health.status().message()) + "\n");
      AddVersionHeaders(&r);
      return r;
    });
    http_->Handle("GET", "/api/v1/status", [this](const HttpRequest&) {
      return HttpResponse::Json(200, StatusJson());
    });
    KESS_RETURN_IF_ERROR(http_->Start());
  }
  if (options_.auth_token.empty()) {
    LOG(WARNING) << "distributor: NO AUTH TOKEN CONFIGURED "
                    "(--auth_token_file): every connection may subscribe to "
                    "every key. Development mode only.";
  }
  LOG(INFO) << "distributor " << options_.id << " (" << options_.datacenter
            << "): agents on " << options_.listen_host << ":" << port()
            << ", http on " << http_port() << "; ZooKeeper "
            << options_.zk_connect << layout_.root();
  return absl::OkStatus();
}

Distributor::~Distributor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (supervisor_.joinable()) supervisor_.join();
  ZkFollower* follower = follower_.load();
  if (follower != nullptr) follower->Stop();  // no more fan-out
  {
    absl::MutexLock lock(&mu_);
    member_.reset();
  }
  if (server_ != nullptr) {
    registry_->RemoveCallbackGauge(kConnectedAgents, {});
    server_.reset();  // no more handlers
  }
  http_.reset();
  follower_ = nullptr;
  absl::MutexLock lock(&mu_);
  follower_owned_.reset();
  zk_.reset();
}

void Distributor::Deliver(uint64_t connection, Answer answer,
                          transport::Responder responder) {
  // The response and its follow-ups are posted to the connection's loop in
  // this order, so they arrive in this order.
  responder.Respond(std::move(answer.response));
  for (const std::string& payload : answer.followups) {
    absl::Status status = server_->Push(connection, kUpdateMethod, payload);
    LOG_IF(ERROR, !status.ok()) << "distributor: push failed: " << status;
  }
}

void Distributor::OnDisconnect(uint64_t connection, const char* reason) {
  guard_->Disconnected(connection);
  const std::string why = reason;
  if (why == transport::close_reason::kSendQueueFull ||
      why == transport::close_reason::kHeartbeatTimeout) {
    metrics_.Dropped(why)->Increment();
    LOG_EVERY_N(WARNING, 20) << "distributor: dropped agent connection "
                             << connection << " (" << why << ")";
  }
}

void Distributor::Supervise() {
  absl::Duration backoff = absl::Milliseconds(100);
  bool have_zk = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    if (!have_zk) {
      zk::ZkClientOptions zk_options;
      zk_options.connect_string = options_.zk_connect;
      zk_options.session_timeout = options_.zk_session_timeout;
      zk_options.connect_timeout = options_.zk_connect_timeout;
      if (options_.zk_credential) {
        zk_options.credentials.push_back(*options_.zk_credential);
      }
      absl::StatusOr<std::unique_ptr<zk::ZkClient>> client =
          zk::ZkClient::Create(zk_options);
      // A tree of a layout version this binary does not understand is not
      // followed (not found: no mandator created the tree yet).
      absl::Status layout_version =
          client.ok() ? zk::CheckStoredSchema(**client, layout_, "distributor",
                                              registry_)
                      : absl::OkStatus();
      // With credentials (a tree protected by ACLs), a tree whose skeleton
      // lets a non-kess identity write is not followed either
      // (zk_schema/skeleton_acl.h).
      if (layout_version.ok() && client.ok() && options_.zk_credential) {
        layout_version = zk::EnforceSkeletonAcls(
            **client, layout_, zk::ReaderSkeletonAclPolicy(layout_),
            "distributor", /*repair=*/false, registry_);
      }
      if (!layout_version.ok() && !absl::IsNotFound(layout_version)) {
        LOG_EVERY_N(ERROR, 20)
            << "distributor: not following ZooKeeper " << options_.zk_connect
            << " (retrying): " << layout_version;
        backoff = absl::Seconds(5);
      } else if (client.ok()) {
        absl::MutexLock lock(&mu_);
        zk_ = *std::move(client);
        follower_owned_ =
            std::make_unique<ZkFollower>(zk_.get(), layout_, &data_,
                                         guard_.get(), &metrics_,
                                         options_.follower);
        follower_owned_->Start();
        follower_ = follower_owned_.get();
        have_zk = true;
      } else {
        LOG_EVERY_N(WARNING, 20)
            << "distributor: cannot connect to ZooKeeper "
            << options_.zk_connect << " (retrying): " << client.status();
        backoff = std::min(backoff * 2, absl::Seconds(5));
      }
    }
    if (have_zk && !options_.register_member) return;
    if (have_zk && data_.loaded()) {
      zk::MemberInfo info;
      info.set_id(options_.id);
      info.set_role(zk::DISTRIBUTOR);
      info.set_datacenter(options_.datacenter);
      info.set_address(absl::StrCat(options_.listen_host, ":", port()));
      if (http_ != nullptr) {
        info.set_http_address(
            absl::StrCat(options_.listen_host, ":", http_port()));
      }
      info.set_started_ms(absl::ToUnixMillis(absl::Now()));
      info.set_pid(getpid());
      zk::AclList acl;
      if (options_.zk_credential) {
        // Read-only for everyone: the node is never changed, and it goes
        // away with this distributor's session (the reader may not delete
        // in the members directory).
        absl::StatusOr<zk::AclList> own =
            zk::DistributorMemberNodeAcl(*options_.zk_credential);
        if (own.ok()) acl = *std::move(own);
      }
      absl::StatusOr<std::string> path =
          layout_.MemberPath(zk::DISTRIBUTOR, options_.id);
      zk::ZkClient* client;
      {
        absl::MutexLock lock(&mu_);
        client = zk_.get();
      }
      absl::StatusOr<std::unique_ptr<zk::EphemeralNode>> node =
          path.ok()
              ? zk::EphemeralNode::Create(
                    client, *path, zk::Encode(info), acl,
                    options_.zk_credential
                        ? zk::EphemeralNode::OnDestroy::kLeaveToSession
                        : zk::EphemeralNode::OnDestroy::kDelete)
              : absl::StatusOr<std::unique_ptr<zk::EphemeralNode>>(
                    path.status());
      if (node.ok()) {
        LOG(INFO) << "distributor: registered as " << *path;
        absl::MutexLock lock(&mu_);
        member_ = *std::move(node);
        return;
      }
      LOG_EVERY_N(WARNING, 20)
          << "distributor: cannot register in ZooKeeper (retrying): "
          << node.status();
      backoff = std::min(backoff * 2, absl::Seconds(5));
    } else if (have_zk) {
      backoff = absl::Milliseconds(100);
    }
    absl::MutexLock lock(&mu_);
    AwaitWithSteadyTimeout(&mu_, absl::Condition(&stopping_), backoff);
  }
}

bool Distributor::stale() const {
  ZkFollower* follower = follower_.load();
  return follower == nullptr || follower->stale();
}

bool Distributor::registered() const {
  absl::MutexLock lock(&mu_);
  return member_ != nullptr;
}

absl::StatusOr<zk::SessionCredentials> Distributor::zk_session() const {
  absl::MutexLock lock(&mu_);
  if (zk_ == nullptr) {
    return absl::FailedPreconditionError("not connected to ZooKeeper yet");
  }
  return zk_->session_credentials();
}

absl::StatusOr<std::string> Distributor::Health() const {
  if (!data_.loaded()) {
    return absl::UnavailableError("not loaded yet: waiting for ZooKeeper");
  }
  ZkFollower* follower = follower_.load();
  if (follower != nullptr && follower->stale()) {
    // Still healthy: it serves its last data; agents should stay.
    return absl::StrCat("ok stale: ", follower->stale_reason());
  }
  return std::string("ok");
}

std::string Distributor::StatusJson() const {
  ZkFollower* follower = follower_.load();
  const bool is_stale = stale();
  std::string reason = follower != nullptr ? follower->stale_reason()
                                           : std::string("not connected");
  int64_t session_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (zk_ != nullptr) session_id = zk_->session_id();
  }
  // Hex, as ZooKeeper prints it (like the mandator's status; tests force
  // the session's expiry with it).
  return absl::StrCat("{\"id\":", JsonQuote(options_.id),
                      ",\"dc\":", JsonQuote(options_.datacenter),
                      ",\"revision\":", data_.revision(), ",\"zk_revision\":",
                      follower != nullptr ? follower->zk_revision() : 0,
                      ",\"loaded\":", data_.loaded() ? "true" : "false",
                      ",\"stale\":", is_stale ? "true" : "false",
                      ",\"stale_reason\":", JsonQuote(is_stale ? reason : ""),
                      ",\"keys\":", data_.live_keys(),
                      ",\"connected_agents\":", server_->connection_count(),
                      ",\"subscribed_agents\":", hub_->subscribed_connections(),
                      ",\"registered\":", registered() ? "true" : "false",
                      ",\"zk_session_id\":\"0x", absl::Hex(session_id), "\",",
                      "\"last_fanout\":", FanoutJson(hub_->last_fanout()), ",",
                      BuildVersionJsonMembers(), "}");
}

}  // namespace distributor
}  // namespace kess
