#include "mandator/mandator.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "mandator/core/leader_write.h"
#include "mandator/core/zk_options.h"
#include "model/names.h"
#include "model/route_table.h"
#include "zk_schema/identities.h"
#include "zk_schema/codec.h"
#include "zk_schema/skeleton.h"
#include "mandator/auth/audited_routes.h"
#include "mandator/auth/secrets.h"
#include "mandator/auth/write_guard.h"
#include "zk_schema/skeleton_acl.h"

namespace kess {
namespace mandator {
namespace {

// A reader client of another DC's ensemble (route collection, partition
// probing, the admin UI's overview); short connect timeout, so an unreachable
// DC is skipped quickly.
absl::StatusOr<std::unique_ptr<zk::ZkApi>> ConnectReader(
    const core::ZkConnector& connect, const std::string& ensemble,
    const zk::KessAuth& auth, absl::Duration session) {
  zk::ZkClientOptions reader =
      core::ReaderClientOptions(ensemble, auth, session);
  reader.connect_timeout = absl::Seconds(2);
  return connect(reader);
}

constexpr absl::Duration kRefreshInterval = absl::Seconds(1);
// The audit log's retention runs every this many refresh intervals.
constexpr int64_t kAuditTrimTicks = 10;
// The published hosts of every instance are re-read this many refresh
// intervals (registration rights, Mandator::RefreshPublishedHosts).
constexpr int64_t kPublishedHostsTicks = 5;

}  // namespace

absl::StatusOr<std::unique_ptr<Mandator>> Mandator::Create(
    MandatorOptions options) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kHost, options.id));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kDatacenter, options.datacenter));
  if (options.zk.empty()) {
    return absl::InvalidArgumentError("no ZooKeeper ensemble given (--zk)");
  }
  if (!options.is_main && options.main_zk.empty()) {
    return absl::InvalidArgumentError(
        "a slave-DC mandator needs the main DC's ensemble (--main_zk)");
  }
  std::unique_ptr<Mandator> m(new Mandator(std::move(options)));
  KESS_RETURN_IF_ERROR(m->Start());
  return m;
}

Mandator::Mandator(MandatorOptions options)
    : options_(std::move(options)),
      connect_(options_.zk_connector
                   ? options_.zk_connector
                   : core::ZkConnector(core::ConnectZooKeeper)) {}

std::string Mandator::http_address() const {
  return absl::StrCat(options_.http_host, ":", server_->port());
}

