// The mandator daemon. See README.md for the roles and flags; a config file
// is a gflags flag file (--flagfile=/etc/kess/mandator.flags).
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/init.h"
#include "common/dev_mode_flag.h"
#include "common/identity/credential.h"
#include "common/tls/tls_flags.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/mandator.h"
#include "mandator/ui/admin_auth.h"
#include "zk_schema/kess_auth.h"

DEFINE_string(id, "", "This mandator's id, unique within its datacenter.");
DEFINE_string(dc, "", "This mandator's datacenter.");
DEFINE_string(zk, "", "This datacenter's ZooKeeper ensemble, host:port,...");
DEFINE_bool(main, false, "This datacenter is the main one (takes writes).");
DEFINE_string(main_zk, "",
              "Slave datacenters: the main datacenter's ZooKeeper ensemble.");
DEFINE_string(main_dc, "",
              "Slave datacenters: the main datacenter's name (for messages).");
DEFINE_string(http_host, "127.0.0.1", "Address of the HTTP API.");
DEFINE_int32(http_port, 7100, "Port of the HTTP API (0 = any free port).");
DEFINE_int32(http_threads, 16,
             "Threads running the HTTP API's handlers (a write forwarded to "
             "the leader or the UI's overview holds one while it waits).");
DEFINE_int32(http_health_threads, 2,
             "Threads of their own for GET /healthz and /metrics, so that "
             "busy API handlers do not delay health checks.");
DEFINE_uint64(http_max_connections, 10000,
              "HTTP connections open at once; more get 503 at accept.");
DEFINE_uint64(http_max_connections_per_address, 64,
              "HTTP connections open at once from one client IP address; "
              "more get 503 at accept (0 = unlimited).");
DEFINE_int32(http_header_timeout_ms, 10000,
             "An HTTP request's line and headers must be in within this "
             "(from accept for a connection's first request), however the "
             "bytes trickle in; else 408 and close.");
DEFINE_int32(http_body_timeout_ms, 30000,
             "An HTTP request's body must be in within this after its "
             "headers; else 408 and close.");
DEFINE_int32(http_idle_timeout_ms, 60000,
             "Close a kept-alive HTTP connection idle this long.");
DEFINE_string(listen_host, "",
              "Address of the heartbeat (scheduler) transport; empty = "
              "--http_host. Published to ZooKeeper: peers must reach it.");
DEFINE_int32(port, 7200,
             "Port of the heartbeat (scheduler) transport: providers, agents "
             "and the leader's collector (0 = any free port).");
DEFINE_int32(heartbeat_interval_ms, 5000,
             "Interval providers are told to heartbeat at; silence for 10 "
             "intervals forgets an instance from memory.");
DEFINE_uint64(transport_max_connections, 100000,
              "Connections open at once on the heartbeat transport; more are "
              "closed at accept (0 = unlimited).");
DEFINE_uint64(transport_max_connections_per_peer, 64,
              "Connections open at once on the heartbeat transport from one "
              "IP address (0 = unlimited).");
DEFINE_int64(transport_first_frame_timeout_ms, 10000,
             "Close a heartbeat-transport connection that sends no complete "
             "frame this long after accept (0 = off).");
DEFINE_string(credential_file, "",
              "This mandator's credential (kessctl identity issue "
              "--kind=mandator), presented when it collects the other "
              "mandators' partial tables; without it, its certificate must "
              "name it (kess://mandator/<dc>/<id>, mutual TLS).");
DEFINE_string(zk_root, "/kess", "Root of the kess tree in ZooKeeper.");
DEFINE_string(zk_auth_file, "",
              "File with the ZooKeeper digest users, one per line: "
              "mandator:<password> and reader:<password>. Required.");
DEFINE_int32(zk_session_timeout_ms, 10000, "ZooKeeper session timeout.");
DEFINE_int32(history_limit, 20, "Versions kept per config key.");
DEFINE_string(secret_keys_dir, "/etc/kess/keys",
              "Key rings of secret namespaces, <dir>/<namespace>.key (mode "
              "0600; docs/security.md, \"Encrypted values\").");
