// kess agent: one per host. See agent/README.md.
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "agent/agent.h"
#include "agent/api_acl.h"
#include "agent/dns/agent_dns.h"
#include "agent/http_api.h"
#include "agent/local_services.h"
#include "agent/services_api.h"
#include "agent/watch_api.h"
#include "agent/watch_registry.h"
#include "model/file_cache/env.h"
#include "common/http/event_http_server.h"
#include "common/init.h"
#include "common/identity/credential.h"
#include "common/tls/tls_flags.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(host_id, "", "This host's id (names.h rules); required.");
DEFINE_string(dc, "", "This host's datacenter; required.");
DEFINE_string(distributors, "",
              "The DC's distributors, host:port,...; required.");
DEFINE_string(mandators, "",
              "The DC's mandators for host heartbeats, host:port,...");
DEFINE_string(cache_dir, "/var/cache/kess", "The file cache directory.");
DEFINE_string(secret_keys_dir, "/etc/kess/keys",
              "Key rings of secret namespaces, <dir>/<namespace>.key (mode "
              "0600): their encrypted values are decrypted into 0600 cache "
              "files; without a ring they stay encrypted.");
DEFINE_string(credential_file, "",
              "This host's credential (kessctl identity issue --kind=host "
              "--name=<host_id>), presented to the mandators when the "
              "agent's certificate does not name its host "
              "(docs/security.md).");
DEFINE_string(http_host, "127.0.0.1",
              "Subscription API address. A loopback address serves plain "
              "HTTP; any other needs --http_tls_cert/--http_tls_key (HTTPS) "
              "or --http_insecure_plaintext.");
DEFINE_string(http_tls_cert, "",
              "HTTPS for the TCP API: this server certificate chain (PEM, "
              "serverAuth, naming the --http_host clients dial); the agent's "
              "transport certificate is a client one and cannot serve");
DEFINE_string(http_tls_key, "", "The private key of --http_tls_cert.");
DEFINE_bool(http_insecure_plaintext, false,
            "Serve the TCP API in plain HTTP on a non-loopback --http_host: "
            "anyone on that network can read the answers and call it. "
            "(--insecure_plaintext implies it.)");
DEFINE_int32(http_port, 7310, "Subscription API port (0: any free port).");
DEFINE_string(http_port_file, "",
              "If set, the bound HTTP port is written here (atomically) once "
              "the API serves; for scripts and tests using --http_port=0.");
DEFINE_string(auth_token_file, "",
              "File holding the distributors' shared secret (sent in "
              "SubscribeRequest.auth_token); trailing whitespace ignored.");
DEFINE_int64(pull_interval_ms, 30000, "Periodic kess.Pull interval.");
DEFINE_int64(heartbeat_interval_ms, 5000, "Heartbeat to the distributor.");
DEFINE_int64(heartbeat_timeout_ms, 15000,
             "Distributor silence after which the agent switches.");
DEFINE_int64(connect_timeout_ms, 5000, "Connect timeout.");
DEFINE_int64(call_timeout_ms, 10000, "Timeout of Subscribe/Pull calls.");
DEFINE_int64(unsubscribe_grace_ms, 60000,
             "what the last application drops (DELETE /v1/subscriptions) "
             "stays subscribed at the distributor this long, so that a "
             "restarting application reuses it (0: unsubscribe at once)");
DEFINE_uint64(distributor_untrusted_max_frame_bytes,
              kess::transport::kDefaultUntrustedMaxFrameBytes,
              "the distributors' --untrusted_max_frame_bytes: the first "
              "kess.Subscribe of a connection (with the token) stays within "
              "it");
DEFINE_int64(reconnect_initial_ms, 500, "First reconnect backoff (jittered).");
DEFINE_int64(reconnect_max_ms, 30000, "Largest reconnect backoff.");
DEFINE_int64(return_interval_ms, 60000,
             "How often (jittered) to probe the preferred distributor while "
             "on another one.");
DEFINE_int64(host_heartbeat_interval_ms, 5000, "Host heartbeat interval.");
DEFINE_int64(subscribe_wait_ms, 3000,
             "How long POST /v1/subscriptions waits for the files.");
DEFINE_string(api_socket, "",
              "If set, the HTTP API is also served on this unix-domain socket "
              "(e.g. /run/kess/agent.sock).");
DEFINE_int32(api_socket_mode, 0660, "File mode of --api_socket.");
DEFINE_string(api_acl_file, "",
              "Who may read which namespaces and services through the API "
              "and the file cache: lines \"namespace|service <name> "
              "<user>|@<group>[,...]\" (docs/agent-api.md, \"Who may read "
              "what\"). Restricted ones are served only over --api_socket "
              "to those users and groups (and root and the agent's user).");