absl::Status Mandator::Start() {
  KESS_ASSIGN_OR_RETURN(layout_, zk::Layout::Create(options_.zk_root));
  KESS_ASSIGN_OR_RETURN(zk::AclList acl, zk::KessAcl(options_.auth));
  KESS_ASSIGN_OR_RETURN(
      zk::ZkClientOptions zk_options,
      core::MandatorClientOptions(options_.zk, options_.auth,
                                  options_.zk_session_timeout));
  zk_options.connect_timeout = options_.zk_connect_timeout;
  KESS_ASSIGN_OR_RETURN(zk_, connect_(zk_options));
  session_listener_ =
      zk_->AddSessionListener([this](const zk::SessionEvent& e) {
        zk_connected_ = e.type == zk::SessionEvent::kReconnected ||
                        e.type == zk::SessionEvent::kNewSession;
      });

  zk::SchemaInfo info;
  info.set_datacenter(options_.datacenter);
  info.set_is_main(options_.is_main);
  *info.mutable_meta() = zk::MakeMeta("mandator", options_.id);
  KESS_ASSIGN_OR_RETURN(zk::AclList members_acl,
                        zk::DistributorMembersAcl(options_.auth));
  KESS_ASSIGN_OR_RETURN(std::string distributors_dir,
                        layout_.MembersDir(zk::DISTRIBUTOR));
  KESS_RETURN_IF_ERROR(
      zk::EnsureSkeleton(*zk_, layout_, info, options_.changelog_retention, acl,
                         {{distributors_dir, std::move(members_acl)}}));
  // A skeleton node created before the mandators, with an ACL that lets
  // others write it, is refused; one left with an older release's ACL is
  // set to the current one (zk_schema/skeleton_acl.h).
  KESS_ASSIGN_OR_RETURN(zk::SkeletonAclPolicy acl_policy,
                        zk::MandatorSkeletonAclPolicy(options_.auth, layout_));
  KESS_RETURN_IF_ERROR(zk::EnforceSkeletonAcls(
      *zk_, layout_, acl_policy, "mandator", /*repair=*/true,
      options_.registry,
      options_.refuse_foreign_skeleton_acls ? zk::OnForeignAcl::kRefuse
                                            : zk::OnForeignAcl::kWarn));

  core::ConfigStore::Options store_options;
  store_options.layout = layout_;
  store_options.acl = acl;
  store_options.history_limit = options_.history_limit;
  store_options.secret_keys_dir = options_.secret_keys_dir;
  store_options.writer_id = options_.id;
  KESS_ASSIGN_OR_RETURN(store_,
                        core::ConfigStore::Create(zk_.get(), store_options));
  gray_ = std::make_unique<core::GrayStore>(zk_.get(), store_.get());

  core::WriteQueue::Options queue_options;
  queue_options.max_pending = options_.max_pending_writes;
  queue_options.max_writes_per_second = options_.max_writes_per_second;
  queue_options.registry = options_.registry;
  KESS_ASSIGN_OR_RETURN(
      writes_, core::WriteQueue::Create(
                   [this](const core::WriteOp& op) { return CommitWrite(op); },
                   queue_options));

  http::EventHttpServer::Options http;
  http.host = options_.http_host;
  http.port = options_.http_port;
  http.tls = options_.http_tls;
  http.worker_threads = std::max(1, options_.http_threads);
  http.fast_worker_threads = std::max(1, options_.http_health_threads);
  http.max_connections = options_.http_max_connections;
  http.max_connections_per_address = options_.http_max_connections_per_address;
  http.read_timeout = options_.http_header_timeout;
  http.body_timeout = options_.http_body_timeout;
  http.idle_timeout = options_.http_idle_timeout;
  http.max_body_bytes = kMaxRequestBodyBytes;
  // Refused on its Content-Length, before a byte of it is read.
  http.max_body_bytes_by_path["/ui/login"] = ui::kMaxLoginBody;
  http.registry = options_.registry;
  http.health = [this] { return Health(); };
  // Users, tokens and the audit log (auth/; docs/security.md).
  {
    auth::AuditLog::Options audit;
    audit.root = options_.zk_root;
    audit.datacenter = options_.datacenter;
    audit.member_id = options_.id;
    audit.max_records = options_.audit_max_records;
    audit.max_age = options_.audit_max_age;
    audit.registry = options_.registry;
    audit_ = std::make_unique<auth::AuditLog>(zk_.get(), audit);
  }
  peer_secret_ = auth::DerivePeerSecret(options_.peer_secret.empty()
                                            ? options_.auth.mandator.password
                                            : options_.peer_secret);
  if (!options_.admin_secret.empty()) {
    auth::AuthStore::Options users;
    users.root = options_.zk_root;
    users.is_main = options_.is_main;
    users.main_datacenter = options_.main_datacenter;
    auth_store_ = std::make_unique<auth::AuthStore>(zk_.get(), users);
    ui::AdminAuthOptions admin;
    admin.user = options_.admin_user;
    admin.secret = options_.admin_secret;
    admin.session_ttl = options_.admin_session_ttl;
    admin.secure_cookie =
        options_.admin_secure_cookie || options_.http_tls != nullptr;
    admin.throttle = options_.admin_auth_throttle;
    admin.registry = options_.registry;
    admin.store = auth_store_.get();
    admin.peer_secret = peer_secret_;
    admin.on_refused = [this](const HttpRequest& r, const std::string& who,
                              const HttpResponse& answer) {
      audit_->Record(auth::RequestRecord(r, who, "refused", "", answer));
    };
    KESS_ASSIGN_OR_RETURN(admin_auth_, ui::AdminAuth::Create(admin));
    http.admit = [this](const HttpRequest& r) { return admin_auth_->Admit(r); };
  } else {
    // --insecure_dev_mode: no authentication, but cross-site writes are
    // still refused (auth/write_guard.h).
    http.admit = [this](const HttpRequest& r) -> std::optional<HttpResponse> {
      absl::Status ok = auth::CheckWriteRequest(r);
      if (ok.ok()) return std::nullopt;
      HttpResponse answer = HttpResponse::Error(ok);
      audit_->Record(auth::RequestRecord(r, "", "refused", "", answer));
      return answer;
    };
  }
  KESS_ASSIGN_OR_RETURN(server_, http::EventHttpServer::Create(http));

  // Per-principal credentials (docs/security.md): this DC's copy, kept
  // current; the mandators of a slave DC first copy the main DC's.
  credentials_ = std::make_shared<identity::CredentialRegistry>();
  zk::IdentityWatcher::Options identities;
  identities.layout = layout_;
  if (!options_.is_main) {
    identities.after_poll = [this, acl] { MirrorIdentities(acl); };
  }
  identity_watcher_ = std::make_unique<zk::IdentityWatcher>(
      zk_.get(), credentials_, identities);

  scheduler::SchedulerOptions scheduler;
  scheduler.mandator_id = options_.id;
  scheduler.datacenter = options_.datacenter;
  scheduler.host =
      options_.listen_host.empty() ? options_.http_host : options_.listen_host;
  scheduler.port = options_.port;
  scheduler.heartbeat_interval = options_.heartbeat_interval;
  scheduler.registry = options_.registry;
  scheduler.max_connections = options_.transport_max_connections;
  scheduler.max_connections_per_peer =
      options_.transport_max_connections_per_peer;
  scheduler.first_frame_timeout = options_.transport_first_frame_timeout;
  scheduler.tls = options_.tls_server;
  scheduler.require_identity = options_.require_identity;
  scheduler.credentials = credentials_;
  // Where the routes role's last cycle placed an instance (the leader's
  // view; the others have none and skip the check): keeps an instance
  // with its host when a mandator fails over. Set before routes_ and
  // partition_, which outlive the scheduler (see ~Mandator).
  scheduler.published_host =
      [this](const std::string& service,
             const std::string& id) -> std::optional<std::string> {
    std::shared_ptr<const routes::RoutesView> view =
        routes_ != nullptr
            ? routes_->view()
            : (partition_ != nullptr ? partition_->view() : nullptr);
    if (view == nullptr) {
      // Not the leader: the tables as this DC's ZooKeeper last published
      // them (RefreshPublishedHosts).
      std::shared_ptr<const PublishedHosts> published;
      {
        absl::MutexLock lock(&published_mu_);
        published = published_hosts_;
      }
      if (published == nullptr) return std::nullopt;
      auto it = published->find(absl::StrCat(service, "/", id));
      if (it == published->end()) return std::nullopt;
      return it->second;
    }
    auto table = view->tables.find(service);
    if (table == view->tables.end()) return std::nullopt;
    const std::vector<RouteInstance>& instances = table->second.instances;
    auto it = std::lower_bound(
        instances.begin(), instances.end(), id,
        [](const RouteInstance& i, const std::string& v) { return i.id < v; });
    if (it == instances.end() || it->id != id) return std::nullopt;
    return it->host;
  };
  KESS_ASSIGN_OR_RETURN(scheduler_, scheduler::Scheduler::Create(scheduler));

  zk::MemberInfo self;
  self.set_id(options_.id);
  self.set_role(zk::MANDATOR);
  self.set_datacenter(options_.datacenter);
  self.set_address(scheduler_->address());
  self.set_http_address(http_address());
  self.set_started_ms(absl::ToUnixMillis(absl::Now()));
  self.set_pid(getpid());
  KESS_ASSIGN_OR_RETURN(std::string member_path,
                        layout_.MemberPath(zk::MANDATOR, options_.id));
  KESS_ASSIGN_OR_RETURN(
      member_,
      zk::EphemeralNode::Create(zk_.get(), member_path, zk::Encode(self), acl));

  HttpApi::Options api = HttpApi::ForMandator(
      options_.id, options_.datacenter, options_.is_main,
      options_.main_datacenter, store_.get(), gray_.get(),
      [this] { return election_.get(); }, options_.forward_timeout,
      admin_auth_ != nullptr ? "Bearer " + peer_secret_ : "");
  api.principal_of = [this](const HttpRequest& r) { return PrincipalOf(r); };
  api.audit = audit_.get();
  api.https_peers = options_.http_tls != nullptr;
  api.submit = [this](core::WriteOp op) {
    return writes_->Submit(std::move(op), options_.write_timeout);
  };
  api.status = [this] { return Status(); };
  if (options_.is_main) {
    overrides_ =
        std::make_unique<routes::OverrideStore>(zk_.get(), layout_, acl);
    api.set_override = [this](const std::string& service, const std::string& id,
                              std::optional<routes::InstanceOverride> value) {
      return overrides_->Set(service, id, value, election_->node_path());
    };
    Snapshots::Options snapshots;
    snapshots.zk = zk_.get();
    snapshots.configs = store_.get();
    snapshots.gray = gray_.get();
    snapshots.overrides = overrides_.get();
    snapshots.routes.layout = layout_;
    snapshots.routes.acl = acl;
    snapshots.routes.writer_id = options_.id;
    snapshots.datacenter = options_.datacenter;
    snapshots.fence = [this] { return election_->node_path(); };
    snapshots_ = std::make_unique<Snapshots>(std::move(snapshots));
    api.snapshot = [this] { return snapshots_->Take(); };
    api.restore = [this](const std::string& document, int64_t min_revision) {
      return snapshots_->RestoreToJson(document, min_revision);
    };
  }
  api_ = std::make_unique<HttpApi>(std::move(api));
  api_->Register(server_.get());
  IdentityApi::Options identity_api;
  identity_api.zk = zk_.get();
  identity_api.layout = layout_;
  identity_api.acl = acl;
  identity_api.is_main = options_.is_main;
  identity_api.main_datacenter = options_.main_datacenter;
  identity_api_ = std::make_unique<IdentityApi>(std::move(identity_api));
  {
    // Issued and revoked credentials go to the audit log (admin only:
    // auth/access.cc).
    auth::AuditedRoutes audited(
        server_.get(), audit_.get(),
        [this](const HttpRequest& r) { return PrincipalOf(r); }, "identity");
    identity_api_->Register(&audited);
  }
  // Read ACLs (acl_api.h): read here, written by the main DC's leader.
  acl_store_ = std::make_unique<core::AclStore>(
      zk_.get(), core::AclStore::Options{
                     layout_, acl, options_.id,
                     [this] { return store_->min_revision(); }});
  AclApi::Options acl_api;
  acl_api.store = acl_store_.get();
  acl_api.fence = [this] { return election_->node_path(); };
  acl_api.route = [this](const HttpRequest& r,
                         const std::function<HttpResponse()>& commit) {
    return api_->RouteAudited(
        r, r.method == "DELETE" ? "acl.delete" : "acl.put", commit);
  };
  acl_api_ = std::make_unique<AclApi>(std::move(acl_api));
  acl_api_->Register(server_.get());
  // Namespace settings (namespace_api.h): format, JSON Schema, secret.
  NamespaceApi::Options namespace_api;
  namespace_api.store = &store_->namespace_settings();
  namespace_api.route = [this](const HttpRequest& r,
                               const std::function<HttpResponse()>& commit) {
    return api_->RouteAudited(r, "namespace.settings", commit);
  };
  namespace_api.author = [this](const HttpRequest& r) {
    std::optional<auth::Principal> p = PrincipalOf(r);
    return p.has_value() ? p->name : std::string();
  };
  namespace_api_ = std::make_unique<NamespaceApi>(std::move(namespace_api));
  namespace_api_->Register(server_.get());
  auth::AuthApi::Options auth_api;
  auth_api.store = auth_store_.get();
  auth_api.audit = audit_.get();
  auth_api.principal_of = [this](const HttpRequest& r) {
    return PrincipalOf(r);
  };
  auth_api_ = std::make_unique<auth::AuthApi>(std::move(auth_api));
  auth_api_->Register(server_.get());
  KESS_RETURN_IF_ERROR(StartRoutes(acl));
  StartAdmin();

  if (!options_.is_main) {
    replication::ReplicationRole::Options role;
    role.main_zk = options_.main_zk;
    role.auth = options_.auth;
    role.session_timeout = options_.zk_session_timeout;
    role.replicator.datacenter = options_.datacenter;
    role.replicator.layout = layout_;
    role.replicator.acl = acl;
    role.replicator.registry = options_.registry;
    role.mirror.auth_dir = options_.zk_root + "/auth";
    role.mirror.audit_dir = options_.zk_root + "/audit";
    role.mirror.audit_max_records = options_.audit_max_records;
    role.mirror.registry = options_.registry;
    role.connect = connect_;
    replication_ =
        std::make_unique<replication::ReplicationRole>(zk_.get(), role);

    partition::PartitionRole::Options partition;
    partition.self_id = options_.id;
    partition.datacenter = options_.datacenter;
    partition.layout = layout_;
    partition.acl = acl;
    partition.fence = [this] { return election_->node_path(); };
    const zk::KessAuth auth = options_.auth;
    const std::string main_zk = options_.main_zk;
    const absl::Duration session = options_.zk_session_timeout;
    partition.connect_main = [connect = connect_, auth, main_zk, session] {
      return ConnectReader(connect, main_zk, auth, session);
    };
    partition.partition_after = options_.partition_after;
    partition.since_main_collected = [this] {
      return scheduler_->SinceCollectedFromAnotherDc();
    };
    partition.heal_after = options_.heal_after;
    partition.check_interval = std::clamp(
        options_.route_cycle, absl::Milliseconds(100), absl::Seconds(1));
    routes::RouteStore::Options store;
    store.layout = layout_;
    store.acl = acl;
    store.writer_id = options_.id;
    partition.overlay = RoutesOptions(store);
    partition.registry = options_.registry;
    partition_ = std::make_unique<partition::PartitionRole>(
        zk_.get(), replication_.get(), std::move(partition));
  }

  metrics::Registry* registry = options_.registry;
  revision_gauge_ = registry->GetGauge(
      "kess_mandator_revision",
      "The global revision in this DC's ZooKeeper, as last read.");
  registry->SetCallbackGauge(
      "kess_mandator_is_leader", "1 while this mandator leads its DC.", {},
      [this] { return election_ != nullptr && election_->IsLeader() ? 1 : 0; });
  elections_won_ = registry->GetCounter(
      "kess_mandator_elections_won_total",
      "Times this mandator became its DC's leader (leader flapping shows as "
      "a fast rise across a DC's mandators).");
  registry->SetCallbackGauge(
      "kess_mandator_zookeeper_connected",
      "1 while the ZooKeeper session of this DC is connected.", {},
      [this] { return zk_connected_ ? 1 : 0; });

  core::LeaderElection::Options election;
  election.layout = layout_;
  election.self = self;
  election.acl = acl;
  election.connection_grace = options_.zk_session_timeout;
  election.on_elected = [this] { OnElected(); };
  election.on_demoted = [this] { OnDemoted(); };
  KESS_ASSIGN_OR_RETURN(election_,
                        core::LeaderElection::Create(zk_.get(), election));

  KESS_RETURN_IF_ERROR(server_->Start());
  refresher_ = std::thread([this] { RefreshLoop(); });
  LOG(INFO) << "mandator " << options_.id << " of "
            << (options_.is_main ? "main" : "slave") << " datacenter "
            << options_.datacenter << " serving on " << http_address()
            << ", heartbeats on " << scheduler_->address();
  return absl::OkStatus();
}