DEFINE_int32(changelog_retention, 10000,
             "Change records kept in ZooKeeper (at most 30000).");
DEFINE_double(max_writes_per_second, 2000,
              "Commits per second the leader issues at most.");
DEFINE_int32(max_pending_writes, 10000,
             "Writes that may wait for the leader; more get HTTP 429.");
DEFINE_int32(write_timeout_ms, 10000,
             "How long a write may wait in the leader's queue.");

DEFINE_string(other_dcs, "",
              "Main datacenter: the other datacenters whose mandators the "
              "leader collects partial tables from, as "
              "dc2=host:port,host:port;dc3=host:port (their ZooKeeper "
              "ensembles, read as user reader).");
DEFINE_int32(route_cycle_ms, 1000,
             "How often the main leader rebuilds the global route table.");
DEFINE_int32(route_window_ms, 1000,
             "Coalescing window: at most one route-table write per service "
             "per window.");
DEFINE_int32(instance_timeout_ms, 15000,
             "An instance (or host) not heard from for this long is stale.");
DEFINE_int32(route_warmup_ms, 15000,
             "No instance is degraded before the leader and every mandator "
             "of its datacenter have been up (and settled) this long.");
DEFINE_int32(partition_after_ms, 0,
             "Slave datacenter: enter partition mode (build this DC's own "
             "route overlay) after the main datacenter has been unreachable "
             "this long; 0 = never. Needs --other_dcs on the main "
             "datacenter's mandators (they heal the overlay).");
DEFINE_int32(heal_after_ms, 60000,
             "Slave datacenter: leave partition mode after the main "
             "datacenter has been reachable again this long.");
DEFINE_double(max_removal_share, 1.0 / 3,
              "At most this share of a service's instances is removed per "
              "cycle for lost heartbeats (at least one; never the last).");

DEFINE_string(admin_password_file, "",
              "Required (unless --insecure_dev_mode): the bootstrap admin's "
              "password (user --admin_user; also accepted as a Bearer "
              "token), the same on every mandator. Other users and API "
              "tokens with roles are created through the API "
              "(docs/security.md). A secret that is empty, short (<12) or a "
              "known default refuses to start.");
DEFINE_string(admin_user, "admin",
              "The bootstrap admin's user name (its password: "
              "--admin_password_file).");
DEFINE_string(peer_token_file, "",
              "Key of the credential mandators present to each other "
              "(forwarded writes, the UI's overview); the same on every "
              "mandator of every DC. Empty: derived from the ZooKeeper "
              "password of user mandator (--zk_auth_file), which is enough "
              "when every DC uses the same one. Never the admin secret.");
DEFINE_int64(audit_max_records, 10000,
             "Audit records kept per DC, at most 20000 (the oldest are "
             "deleted first).");
DEFINE_int32(audit_max_age_days, 90, "Audit records older than this are "
             "deleted.");
DEFINE_int32(admin_session_ttl_s, 8 * 3600,
             "How long a UI login lasts, in seconds.");
DEFINE_bool(admin_secure_cookie, false,
            "Mark the session cookie Secure (behind a TLS proxy).");
DEFINE_int32(admin_auth_burst, 5,
             "Wrong logins / Bearer tokens one client address may send at "
             "once before it is answered 429 (Retry-After).");
DEFINE_int32(admin_auth_refill_ms, 1000,
             "After the burst, one more wrong login / Bearer token per "
             "client address every this many milliseconds.");
DEFINE_int32(admin_auth_max_addresses, 10000,
             "Client addresses whose failures are remembered (the least "
             "recently failing one is forgotten first).");