DEFINE_int32(http_max_connections, 10000,
             "Connections the API serves at once (TCP and --api_socket "
             "each); long-polling GET /v1/watch clients hold one each. The "
             "agent raises its open-file soft limit to fit.");
DEFINE_int64(watch_max_timeout_ms, 600000,
             "Longest wait a GET /v1/watch may ask for.");
DEFINE_string(services_file, "",
              "Where local registrations are persisted; default "
              "<cache_dir>/services.json.");
DEFINE_int32(max_local_instances, 256,
             "instances registered through the API at most (their "
             "heartbeats share one connection per mandator, batched; each "
             "holds its checks' sockets; the open-file limit is raised to "
             "fit, 3 per instance)");
DEFINE_bool(route_deltas, true,
            "ask the distributors for route tables as deltas from the "
            "version held (docs/route-table.md, \"Deltas\"); the file is "
            "always the whole table");
DEFINE_bool(enable_exec_checks, false,
            "Allow exec health checks (commands run as the agent's user); "
            "accepted only over --api_socket from root or the agent's user, "
            "so --api_socket is required.");
DEFINE_string(http_allowed_hosts, "",
              "Host names (comma-separated) the TCP API answers besides "
              "localhost, 127.0.0.1, ::1 and --http_host; a request with "
              "another Host header gets 403 (DNS rebinding).");
DEFINE_int32(check_success_before_passing, 1,
             "Default consecutive passing results before a check passes.");
DEFINE_int32(check_failures_before_critical, 3,
             "Default consecutive failing results before a check is "
             "warning/critical.");

