// kess distributor daemon. See README.md for flags, metrics and guarantees.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "common/dev_mode_flag.h"
#include "common/init.h"
#include "common/tls/tls_flags.h"
#include "distributor/distributor.h"
#include "distributor/secrets.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(id, "", "member id, unique in the DC (a host-style name)");
DEFINE_string(dc, "", "this datacenter's name");
DEFINE_string(zk, "", "ZooKeeper connect string host:port,host:port");
DEFINE_string(zk_root, "/kess", "root of the kess tree in ZooKeeper");
DEFINE_string(zk_auth_file, "",
              "file with a `reader:<password>` line (zk_schema/kess_auth.h "
              "format); empty: no ZooKeeper auth (open ZooKeeper)");
DEFINE_int32(zk_session_timeout_ms, 10000, "ZooKeeper session timeout");
DEFINE_string(listen_host, "127.0.0.1", "address for agents and HTTP");
DEFINE_int32(port, 7200, "agent transport port (0: ephemeral)");
DEFINE_int32(http_port, 7201,
             "HTTP port for /healthz, /metrics, "
             "/api/v1/status (-1: none)");
DEFINE_int32(http_threads, 2,
             "threads answering HTTP requests (/healthz and /metrics have "
             "one of their own besides)");
DEFINE_uint64(http_max_connections, 1000,
              "HTTP connections open at once; more get 503 at accept");
DEFINE_uint64(http_max_connections_per_address, 64,
              "HTTP connections open at once from one client IP address; "
              "more get 503 at accept (0: unlimited)");
DEFINE_int32(http_header_timeout_ms, 10000,
             "an HTTP request's line and headers must be in within this "
             "(from accept for a connection's first request); else 408 and "
             "close");
DEFINE_int32(poll_interval_ms, 5000,
             "poll /kess/revision this often besides the watch");
DEFINE_string(auth_token_file, "",
              "file holding the agents' shared secret; empty: development "
              "mode, every connection is trusted (logged loudly)");
DEFINE_bool(acl_default_deny, false,
            "read rights: a namespace or service without a read ACL is "
            "readable by no agent (default: by every authenticated agent); "
            "only with --tls_client_auth (docs/security.md, Read rights)");
DEFINE_uint64(max_send_queue_bytes, 2 * kess::transport::kDefaultMaxFrameBytes,
              "per-agent send queue bound; an agent that lets it fill up is "
              "dropped (at least one max frame)");
DEFINE_int32(server_loops, 2, "transport event-loop threads");
DEFINE_int64(heartbeat_timeout_ms, 15000,
             "close an agent connection silent for this long");
DEFINE_double(max_shrink_fraction, 0.25,
              "refuse a full reload that would remove more than this share "
              "of the keys (or all of them)");
DEFINE_uint64(max_keys_per_connection, 100000, "subscription limit per agent");
DEFINE_bool(route_deltas, true,
            "build route tables from the change records' deltas and send "
            "deltas to agents that ask for them (docs/route-table.md, "
            "\"Deltas\"); false: read and send every table whole");
DEFINE_uint64(max_connections, 100000,
              "agent connections open at once; more are closed at accept "
              "(0: unlimited)");
DEFINE_uint64(max_connections_per_peer, 64,
              "agent connections open at once from one IP address "
              "(0: unlimited)");
DEFINE_int64(first_frame_timeout_ms, 10000,
             "close a connection that sends no complete frame this long "
             "after accept (0: off)");
DEFINE_uint64(untrusted_max_frame_bytes,
              kess::transport::kDefaultUntrustedMaxFrameBytes,
              "largest frame before the connection authenticated");
DEFINE_int64(trust_timeout_ms, 30000,
             "close a connection that has not authenticated this long after "
             "accept (0: off)");
DEFINE_uint64(untrusted_max_requests, 4,
              "requests a connection may send before it authenticated; one "
              "more closes it (0: unlimited)");