namespace {

// "dc2=h:p,h:p;dc3=h:p" -> {dc2: "h:p,h:p", dc3: "h:p"}.
std::map<std::string, std::string> ParseOtherDcs(const std::string& flag) {
  std::map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(flag, ';', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
    if (kv.first.empty() || kv.second.empty()) {
      LOG(ERROR) << "ignoring malformed --other_dcs entry: " << part;
      continue;
    }
    out[kv.first] = kv.second;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "mandator --id=m1 --dc=dc1 --main --zk=host:2181 "
                    "--zk_auth_file=/etc/kess/zk.auth");
  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);  // not a stop: the TLS files are loaded again
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  absl::StatusOr<kess::zk::KessAuth> auth =
      kess::zk::LoadKessAuthFile(FLAGS_zk_auth_file);
  if (!auth.ok()) {
    LOG(ERROR) << "refusing to start: " << auth.status();
    return EXIT_FAILURE;
  }
  std::string admin_secret;
  if (!FLAGS_admin_password_file.empty()) {
    absl::StatusOr<std::string> secret =
        kess::mandator::ui::LoadAdminSecretFile(FLAGS_admin_password_file);
    if (!secret.ok()) {
      LOG(ERROR) << "refusing to start the admin UI: " << secret.status();
      return EXIT_FAILURE;
    }
    admin_secret = *std::move(secret);
  } else if (kess::InsecureDevModeFlag()) {
    LOG(WARNING) << "--insecure_dev_mode without --admin_password_file: no "
                    "admin UI, and the HTTP API takes reads and writes from "
                    "anyone (cross-site writes are still refused; never in "
                    "production)";
  } else {
    LOG(ERROR) << "refusing to start: no --admin_password_file (the "
                  "bootstrap admin's password: docs/operations.md, "
                  "\"Admin users and tokens\"); --insecure_dev_mode runs "
                  "without authentication for development only";
    return EXIT_FAILURE;
  }
  std::string peer_key;
  if (!FLAGS_peer_token_file.empty()) {
    absl::StatusOr<std::string> key =
        kess::mandator::ui::LoadAdminSecretFile(FLAGS_peer_token_file);
    if (!key.ok()) {
      LOG(ERROR) << "refusing to start: --peer_token_file: " << key.status();
      return EXIT_FAILURE;
    }
    peer_key = *std::move(key);
  }
  kess::mandator::MandatorOptions options;
  options.admin_secret = std::move(admin_secret);
  options.admin_user = FLAGS_admin_user;
  options.peer_secret = std::move(peer_key);
  options.audit_max_records =
      static_cast<size_t>(std::clamp<int64_t>(FLAGS_audit_max_records, 1,
                                              kess::mandator::auth::kMaxAuditRecords));
  options.audit_max_age = absl::Hours(std::max(1, FLAGS_audit_max_age_days) * 24);
  options.admin_session_ttl = absl::Seconds(FLAGS_admin_session_ttl_s);
  options.admin_secure_cookie = FLAGS_admin_secure_cookie;
  options.admin_auth_throttle.burst = std::max(1, FLAGS_admin_auth_burst);
  options.admin_auth_throttle.refill =
      absl::Milliseconds(std::max(1, FLAGS_admin_auth_refill_ms));
  options.admin_auth_throttle.max_addresses =
      static_cast<size_t>(std::max(1, FLAGS_admin_auth_max_addresses));
  options.id = FLAGS_id;
  options.datacenter = FLAGS_dc;
  options.is_main = FLAGS_main;
  options.zk = FLAGS_zk;
  options.main_zk = FLAGS_main_zk;
  options.main_datacenter = FLAGS_main_dc;
  options.http_host = FLAGS_http_host;
  options.http_port = FLAGS_http_port;
  options.http_threads = std::max(1, FLAGS_http_threads);
  options.http_health_threads = std::max(1, FLAGS_http_health_threads);
  options.http_max_connections =
      static_cast<size_t>(std::max<uint64_t>(1, FLAGS_http_max_connections));
  options.http_max_connections_per_address =
      FLAGS_http_max_connections_per_address;
  options.http_header_timeout =
      absl::Milliseconds(std::max(1, FLAGS_http_header_timeout_ms));
  options.http_body_timeout =
      absl::Milliseconds(std::max(1, FLAGS_http_body_timeout_ms));
  options.http_idle_timeout =
      absl::Milliseconds(std::max(1, FLAGS_http_idle_timeout_ms));
  options.listen_host = FLAGS_listen_host;
  options.port = FLAGS_port;
  kess::tls::TransportTls transport_tls;
  {
    absl::StatusOr<kess::tls::TransportTls> tls =
        kess::tls::TlsFromFlags("mandator", /*server=*/true, /*client=*/true);
    if (!tls.ok()) {
      LOG(ERROR) << tls.status();
      return 2;
    }
    options.tls_server = tls->server;
    options.tls_client = tls->client;
    // HTTPS whenever the transport runs TLS (--insecure_plaintext: plain);
    // calls to the other mandators verify them with --tls_ca.
    options.http_tls = tls->http_server;
    if (!tls->ca_file.empty()) kess::SetDefaultHttpsCaFile(tls->ca_file);
    transport_tls = *tls;
  }
  // Registration rights (docs/security.md): on unless --insecure_dev_mode.
  options.require_identity = !kess::InsecureDevModeFlag();
  // A squatted ZooKeeper skeleton (docs/operations.md, "ZooKeeper ACLs of
  // the tree"): refused unless --insecure_dev_mode.
  options.refuse_foreign_skeleton_acls = !kess::InsecureDevModeFlag();
  if (!options.require_identity) {
    LOG(WARNING) << "--insecure_dev_mode: the scheduler port accepts "
                    "registrations, heartbeats and partial-table reads "
                    "from peers without an identity (never in production)";
  }
  if (!FLAGS_credential_file.empty()) {
    absl::StatusOr<kess::identity::CredentialFile> credential =
        kess::identity::ReadCredentialFile(FLAGS_credential_file);
    if (!credential.ok()) {
      LOG(ERROR) << "--credential_file: " << credential.status();
      return 2;
    }
    options.credential =
        std::make_shared<kess::identity::CredentialFile>(*credential);
  }
  options.heartbeat_interval = absl::Milliseconds(FLAGS_heartbeat_interval_ms);
  options.transport_max_connections = FLAGS_transport_max_connections;
  options.transport_max_connections_per_peer =
      FLAGS_transport_max_connections_per_peer;
  options.transport_first_frame_timeout =
      absl::Milliseconds(FLAGS_transport_first_frame_timeout_ms);
  options.zk_root = FLAGS_zk_root;
  options.auth = *std::move(auth);
  options.zk_session_timeout = absl::Milliseconds(FLAGS_zk_session_timeout_ms);
  options.history_limit = FLAGS_history_limit;
  options.secret_keys_dir = FLAGS_secret_keys_dir;
  options.changelog_retention = FLAGS_changelog_retention;
  options.max_writes_per_second = FLAGS_max_writes_per_second;
  options.max_pending_writes =
      static_cast<size_t>(std::max(1, FLAGS_max_pending_writes));
  options.write_timeout = absl::Milliseconds(FLAGS_write_timeout_ms);

