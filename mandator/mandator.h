// Mandator: one mandator daemon, assembled (the binary's main() only turns
// flags into MandatorOptions).
//
// Create():
//  1. connects to this DC's ZooKeeper as user "mandator" (every node it
//     creates gets KessAcl()), creates the skeleton if missing;
//  2. binds the HTTP server (API of docs/http-api.md, /healthz, /metrics);
//  3. starts its scheduler (scheduler/): the transport server on
//     listen_host:port that providers and agents heartbeat;
//  4. registers itself: ephemeral <root>/members/mandators/<id>, whose
//     MemberInfo.address is the scheduler's (the leader collects partial
//     tables from there);
//  5. joins the DC's leader election.
// Roles follow the election:
//  - main DC leader: takes writes (WriteQueue -> ConfigStore, fenced by its
//    election node); on demotion, waiting writes are refused at once; builds
//    the global route table (routes/RoutesRole);
//  - slave DC leader: replicates the main DC (ReplicationRole), stopped the
//    moment leadership is lost;
//  - everyone else: serves reads, forwards writes to the leader.
//
// Thread-safety: the accessors are thread-safe. Destroying the Mandator
// stops serving, withdraws from the election and deregisters.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http/event_http_server.h"
#include "common/http_server.h"
#include "common/identity/credential.h"
#include "zk_schema/identities.h"
#include "common/metrics.h"
#include "common/status.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/core/leader_election.h"
#include "mandator/core/write_queue.h"
#include "mandator/core/zk_options.h"
#include "mandator/auth/audit_log.h"
#include "mandator/auth/auth_api.h"
#include "mandator/auth/auth_store.h"
#include "mandator/acl_api.h"
#include "mandator/core/acl_store.h"
#include "mandator/http_api.h"
#include "mandator/identity_api.h"
#include "mandator/namespace_api.h"
#include "mandator/snapshot.h"
#include "mandator/partition/overlay_heal.h"
#include "mandator/partition/partition_role.h"
#include "mandator/replication/replication_role.h"
#include "mandator/routes/override_store.h"
#include "mandator/routes/route_store.h"
#include "mandator/routes/routes_http.h"
#include "mandator/routes/routes_role.h"
#include "mandator/scheduler/scheduler.h"
#include "mandator/ui/admin_auth.h"
#include "mandator/ui/admin_ui.h"
#include "mandator/ui/cluster_view.h"
#include "zk_schema/ephemeral_node.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {

struct MandatorOptions {
  std::string id;          // unique within the DC (model/names.h rules)
  std::string datacenter;  // this DC
  bool is_main = false;
  std::string zk;               // this DC's ensemble, "host:port,..."
  std::string main_zk;          // slave DCs: the main DC's ensemble
  std::string main_datacenter;  // slave DCs: for messages; may be ""
  std::string http_host = "127.0.0.1";
  int http_port = 0;  // 0 = any free port (see http_port())
  // The scheduler's transport server; "" = http_host. Published in
  // MemberInfo.address, so it must be an address peers can reach.
  std::string listen_host;
  int port = 0;  // 0 = any free port (see port())
  absl::Duration heartbeat_interval = absl::Seconds(5);  // told to providers
  // The scheduler transport's limits for peers before their first request
  // (scheduler::SchedulerOptions); 0 = unlimited.
  size_t transport_max_connections = 100000;
  size_t transport_max_connections_per_peer = 64;
  absl::Duration transport_first_frame_timeout = absl::Seconds(10);
  // TLS on the scheduler's transport (server) and to the other mandators
  // (client), common/tls/; nullptr: plain TCP (--insecure_plaintext).
  std::shared_ptr<tls::TlsContext> tls_server;
  std::shared_ptr<tls::TlsContext> tls_client;
  // HTTPS for the HTTP API and the admin UI (a server context without
  // client certificates); nullptr: plain HTTP. With it, write forwarding
  // and the UI's calls to other mandators and distributors go over HTTPS
  // too (verified with HttpCall's default CA: the daemon sets --tls_ca),
  // and the session cookie is Secure.
  std::shared_ptr<tls::TlsContext> http_tls;
  // Registration rights on the scheduler port (scheduler_service.h,
  // docs/security.md): who may register, heartbeat, deregister and read
  // partial tables. The daemon turns it off only with --insecure_dev_mode.
  bool require_identity = false;
  // A skeleton node whose ACL lets a non-kess identity write it
  // (zk_schema/skeleton_acl.h): refuse to start, or (--insecure_dev_mode
  // only) count it, log it as an ERROR and start.
  bool refuse_foreign_skeleton_acls = true;
  // This mandator's credential (--credential_file), presented to the other
  // mandators' schedulers when it collects their partial tables; nullptr:
  // its certificate (mutual TLS through tls_client) must name it.
  std::shared_ptr<const identity::CredentialFile> credential;
  std::string zk_root = "/kess";
  zk::KessAuth auth;
  absl::Duration zk_session_timeout = absl::Seconds(10);
  absl::Duration zk_connect_timeout = absl::Seconds(30);
  int history_limit = 20;
  // The key rings of secret namespaces, <dir>/<ns>.key (docs/security.md,
  // "Encrypted values"); needed on every mandator of the main DC.
  std::string secret_keys_dir;
  int changelog_retention = 10000;
  double max_writes_per_second = 2000;
  size_t max_pending_writes = 10000;
  // How long a write may wait in the leader's queue.
  absl::Duration write_timeout = absl::Seconds(10);
  absl::Duration forward_timeout = absl::Seconds(15);
  // The HTTP server (common/http/event_http_server.h): threads for the
  // API's handlers (some block: a write forwarded to the leader, the UI's
  // overview asking the other mandators) and, apart, for /healthz and
  // /metrics; connections open at once, in all and from one client IP
  // address (0 = no cap); the deadline for a request's line and headers
  // (from accept for a connection's first request), for its body, and for
  // an idle kept-alive connection.
  int http_threads = 16;
  int http_health_threads = 2;
  size_t http_max_connections = 10000;
  size_t http_max_connections_per_address = 64;
  absl::Duration http_header_timeout = absl::Seconds(10);
  absl::Duration http_body_timeout = absl::Seconds(30);
  absl::Duration http_idle_timeout = absl::Seconds(60);
  // The global route table (main DC leader, routes/README.md).
  // Other DCs whose mandators the leader collects: DC -> ZooKeeper ensemble.
  std::map<std::string, std::string> other_datacenters;
  absl::Duration route_cycle = absl::Seconds(1);
  absl::Duration route_window = absl::Seconds(1);  // coalescing
  absl::Duration instance_timeout = absl::Seconds(15);
  absl::Duration route_warmup = absl::Seconds(15);
  double max_removal_share = 1.0 / 3;
  // Partition mode (slave DCs; routes/README.md): enter it after the main
  // DC has been unreachable this long (0 = off), leave it after main has
  // been reachable this long. Needs other_datacenters on the main DC.
  absl::Duration partition_after = absl::ZeroDuration();
  absl::Duration heal_after = absl::Seconds(60);
  // The admin UI and authentication (ui/admin_auth.h): with a secret, the
  // UI is served at /ui/ and every API request except /healthz and
  // /metrics needs a session or "Authorization: Bearer <secret>"; empty =
  // no UI and an open API (trusted network only). Create() refuses a weak
  // secret.
  std::string admin_secret;
  std::string admin_user = "admin";
  absl::Duration admin_session_ttl = absl::Hours(8);
  bool admin_secure_cookie = false;
  // Wrong logins and Bearer tokens per client address (ui/auth_throttle.h:
  // 5 at once, then 1 per second; 10,000 addresses kept).
  ui::AuthThrottleOptions admin_auth_throttle;
  // The key of the credential mandators present to each other
  // (auth/secrets.h DerivePeerSecret); "" = the ZooKeeper password of user
  // mandator. Every mandator of every DC must agree (give
  // --peer_token_file when the DCs' ZooKeeper passwords differ).
  std::string peer_secret;
  // The audit log's retention (auth/audit_log.h), applied by each DC's
  // leader (at most 20,000: one ZooKeeper listing of them stays under its
  // 1 MB answer limit).
  size_t audit_max_records = 10000;
  absl::Duration audit_max_age = absl::Hours(24 * 90);
  metrics::Registry* registry = &metrics::Registry::Default();
  // Opens every ZooKeeper client of the daemon (its own DC's as
  // "mandator", other DCs' as "reader"); empty = core::ConnectZooKeeper.
  // Tests pass in-memory clients (mandator/testing/test_util.h).
  core::ZkConnector zk_connector;
};

class Mandator {
 public:
  // Starts everything (see above). Fails if ZooKeeper is unreachable
  // within zk_connect_timeout, the options are invalid, or the port is
  // taken.
  static absl::StatusOr<std::unique_ptr<Mandator>> Create(
      MandatorOptions options);
  ~Mandator();