Mandator::~Mandator() {
  if (refresher_.joinable()) {
    {
      absl::MutexLock lock(&refresh_mu_);
      stop_refresh_ = true;
    }
    refresher_.join();
  }
  identity_watcher_.reset();  // its thread mirrors through the reader
  main_identities_reader_.reset();
  if (server_ != nullptr) server_->Stop();
  // The roles' threads read election_ (their fence) until they stop, and
  // election_.reset() nulls it before the demotion stops them: stop them
  // first (OnDemoted stops them again, which is a no-op). The partition
  // role reads the scheduler: it stops before the scheduler goes.
  if (routes_ != nullptr) routes_->Stop();
  if (partition_ != nullptr) partition_->Stop();
  scheduler_.reset();
  // The write queue's thread reads election_ too (CommitWrite's fence); the
  // HTTP server is stopped, so nothing new arrives: fail what is queued and
  // join the thread first.
  writes_.reset();
  election_.reset();  // demotes (stops replication)
  if (options_.registry != nullptr) {
    options_.registry->RemoveCallbackGauge("kess_mandator_is_leader", {});
    options_.registry->RemoveCallbackGauge("kess_mandator_zookeeper_connected",
                                           {});
  }
  partition_.reset();
  replication_.reset();
  routes_.reset();
  member_.reset();
  if (zk_ != nullptr && session_listener_ != 0) {
    zk_->RemoveSessionListener(session_listener_);
  }
}

