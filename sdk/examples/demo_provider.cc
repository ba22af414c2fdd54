// demo_provider: a sample provider. Serves `GET /echo?msg=...` over HTTP
// and registers itself with two mandators of its DC through
// kess::sdk::Registration; deregisters on SIGTERM/SIGINT.
//
//   demo_provider --service=demo-echo --id=echo-dc1-1 --host=dc1-host1
//       --dc=dc1 --mandators=127.0.0.1:7200,127.0.0.1:7201,127.0.0.1:7202
//
// The answer names the instance, so a consumer can see who served it:
//   {"instance":"echo-dc1-1","dc":"dc1","msg":"hi","served":17}
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "model/file_cache/env.h"
#include "common/http_server.h"
#include "common/init.h"
#include "common/json_util.h"
#include "common/tls/tls_flags.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "sdk/registration.h"

DEFINE_string(service, "demo-echo", "Service name to register.");
DEFINE_string(id, "", "Instance id, unique within the service; required.");
DEFINE_string(host, "", "Host id: the --host_id of this host's agent.");
DEFINE_string(dc, "", "This instance's datacenter; required.");
DEFINE_string(mandators, "",
              "The DC's mandators' heartbeat addresses (their --port), "
              "host:port,...; required.");
DEFINE_string(listen_host, "127.0.0.1", "Address to serve and register.");
DEFINE_int32(port, 0, "HTTP port to serve on (0: any free port).");
DEFINE_string(port_file, "",
              "If set, the bound port is written here once registered.");
DEFINE_int32(weight, 100, "Weight in the route table (1..10000).");
DEFINE_int64(heartbeat_interval_ms, 5000, "Heartbeat interval.");

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "demo_provider --id=echo-1 --host=h1 --dc=dc1 "
                    "--mandators=host:port,...");
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  if (FLAGS_id.empty() || FLAGS_dc.empty() || FLAGS_mandators.empty()) {
    LOG(ERROR) << "--id, --dc and --mandators are required";
    return 1;
  }

  std::atomic<int64_t> served{0};
  kess::HttpServer::Options http;
  http.host = FLAGS_listen_host;
  http.port = FLAGS_port;
  auto server = kess::HttpServer::Create(http);
  if (!server.ok()) {
    LOG(ERROR) << "HTTP server: " << server.status();
    return 1;
  }
  (*server)->Handle("GET", "/echo", [&served](const kess::HttpRequest& r) {
    const int64_t n = ++served;
    return kess::HttpResponse::Json(
        200, absl::StrCat("{\"instance\":", kess::JsonQuote(FLAGS_id),
                          ",\"dc\":", kess::JsonQuote(FLAGS_dc),
                          ",\"msg\":", kess::JsonQuote(r.Query("msg")),
                          ",\"served\":", n, "}"));
  });
  absl::Status started = (*server)->Start();
  if (!started.ok()) {
    LOG(ERROR) << "HTTP server start: " << started;
    return 1;
  }
  const std::string address =
      absl::StrCat(FLAGS_listen_host, ":", (*server)->port());

  kess::sdk::RegistrationOptions o;
  o.mandators = absl::StrSplit(FLAGS_mandators, ',', absl::SkipWhitespace());
  o.instance.service = FLAGS_service;
  o.instance.id = FLAGS_id;
  o.instance.host = FLAGS_host;
  o.instance.address = address;
  o.instance.datacenter = FLAGS_dc;
  o.instance.weight = FLAGS_weight;
  o.instance.health = "warming_up";
  o.instance.metadata = {{"example", "demo_provider"}};
  o.heartbeat_interval = absl::Milliseconds(FLAGS_heartbeat_interval_ms);
  // The mandators' transport: --tls_ca (and for mutual TLS --tls_cert,
  // --tls_key, --tls_client_auth), or --insecure_plaintext.
  absl::StatusOr<kess::tls::TransportTls> tls =
      kess::tls::TlsFromFlags("demo_provider", /*server=*/false,
                              /*client=*/true);
  if (!tls.ok()) {
    LOG(ERROR) << tls.status();
    return 2;
  }
  o.tls = tls->client;
  auto registration = kess::sdk::Registration::Create(o);
  if (!registration.ok()) {
    LOG(ERROR) << "registration: " << registration.status();
    return 1;
  }
  // Serving already: tell the mandators we are up.
  absl::Status health = (*registration)->SetHealth("up");
  if (!health.ok()) LOG(WARNING) << "SetHealth: " << health;
  absl::Status registered =
      (*registration)->WaitRegistered(2, absl::Seconds(10));
  if (!registered.ok()) {
    LOG(WARNING) << "not yet registered with 2 mandators: " << registered;
  }
  LOG(INFO) << "demo_provider " << FLAGS_service << "/" << FLAGS_id
            << " serving on " << address << ", registered with "
            << absl::StrJoin((*registration)->state().registered, ",");
  if (!FLAGS_port_file.empty()) {
    absl::Status written = kess::file_cache::WriteFileAtomically(
        kess::file_cache::Env::Default(), FLAGS_port_file,
        absl::StrCat((*server)->port(), "\n"));
    if (!written.ok()) LOG(ERROR) << "--port_file: " << written;
  }

  int sig = 0;
  sigwait(&stop, &sig);
  LOG(INFO) << "signal " << sig << ": deregistering after " << served.load()
            << " requests";
  absl::Status deregistered = (*registration)->Deregister();
  if (!deregistered.ok()) LOG(WARNING) << "deregister: " << deregistered;
  (*server)->Stop();
  return 0;
}