  options.other_datacenters = ParseOtherDcs(FLAGS_other_dcs);
  options.route_cycle = absl::Milliseconds(FLAGS_route_cycle_ms);
  options.route_window = absl::Milliseconds(FLAGS_route_window_ms);
  options.instance_timeout = absl::Milliseconds(FLAGS_instance_timeout_ms);
  options.route_warmup = absl::Milliseconds(FLAGS_route_warmup_ms);
  options.max_removal_share = FLAGS_max_removal_share;
  options.partition_after = absl::Milliseconds(FLAGS_partition_after_ms);
  options.heal_after = absl::Milliseconds(FLAGS_heal_after_ms);

  absl::StatusOr<std::unique_ptr<kess::mandator::Mandator>> mandator =
      kess::mandator::Mandator::Create(options);
  if (!mandator.ok()) {
    LOG(ERROR) << "mandator failed to start: " << mandator.status();
    return EXIT_FAILURE;
  }
  // Tests and scripts wait for this line.
  LOG(INFO) << "mandator ready on " << (*mandator)->http_address()
            << " (heartbeats on " << (*mandator)->address() << ")";
  int signal_number = 0;
  while (sigwait(&stop, &signal_number) == 0 && signal_number == SIGHUP) {
    kess::tls::ReloadTransportTls(transport_tls);
  }
  LOG(INFO) << "signal " << signal_number << ": shutting down";
  mandator->reset();
  return EXIT_SUCCESS;
}