absl::StatusOr<core::CommitResult> Mandator::CommitWrite(
    const core::WriteOp& op) {
  const bool leads = options_.is_main && election_->IsLeader();
  absl::StatusOr<core::CommitResult> result = core::CommitLeaderWrite(
      op, leads ? election_->node_path() : "", store_.get(), gray_.get());
  if (result.ok()) revision_gauge_->Set(static_cast<double>(result->revision));
  return result;
}

routes::RoutesRole::Options Mandator::RoutesOptions(
    const routes::RouteStore::Options& store) {
  routes::RoutesRole::Options role;
  role.self_id = options_.id;
  role.datacenter = options_.datacenter;
  role.layout = layout_;
  role.other_datacenters = options_.other_datacenters;
  const zk::KessAuth auth = options_.auth;
  const absl::Duration session = options_.zk_session_timeout;
  role.connect = [connect = connect_, auth,
                  session](const std::string& ensemble) {
    return ConnectReader(connect, ensemble, auth, session);
  };
  role.fence = [this] { return election_->node_path(); };
  if (overrides_ != nullptr) {
    role.overrides = [this] { return overrides_->Current(); };
  }
  role.cycle = options_.route_cycle;
  role.merge.instance_timeout = options_.instance_timeout;
  role.merge.host_timeout = options_.instance_timeout;
  role.merge.warmup = options_.route_warmup;
  role.merge.max_removal_share = options_.max_removal_share;
  role.collector.requester_id = options_.id;
  role.collector.requester_dc = options_.datacenter;
  role.collector.registry = options_.registry;
  role.collector.tls = options_.tls_client;
  role.collector.credential = options_.credential;
  role.writer.window = options_.route_window;
  role.writer.registry = options_.registry;
  role.store = store;
  role.registry = options_.registry;
  return role;
}

