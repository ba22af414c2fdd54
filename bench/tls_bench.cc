// What TLS costs on the framed transport, in one process on 127.0.0.1
// (server and clients on their own loops), TLS and plaintext in the same
// run:
//   1. handshake CPU per connection (both sides together, getrusage):
//      plain TCP, full TLS handshakes, resumed ones (TLS 1.3 tickets);
//   2. throughput of one connection: echo calls with 64 KiB payloads
//      (MB/s) and pipelined 100-byte calls (calls/s), plain and TLS.
//
//   bazel build -c opt //bench:tls_bench && bazel-bin/bench/tls_bench
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/init.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/tls/testing/test_certs.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/server.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_int32(connections, 1000, "connections per handshake measurement");
DEFINE_int32(batch, 100, "connects in flight at once");
DEFINE_int32(big_calls, 400, "64 KiB echo calls per throughput run");
DEFINE_int32(small_calls, 100000, "100-byte echo calls per throughput run");

namespace kess {
namespace {

using transport::Client;
using transport::ClientOptions;

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Setup {
  std::unique_ptr<transport::Server> server;
  std::unique_ptr<transport::EventLoop> loop;
};

Setup Start(std::shared_ptr<tls::TlsContext> server_tls,
            metrics::Registry* registry) {
  transport::ServerOptions options;
  options.registry = registry;
  options.tls = std::move(server_tls);
  options.max_connections_per_peer = 0;
  options.num_loops = 1;
  transport::HandlerMap handlers;
  handlers["echo"] = [](transport::Request request,
                        transport::Responder responder) {
    responder.Respond(std::move(request.payload));
  };
  Setup setup;
  auto server = transport::Server::Create(options, std::move(handlers));
  CHECK(server.ok()) << server.status();
  setup.server = *std::move(server);
  auto loop = transport::EventLoop::Create("bench-client");
  CHECK(loop.ok());
  setup.loop = *std::move(loop);
  return setup;
}

// Connects FLAGS_connections clients in batches, each one call; returns
// the CPU seconds per connection.
double HandshakeCpu(const Setup& setup, std::shared_ptr<tls::TlsContext> tls,
                    metrics::Registry* registry) {
  ClientOptions options;
  options.port = setup.server->port();
  options.registry = registry;
  options.tls = std::move(tls);
  options.heartbeat_interval = absl::ZeroDuration();
  const double before = CpuSeconds();
  int done = 0;
  while (done < FLAGS_connections) {
    std::vector<std::unique_ptr<Client>> clients;
    std::atomic<int> answered{0};
    const int n = std::min(FLAGS_batch, FLAGS_connections - done);
    for (int i = 0; i < n; ++i) {
      auto client = Client::Create(setup.loop.get(), options);
      CHECK(client.ok());
      (*client)->Call("echo", "x", absl::Seconds(30),
                      [&](absl::StatusOr<std::string> r) {
                        CHECK(r.ok()) << r.status();
                        answered++;
                      });
      clients.push_back(*std::move(client));
    }
    CHECK(testing::WaitFor([&] { return answered == n; }, absl::Seconds(60)));
    clients.clear();
    done += n;
  }
  return (CpuSeconds() - before) / FLAGS_connections;
}

struct Throughput {
  double big_mb_per_s;
  double big_cpu_per_mb;
  double small_calls_per_s;
};

Throughput Measure(const Setup& setup, std::shared_ptr<tls::TlsContext> tls,
                   metrics::Registry* registry) {
  ClientOptions options;
  options.port = setup.server->port();
  options.registry = registry;
  options.tls = std::move(tls);
  auto client = Client::Create(setup.loop.get(), options);
  CHECK(client.ok());
  CHECK((*client)->WaitConnected(absl::Seconds(10)).ok());
  Throughput out;
  const std::string big(64 << 10, 'b');
  double cpu = CpuSeconds();
  absl::Time start = absl::Now();
  for (int i = 0; i < FLAGS_big_calls; ++i) {
    auto reply = (*client)->CallSync("echo", big, absl::Seconds(30));
    CHECK(reply.ok() && reply->size() == big.size());
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  // Each call moves the payload both ways.
  const double mb = 2.0 * FLAGS_big_calls * big.size() / 1e6;
  out.big_mb_per_s = mb / seconds;
  out.big_cpu_per_mb = (CpuSeconds() - cpu) / mb;

  const std::string small(100, 's');
  std::atomic<int> answered{0};
  start = absl::Now();
  for (int i = 0; i < FLAGS_small_calls; ++i) {
    (*client)->Call("echo", small, absl::Seconds(60),
                    [&](absl::StatusOr<std::string> r) {
                      CHECK(r.ok()) << r.status();
                      answered++;
                    });
    // Keep at most 1,000 in flight.
    while (i - answered.load() > 1000) absl::SleepFor(absl::Microseconds(50));
  }
  CHECK(testing::WaitFor([&] { return answered == FLAGS_small_calls; },
                         absl::Seconds(120)));
  out.small_calls_per_s =
      FLAGS_small_calls / absl::ToDoubleSeconds(absl::Now() - start);
  return out;
}

int Run() {
  auto certs = tls::testing::TestCerts::Create("bench");
  CHECK(certs.ok()) << certs.status();
  metrics::Registry registry;
  std::shared_ptr<tls::TlsContext> server_tls = certs->ServerTls();
  tls::TlsOptions full_options = certs->Options("");
  full_options.session_resumption = false;
  auto full_tls = tls::TlsContext::Create(tls::TlsSide::kClient, full_options);
  CHECK(full_tls.ok());
  std::shared_ptr<tls::TlsContext> resuming_tls = certs->ClientTls();

  Setup plain = Start(nullptr, &registry);
  Setup secure = Start(server_tls, &registry);

  const double plain_cpu = HandshakeCpu(plain, nullptr, &registry);
  const double full_cpu = HandshakeCpu(secure, *full_tls, &registry);
  // Prime the cache with one ticket, then every connection resumes.
  HandshakeCpu(secure, resuming_tls, &registry);
  const double resumed_before = registry
      .GetCounter("kess_transport_tls_handshakes_total", "",
                  {{"role", "client"}, {"resumed", "true"}})
      ->Value();
  const double resumed_cpu = HandshakeCpu(secure, resuming_tls, &registry);
  const double resumed = registry
      .GetCounter("kess_transport_tls_handshakes_total", "",
                  {{"role", "client"}, {"resumed", "true"}})
      ->Value() - resumed_before;

  const Throughput plain_tp = Measure(plain, nullptr, &registry);
  const Throughput tls_tp = Measure(secure, resuming_tls, &registry);

  printf("| measurement | plain TCP | TLS |\n|---|---|---|\n");
  printf("| connect + first call, CPU per connection (client + server) | "
         "%.0f us | %.0f us full, %.0f us resumed (%.0f of %d resumed) |\n",
         plain_cpu * 1e6, full_cpu * 1e6, resumed_cpu * 1e6, resumed,
         FLAGS_connections);
  printf("| 64 KiB echo calls, one connection | %.0f MB/s, %.2f ms CPU/MB | "
         "%.0f MB/s, %.2f ms CPU/MB |\n",
         plain_tp.big_mb_per_s, plain_tp.big_cpu_per_mb * 1e3,
         tls_tp.big_mb_per_s, tls_tp.big_cpu_per_mb * 1e3);
  printf("| 100-byte echo calls, pipelined (1,000 in flight) | %.0f calls/s | "
         "%.0f calls/s |\n",
         plain_tp.small_calls_per_s, tls_tp.small_calls_per_s);
  return 0;
}

}  // namespace
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "TLS cost on the framed transport");
  return kess::Run();
}