DEFINE_int32(load_threads, 8, "parallel ZooKeeper reads of a full load");

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_reload = 0;
void OnSignal(int) { g_stop = 1; }
void OnHangup(int) { g_reload = 1; }

}  // namespace

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "kess distributor: serves its DC's configs and route "
                    "tables to agents from memory");
  kess::distributor::DistributorOptions options;
  options.id = FLAGS_id;
  options.datacenter = FLAGS_dc;
  options.zk_connect = FLAGS_zk;
  options.zk_root = FLAGS_zk_root;
  options.zk_session_timeout = absl::Milliseconds(FLAGS_zk_session_timeout_ms);
  options.listen_host = FLAGS_listen_host;
  options.port = FLAGS_port;
  options.http_port = FLAGS_http_port;
  options.http_threads = std::max(1, FLAGS_http_threads);
  options.http_max_connections =
      static_cast<size_t>(std::max<uint64_t>(1, FLAGS_http_max_connections));
  options.http_max_connections_per_address =
      FLAGS_http_max_connections_per_address;
  options.http_header_timeout =
      absl::Milliseconds(std::max(1, FLAGS_http_header_timeout_ms));
  options.server_loops = FLAGS_server_loops;
  options.heartbeat_timeout = absl::Milliseconds(FLAGS_heartbeat_timeout_ms);
  options.max_send_queue_bytes = FLAGS_max_send_queue_bytes;
  options.max_keys_per_connection = FLAGS_max_keys_per_connection;
  options.max_connections = FLAGS_max_connections;
  options.max_connections_per_peer = FLAGS_max_connections_per_peer;
  options.first_frame_timeout =
      absl::Milliseconds(FLAGS_first_frame_timeout_ms);
  options.untrusted_max_frame_bytes = FLAGS_untrusted_max_frame_bytes;
  options.trust_timeout = absl::Milliseconds(FLAGS_trust_timeout_ms);
  options.untrusted_max_requests = FLAGS_untrusted_max_requests;
  options.follower.poll_interval = absl::Milliseconds(FLAGS_poll_interval_ms);
  options.follower.max_shrink_fraction = FLAGS_max_shrink_fraction;
  options.follower.load_threads = FLAGS_load_threads;
  options.follower.route_deltas = FLAGS_route_deltas;
  absl::StatusOr<kess::tls::TransportTls> tls =
      kess::tls::TlsFromFlags("distributor", /*server=*/true, /*client=*/false);
  if (!tls.ok()) {
    LOG(ERROR) << tls.status();
    return 2;
  }
  options.tls = tls->server;
  // HTTPS whenever the transport runs TLS (--insecure_plaintext: plain).
  options.http_tls = tls->http_server;
  const kess::tls::TransportTls transport_tls = *tls;
  if (!FLAGS_zk_auth_file.empty()) {
    absl::StatusOr<kess::zk::DigestCredential> credential =
        kess::distributor::LoadReaderCredentialFile(FLAGS_zk_auth_file);
    if (!credential.ok()) {
      LOG(ERROR) << credential.status();
      return 2;
    }
    options.zk_credential = *std::move(credential);
  }
  if (!FLAGS_auth_token_file.empty()) {
    absl::StatusOr<std::string> token =
        kess::distributor::LoadAuthTokenFile(FLAGS_auth_token_file);
    if (!token.ok()) {
      LOG(ERROR) << token.status();
      return 2;
    }
    options.auth_token = *std::move(token);
  }
  options.acl_default_deny = FLAGS_acl_default_deny;
  options.insecure_dev_mode = kess::InsecureDevModeFlag();

  // Every agent is a socket: use the whole hard limit of descriptors.
  rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  signal(SIGHUP, OnHangup);  // TLS files loaded again
  absl::StatusOr<std::unique_ptr<kess::distributor::Distributor>> distributor =
      kess::distributor::Distributor::Create(std::move(options));
  if (!distributor.ok()) {
    LOG(ERROR) << "distributor: " << distributor.status();
    return 2;
  }
  while (!g_stop) {
    absl::SleepFor(absl::Milliseconds(200));
    if (g_reload) {
      g_reload = 0;
      kess::tls::ReloadTransportTls(transport_tls);
    }
  }
  LOG(INFO) << "distributor: shutting down";
  distributor->reset();
  return 0;
}