absl::Status Mandator::StartRoutes(const zk::AclList& acl) {
  routes::RouteStore::Options store;
  store.layout = layout_;
  store.acl = acl;
  store.writer_id = options_.id;
  route_store_ = std::make_unique<routes::RouteStore>(zk_.get(), store);
  if (options_.is_main) {
    routes::RoutesRole::Options role = RoutesOptions(store);
    if (!options_.other_datacenters.empty()) {
      overlay_heal_ =
          std::make_unique<partition::OverlayHeal>(layout_, options_.registry);
      role.before_write = [this](const routes::CycleContext& context) {
        return overlay_heal_->BeforeWrite(context);
      };
    }
    routes_ = std::make_unique<routes::RoutesRole>(zk_.get(), role);
  }
  routes::RoutesHttp::Options http;
  http.store = route_store_.get();
  http.view = [this]() -> std::shared_ptr<const routes::RoutesView> {
    if (routes_ != nullptr) return routes_->view();
    return partition_ != nullptr ? partition_->view() : nullptr;
  };
  routes_http_ = std::make_unique<routes::RoutesHttp>(http);
  routes_http_->Register(server_.get());
  return absl::OkStatus();
}

void Mandator::StartAdmin() {
  ui::ClusterView::Options view;
  view.self_id = options_.id;
  view.datacenter = options_.datacenter;
  view.is_main = options_.is_main;
  view.zk = options_.zk;
  view.local = zk_.get();
  view.layout = layout_;
  view.other_datacenters = options_.other_datacenters;
  if (!options_.is_main) {
    view.other_datacenters = {
        {options_.main_datacenter.empty() ? "main" : options_.main_datacenter,
         options_.main_zk}};
  }
  const zk::KessAuth auth = options_.auth;
  const absl::Duration session = options_.zk_session_timeout;
  view.connect = [connect = connect_, auth,
                  session](const std::string& ensemble) {
    return ConnectReader(connect, ensemble, auth, session);
  };
  view.https_peers = options_.http_tls != nullptr;
  view.self_status_json = [this] { return StatusToJson(Status()); };
  view.local_hosts = [this] { return scheduler_->table().Hosts(); };
  if (admin_auth_ != nullptr) {
    view.authorization = "Bearer " + peer_secret_;
    admin_ui_ = std::make_unique<ui::AdminUi>(admin_auth_.get());
    admin_ui_->Register(server_.get());
  }
  cluster_view_ = std::make_unique<ui::ClusterView>(std::move(view));
  cluster_view_->Register(server_.get());
}