namespace {

// 127.0.0.0/8, ::1 and "localhost": reachable from this host only.
bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  // ::1, or ::ffff:127.x.y.z (IPv4 loopback written as IPv6).
  return IN6_IS_ADDR_LOOPBACK(&v6) ||
         (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
}

std::vector<std::string> SplitList(const std::string& list) {
  return absl::StrSplit(list, ',', absl::SkipWhitespace());
}

void CheckOk(const absl::Status& status, const char* what) {
  CHECK(status.ok()) << what << ": " << status;
}

// Thousands of waiting API clients need as many descriptors: raise the
// soft limit towards the hard one. Returns the soft limit obtained.
rlim_t RaiseFileLimit(rlim_t wanted) {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  if (limit.rlim_cur >= wanted) return limit.rlim_cur;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    LOG(WARNING) << "cannot raise the open-file limit to " << limit.rlim_cur;
    return before;
  }
  return limit.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "kess agent: per-host subscriber and file-cache writer");
  // SIGTERM/SIGINT are taken by sigwait below; block them before any
  // thread starts so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // not a stop: TLS files loaded again
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  kess::agent::AgentOptions options;
  options.host_id = FLAGS_host_id;
  options.datacenter = FLAGS_dc;
  options.distributors = SplitList(FLAGS_distributors);
  options.mandators = SplitList(FLAGS_mandators);
  options.cache_dir = FLAGS_cache_dir;
  options.secret_keys_dir = FLAGS_secret_keys_dir;
  options.pull_interval = absl::Milliseconds(FLAGS_pull_interval_ms);
  options.route_deltas = FLAGS_route_deltas;
  options.heartbeat_interval = absl::Milliseconds(FLAGS_heartbeat_interval_ms);
  options.heartbeat_timeout = absl::Milliseconds(FLAGS_heartbeat_timeout_ms);
  options.connect_timeout = absl::Milliseconds(FLAGS_connect_timeout_ms);
  options.call_timeout = absl::Milliseconds(FLAGS_call_timeout_ms);
  options.distributor_untrusted_max_frame_bytes =
      FLAGS_distributor_untrusted_max_frame_bytes;
  options.unsubscribe_grace =
      absl::Milliseconds(std::max<int64_t>(0, FLAGS_unsubscribe_grace_ms));
  options.reconnect_initial = absl::Milliseconds(FLAGS_reconnect_initial_ms);
  options.reconnect_max = absl::Milliseconds(FLAGS_reconnect_max_ms);
  options.return_interval = absl::Milliseconds(FLAGS_return_interval_ms);
  options.host_heartbeat_interval =
      absl::Milliseconds(FLAGS_host_heartbeat_interval_ms);
  kess::tls::TransportTls transport_tls;
  {
    absl::StatusOr<kess::tls::TransportTls> tls =
        kess::tls::TlsFromFlags("agent", /*server=*/false, /*client=*/true);
    if (!tls.ok()) {
      LOG(ERROR) << tls.status();
      return 2;
    }
    options.tls = tls->client;
    transport_tls = *tls;
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
  std::shared_ptr<kess::tls::TlsContext> api_tls;
  // The API carries configs, route tables and registrations: plain HTTP on
  // loopback only, unless asked for explicitly (docs/agent-api.md).
  if (!FLAGS_http_tls_cert.empty() || !FLAGS_http_tls_key.empty()) {
    kess::tls::TlsOptions http_tls;
    http_tls.cert_file = FLAGS_http_tls_cert;
    http_tls.key_file = FLAGS_http_tls_key;
    auto context =
        kess::tls::TlsContext::Create(kess::tls::TlsSide::kServer, http_tls);
    if (!context.ok()) {
      LOG(ERROR) << "--http_tls_cert/--http_tls_key: " << context.status();
      return 2;
    }
    api_tls = *std::move(context);
  } else if (!IsLoopbackHost(FLAGS_http_host) &&
             !FLAGS_http_insecure_plaintext &&
             !kess::tls::InsecurePlaintextFlag()) {
    LOG(ERROR) << "--http_host=" << FLAGS_http_host
               << " is not a loopback address: the API would serve plain "
                  "HTTP to the network. Give --http_tls_cert and "
                  "--http_tls_key (HTTPS), or --http_insecure_plaintext to "
                  "say so explicitly";
    return 2;
  }
  if (!FLAGS_auth_token_file.empty()) {
    auto token =
        kess::file_cache::Env::Default()->ReadFile(FLAGS_auth_token_file);
    CHECK(token.ok()) << "--auth_token_file: " << token.status();
    options.auth_token =
        std::string(absl::StripTrailingAsciiWhitespace(*token));
  }

  // Versions reach the watch registry once durable in the file cache.
  kess::agent::WatchRegistry::Options watch_options;
  watch_options.max_timeout = absl::Milliseconds(FLAGS_watch_max_timeout_ms);
  watch_options.max_waiters =
      2 * static_cast<size_t>(FLAGS_http_max_connections);
  watch_options.registry = &kess::metrics::Registry::Default();
  kess::agent::WatchRegistry watches(watch_options);
  options.on_written = [&watches](const kess::file_cache::CacheEntry& e) {
    watches.Publish(e);
  };

  auto dns = kess::agent::dns::AgentDns::FromFlags(FLAGS_dc, FLAGS_cache_dir);
  CHECK(dns.ok()) << "--dns_*: " << dns.status();
  options.on_accepted = (*dns)->OnAccepted();
  options.on_unsubscribed = (*dns)->OnUnsubscribed();
  auto agent = kess::agent::Agent::Create(options);
  CHECK(agent.ok()) << "agent start-up: " << agent.status();
  CheckOk((*dns)->Start(kess::agent::dns::LinkToAgent(agent->get())),
          "DNS interface");

  CHECK(!FLAGS_enable_exec_checks || !FLAGS_api_socket.empty())
      << "--enable_exec_checks needs --api_socket: exec checks are accepted "
         "only there";
  kess::agent::LocalServicesOptions local;
  local.host_id = FLAGS_host_id;
  local.datacenter = FLAGS_dc;
  local.mandators = options.mandators;
  local.state_path = FLAGS_services_file.empty()
                         ? FLAGS_cache_dir + "/services.json"
                         : FLAGS_services_file;
  local.heartbeat_interval = options.host_heartbeat_interval;
  local.max_instances =
      static_cast<size_t>(std::max(1, FLAGS_max_local_instances));
  local.tls = options.tls;
  local.credential = options.credential;
  local.checks.enable_exec = FLAGS_enable_exec_checks;
  local.checks.default_success_before_passing =
      FLAGS_check_success_before_passing;
  local.checks.default_failures_before_critical =
      FLAGS_check_failures_before_critical;
  auto services = kess::agent::LocalServices::Create(local);
  CHECK(services.ok()) << "local registrations: " << services.status();

  // One API address: every endpoint, and the long-polling GET /v1/watch,
  // on the epoll server (common/http/event_http_server.h).
  // Both servers (TCP and --api_socket) may hold max_connections each;
  // 1024 descriptors stay for the cache, the distributors and the DNS, and
  // 3 per local instance for its checks (the mandator connections are
  // shared: one per mandator).
  const rlim_t reserve =
      1024 + 3 * static_cast<rlim_t>(local.max_instances);
  const rlim_t files = RaiseFileLimit(
      static_cast<rlim_t>(2 * FLAGS_http_max_connections) + reserve);
  size_t max_connections = static_cast<size_t>(FLAGS_http_max_connections);
  const size_t fit =
      files > reserve + 64 ? static_cast<size_t>((files - reserve) / 2) : 32;
  if (max_connections > fit) {
    LOG(WARNING) << "--http_max_connections=" << max_connections
                 << " does not fit the open-file limit " << files
                 << "; using " << fit;
    max_connections = fit;
  }
  kess::http::EventHttpServer::Options http;
  http.tls = api_tls;
  http.host = FLAGS_http_host;
  http.port = FLAGS_http_port;
  http.worker_threads = 8;
  http.max_connections = max_connections;
  http.allowed_hosts = {"localhost", "127.0.0.1", "::1"};
  if (FLAGS_http_host != "0.0.0.0" && FLAGS_http_host != "::") {
    http.allowed_hosts.push_back(FLAGS_http_host);
  }
  for (const std::string& h : SplitList(FLAGS_http_allowed_hosts)) {
    http.allowed_hosts.push_back(h);
  }
  kess::agent::Agent* a = agent->get();
  // Always there: secret namespaces are restricted without a file too.
  std::unique_ptr<kess::agent::ApiAcl> api_acl;
  if (!FLAGS_api_acl_file.empty()) {
    auto loaded = kess::agent::ApiAcl::Load(FLAGS_api_acl_file);
    CHECK(loaded.ok()) << loaded.status();
    api_acl = std::move(loaded).value();
    CheckOk(api_acl->PrepareCache(FLAGS_cache_dir), "--api_acl_file cache");
    LOG(INFO) << "agent: " << api_acl->restricted()
              << " namespaces and services restricted by --api_acl_file";
  } else {
    auto none = kess::agent::ApiAcl::Parse(
        "", [](const std::string&) { return std::optional<uid_t>(); },
        [](const std::string&) { return std::optional<gid_t>(); });
    CHECK(none.ok()) << none.status();
    api_acl = std::move(none).value();
  }
  api_acl->is_secret = [a](const std::string& ns) {
    return a->IsSecretNamespace(ns);
  };
  const kess::agent::ApiAcl* acl = api_acl.get();
  http.admit = [acl](const kess::HttpRequest& request) {
    return acl->Admit(request);
  };
  kess::agent::ValueGate value_gate =
      [acl](const std::optional<kess::HttpRequest::PeerCredentials>& peer,
            const std::string& ns) { return acl->AllowsNamespace(ns, peer); };
  http.health = [a] { return a->Health(); };
  kess::agent::HttpApiOptions api;
  api.subscribe_wait = absl::Milliseconds(FLAGS_subscribe_wait_ms);
  auto server = kess::http::EventHttpServer::Create(http);
  CHECK(server.ok()) << "HTTP server: " << server.status();
  kess::agent::RegisterHttpApi(server->get(), a, api);
  kess::agent::RegisterServicesApi(server->get(), services->get());
  // Full watch answers read the cache on threads of their own.
  kess::agent::FullAnswers full_answers(kess::agent::CurrentFromAgent(a), {});
  kess::agent::RegisterWatchApi(server->get(), &watches, &full_answers,
                                value_gate);
  std::unique_ptr<kess::http::EventHttpServer> socket_server;
  if (!FLAGS_api_socket.empty()) {
    kess::http::EventHttpServer::Options on_socket = http;
    on_socket.tls = nullptr;  // a local socket with file permissions
    on_socket.unix_socket = FLAGS_api_socket;
    on_socket.unix_socket_mode = FLAGS_api_socket_mode;
    auto s = kess::http::EventHttpServer::Create(on_socket);
    CHECK(s.ok()) << "--api_socket: " << s.status();
    socket_server = std::move(s).value();
    kess::agent::RegisterHttpApi(socket_server.get(), a, api);
    kess::agent::RegisterServicesApi(socket_server.get(), services->get());
    kess::agent::RegisterWatchApi(socket_server.get(), &watches,
                                  &full_answers, value_gate);
    CheckOk(socket_server->Start(), "--api_socket start");
  }
  CheckOk((*server)->Start(), "HTTP server start");
  LOG(INFO) << "agent " << FLAGS_host_id << " serving "
            << (http.tls != nullptr ? "HTTPS" : "HTTP") << " on "
            << FLAGS_http_host
            << ":" << (*server)->port();
  if (!FLAGS_http_port_file.empty()) {
    CheckOk(kess::file_cache::WriteFileAtomically(
                kess::file_cache::Env::Default(), FLAGS_http_port_file,
                std::to_string((*server)->port()) + "\n"),
            "--http_port_file");
  }

  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    kess::tls::ReloadTransportTls(transport_tls);
  }
  LOG(INFO) << "signal " << sig << ": stopping";
  (*server)->Stop();
  if (socket_server != nullptr) socket_server->Stop();
  full_answers.Stop();  // reads the agent's cache
  services->reset();  // stops checks and heartbeats; stays registered
  (*dns)->Stop();
  agent->reset();
  return 0;
}