  Mandator(const Mandator&) = delete;
  Mandator& operator=(const Mandator&) = delete;

  int http_port() const { return server_->port(); }
  std::string http_address() const;
  int port() const { return scheduler_->port(); }  // the scheduler's
  std::string address() const { return scheduler_->address(); }
  bool IsLeader() const { return election_->IsLeader(); }
  StatusInfo Status();

 private:
  explicit Mandator(MandatorOptions options);
  absl::Status Start();
  absl::StatusOr<core::CommitResult> CommitWrite(const core::WriteOp& op);
  absl::Status StartRoutes(const zk::AclList& acl);
  routes::RoutesRole::Options RoutesOptions(
      const routes::RouteStore::Options& store);
  void StartAdmin();  // the UI, /api/v1/cluster, /api/v1/hosts
  // Slave DCs: copies the main DC's credentials into this DC's ensemble
  // when they changed (the identity watcher's thread, after each poll).
  void MirrorIdentities(const zk::AclList& acl);
  // Registration rights away from the leader: re-reads where this DC's
  // published route tables place each instance (the refresher's thread,
  // every few seconds), for the scheduler's published_host.
  void RefreshPublishedHosts();
  void OnElected();
  void OnDemoted();
  absl::Status Health() const;
  void RefreshLoop();
  // The request's principal; the anonymous admin without authentication.
  std::optional<auth::Principal> PrincipalOf(const HttpRequest& request);

  const MandatorOptions options_;
  const core::ZkConnector connect_;
  zk::Layout layout_;
  std::unique_ptr<zk::ZkApi> zk_;
  int64_t session_listener_ = 0;
  std::atomic<bool> zk_connected_{true};
  std::unique_ptr<core::ConfigStore> store_;
  std::unique_ptr<core::GrayStore> gray_;
  std::unique_ptr<core::WriteQueue> writes_;
  std::unique_ptr<http::EventHttpServer> server_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<core::AclStore> acl_store_;
  std::unique_ptr<AclApi> acl_api_;
  std::unique_ptr<NamespaceApi> namespace_api_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::shared_ptr<identity::CredentialRegistry> credentials_;
  std::unique_ptr<zk::IdentityWatcher> identity_watcher_;
  std::unique_ptr<IdentityApi> identity_api_;
  // Slave DCs, on the identity watcher's thread only.
  std::unique_ptr<zk::ZkApi> main_identities_reader_;
  int32_t mirrored_identities_cversion_ = -2;
  // "<service>/<id>" -> host, as last published; nullptr before the first
  // read.
  using PublishedHosts = absl::flat_hash_map<std::string, std::string>;
  absl::Mutex published_mu_;
  std::shared_ptr<const PublishedHosts> published_hosts_
      ABSL_GUARDED_BY(published_mu_);
  int64_t published_ticks_ = 0;  // the refresher's thread
  std::unique_ptr<zk::EphemeralNode> member_;
  std::unique_ptr<replication::ReplicationRole> replication_;  // slave DCs
  std::unique_ptr<partition::PartitionRole> partition_;        // slave DCs
  std::unique_ptr<partition::OverlayHeal> overlay_heal_;       // main DC
  std::unique_ptr<routes::RouteStore> route_store_;            // reads
  std::unique_ptr<routes::RoutesRole> routes_;                 // main DC
  std::unique_ptr<routes::RoutesHttp> routes_http_;
  std::unique_ptr<routes::OverrideStore> overrides_;  // main DC
  std::unique_ptr<Snapshots> snapshots_;              // main DC
  std::unique_ptr<auth::AuditLog> audit_;
  std::unique_ptr<auth::AuthStore> auth_store_;       // with a secret
  std::unique_ptr<auth::AuthApi> auth_api_;
  std::string peer_secret_;                           // "kp_..."
  int64_t audit_trim_ticks_ = 0;                      // RefreshLoop only
  std::unique_ptr<ui::AdminAuth> admin_auth_;         // with a secret
  std::unique_ptr<ui::AdminUi> admin_ui_;
  std::unique_ptr<ui::ClusterView> cluster_view_;
  std::unique_ptr<core::LeaderElection> election_;

  metrics::Gauge* revision_gauge_ = nullptr;
  metrics::Counter* elections_won_ = nullptr;
  absl::Mutex refresh_mu_;
  bool stop_refresh_ ABSL_GUARDED_BY(refresh_mu_) = false;
  std::thread refresher_;
};

}  // namespace mandator
}  // namespace kess