void Mandator::OnElected() {
  elections_won_->Increment();
  if (!options_.is_main) partition_->Start();
  if (routes_ != nullptr) routes_->Start();
}

void Mandator::OnDemoted() {
  if (routes_ != nullptr) routes_->Stop();
  // A later leadership reads them again (another leader may change them).
  if (overrides_ != nullptr) overrides_->Invalidate();
  if (!options_.is_main) {
    partition_->Stop();
    return;
  }
  if (writes_ == nullptr) return;  // shutting down
  writes_->FailPending(absl::UnavailableError(
      "this mandator lost the leadership before the write was committed; "
      "nothing was written, retry against the new leader"));
}

absl::Status Mandator::Health() const {
  if (!zk_connected_) {
    return absl::UnavailableError(absl::StrCat(
        "ZooKeeper session with ", options_.zk, " is not connected"));
  }
  return absl::OkStatus();
}

StatusInfo Mandator::Status() {
  StatusInfo s;
  s.datacenter = options_.datacenter;
  s.is_main = options_.is_main;
  s.member_id = options_.id;
  s.is_leader = election_->IsLeader();
  s.zookeeper = zk_connected_ ? "connected" : "disconnected";
  s.zk_session_id = zk_->session_id();
  absl::StatusOr<std::optional<zk::MemberInfo>> leader =
      election_->CurrentLeader();
  if (leader.ok()) s.leader = *leader;
  absl::StatusOr<int64_t> revision = store_->Revision();
  if (revision.ok()) {
    s.revision = *revision;
    revision_gauge_->Set(static_cast<double>(*revision));
  } else {
    s.zookeeper = absl::StrCat("error: ", revision.status().message());
  }
  if (partition_ != nullptr && s.is_leader) {
    s.partition_mode = partition::PartitionRole::ModeName(partition_->mode());
  }
  if (replication_ != nullptr) {
    std::optional<replication::Replicator::Progress> progress =
        replication_->progress();
    if (progress.has_value()) {
      s.main_revision = progress->main_revision;
      s.main_contacts = progress->main_contacts;
      if (progress->local_revision >= progress->main_revision) {
        s.replication_lag_seconds = 0;
      } else if (progress->last_applied != absl::Time()) {
        s.replication_lag_seconds =
            absl::ToDoubleSeconds(MonotonicNow() - progress->last_applied);
      }
    }
  }
  return s;
}

std::optional<auth::Principal> Mandator::PrincipalOf(const HttpRequest& r) {
  if (admin_auth_ != nullptr) return admin_auth_->PrincipalOf(r);
  auth::Principal anonymous;  // --insecure_dev_mode
  anonymous.kind = auth::PrincipalKind::kAnonymous;
  anonymous.name = "anonymous";
  anonymous.role = auth::Role::kAdmin;
  return anonymous;
}

void Mandator::RefreshLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&refresh_mu_);
      if (AwaitWithSteadyTimeout(&refresh_mu_, absl::Condition(&stop_refresh_),
                                 kRefreshInterval)) {
        return;
      }
    }
    if (!zk_connected_) continue;
    absl::StatusOr<int64_t> revision = store_->Revision();
    if (revision.ok()) revision_gauge_->Set(static_cast<double>(*revision));
    // A revoked token stops working here within one interval of reaching
    // this DC's ZooKeeper.
    if (auth_store_ != nullptr) {
      absl::Status refreshed = auth_store_->Refresh();
      if (!refreshed.ok()) {
        LOG_EVERY_N(WARNING, 60) << "users and tokens: " << refreshed;
      }
    }
    if (options_.require_identity &&
        ++published_ticks_ % kPublishedHostsTicks == 1) {
      RefreshPublishedHosts();
    }
    // Each DC's leader applies the audit log's retention.
    if (++audit_trim_ticks_ % kAuditTrimTicks == 0 && election_ != nullptr &&
        election_->IsLeader()) {
      absl::StatusOr<size_t> trimmed = audit_->Trim();
      if (!trimmed.ok()) LOG(WARNING) << "audit retention: " << trimmed.status();
    }
  }
}

void Mandator::RefreshPublishedHosts() {
  if (route_store_ == nullptr) return;
  absl::StatusOr<routes::RouteTables> tables = route_store_->LoadAll();
  if (!tables.ok()) {
    LOG_EVERY_N(WARNING, 60) << "registration rights: reading the published "
                                "route tables: "
                             << tables.status();
    return;
  }
  auto published = std::make_shared<PublishedHosts>();
  for (const auto& [service, table] : *tables) {
    for (const RouteInstance& instance : table.instances) {
      (*published)[absl::StrCat(service, "/", instance.id)] = instance.host;
    }
  }
  absl::MutexLock lock(&published_mu_);
  published_hosts_ = std::move(published);
}

void Mandator::MirrorIdentities(const zk::AclList& acl) {
  if (main_identities_reader_ == nullptr) {
    absl::StatusOr<std::unique_ptr<zk::ZkApi>> reader = ConnectReader(
        connect_, options_.main_zk, options_.auth, options_.zk_session_timeout);
    if (!reader.ok()) {
      LOG_EVERY_N(WARNING, 60) << "identities: cannot reach the main DC's "
                                  "ZooKeeper to copy its credentials: "
                               << reader.status();
      return;
    }
    main_identities_reader_ = std::move(reader).value();
  }
  absl::StatusOr<std::optional<zk::Stat>> stat =
      main_identities_reader_->Exists(zk::IdentitiesDir(layout_));
  if (!stat.ok()) return;  // unreachable for now; the next poll retries
  const int32_t cversion = stat->has_value() ? (*stat)->cversion : -1;
  if (cversion == mirrored_identities_cversion_) return;
  absl::StatusOr<int> changed =
      zk::MirrorIdentities(*main_identities_reader_, *zk_, layout_, acl);
  if (!changed.ok()) {
    LOG_EVERY_N(WARNING, 60) << "identities: copying the main DC's "
                                "credentials: "
                             << changed.status();
    return;
  }
  mirrored_identities_cversion_ = cversion;
  if (*changed > 0) {
    LOG(INFO) << "identities: copied " << *changed
              << " credential change(s) from the main DC";
  }
}

}  // namespace mandator
}  // namespace kess
