// The cost of HTTPS on a mandator API call: kessctl's GET of a config
// (GET /api/v1/configs/bench/k, a value of --value_bytes) from one client
// thread to a real mandator, over a kept-alive connection and over a new
// connection per call (what kessctl and write forwarding do), HTTP and
// HTTPS in the same run. Two one-DC clusters (one ZooKeeper, one mandator
// each): one with TLS (the mandator serves HTTPS, ECDSA P-256 certificate,
// TLS 1.3), one with --insecure_plaintext; both clients are
// common/http_client.h's HttpConnection, the same code for both schemes.
//
//   bazel build -c opt //bench:https_bench
//   bazel-bin/bench/https_bench --requests=2000
//
// Prints a table: per mode the mean and p50/p99 latency of HTTP and HTTPS
// and their ratio, and the calls per second of one client.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/multi_dc_cluster.h"

DEFINE_int32(requests, 2000, "timed calls per mode and scheme");
DEFINE_int32(warmup, 100, "untimed calls first, per mode and scheme");
DEFINE_int32(value_bytes, 1024, "size of the config value read");
DEFINE_string(bin_dir, "",
              "where mandator/mandator is (a bazel-bin); default: this "
              "binary's runfiles");
DEFINE_string(base_dir, "", "where the clusters' dirs go (default /tmp)");

namespace kess {
namespace {

struct Figures {
  double mean_us = 0, p50_us = 0, p99_us = 0, per_second = 0;
  int errors = 0;
};

Figures Measure(const std::string& address, bool keep_alive) {
  const std::string uri = "/api/v1/configs/bench/k";
  std::unique_ptr<HttpConnection> kept;
  if (keep_alive) kept = std::make_unique<HttpConnection>(address, HttpCallOptions());
  Figures f;
  std::vector<double> us;
  us.reserve(FLAGS_requests);
  const absl::Time start_all = absl::Now();
  absl::Time timed_start = start_all;
  for (int i = 0; i < FLAGS_warmup + FLAGS_requests; ++i) {
    if (i == FLAGS_warmup) timed_start = absl::Now();
    const absl::Time start = absl::Now();
    absl::StatusOr<HttpReply> reply;
    if (keep_alive) {
      reply = kept->Call("GET", uri);
    } else {
      HttpConnection once(address, HttpCallOptions());
      reply = once.Call("GET", uri, "", /*close=*/true);
    }
    const double took = absl::ToDoubleMicroseconds(absl::Now() - start);
    if (!reply.ok() || reply->status != 200) {
      if (f.errors++ == 0) {
        LOG(ERROR) << address << ": "
                   << (reply.ok() ? absl::StrCat(reply->status, " ", reply->body)
                                  : reply.status().ToString());
      }
      continue;
    }
    if (i >= FLAGS_warmup) us.push_back(took);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - timed_start);
  if (us.empty()) return f;
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  f.mean_us = sum / us.size();
  f.p50_us = us[us.size() / 2];
  f.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  f.per_second = us.size() / seconds;
  if (keep_alive && kept->connects() != 1) {
    LOG(WARNING) << address << ": kept-alive connection made "
                 << kept->connects() << " connections";
  }
  return f;
}

std::unique_ptr<testing::MultiDcCluster> StartCluster(bool tls,
                                                      const std::string& bin) {
  testing::MultiDcClusterOptions o;
  o.slave_dcs = 0;
  o.mandators_per_dc = 1;
  o.tls = tls;
  o.bin_dir = bin;
  o.base_dir = FLAGS_base_dir.empty() ? "/tmp" : FLAGS_base_dir;
  auto cluster = testing::MultiDcCluster::Start(o);
  CHECK(cluster.ok()) << cluster.status();
  return *std::move(cluster);
}

int Main() {
  std::string bin = FLAGS_bin_dir;
  if (bin.empty()) {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK_GT(n, 0);
    bin = absl::StrCat(std::string(self, n), ".runfiles/kess");
  }
  // The TLS cluster last: its CA becomes the process's default for
  // https:// (cluster_tls.h); the plain one needs none.
  std::unique_ptr<testing::MultiDcCluster> plain = StartCluster(false, bin);
  std::unique_ptr<testing::MultiDcCluster> secure = StartCluster(true, bin);
  const std::string value(FLAGS_value_bytes, 'v');
  std::string addresses[2];
  for (int i = 0; i < 2; ++i) {
    testing::MultiDcCluster& c = i == 0 ? *plain : *secure;
    testing::MandatorProcess* leader =
        testing::WaitLeader(c.main(), absl::Seconds(60));
    CHECK(leader != nullptr) << "no leader; logs in " << c.dir();
    addresses[i] = leader->http_address();
    absl::StatusOr<HttpReply> put =
        HttpCall(addresses[i], "PUT", "/api/v1/configs/bench/k",
                 absl::StrCat("{\"value\":\"", value, "\"}"), absl::Seconds(10));
    CHECK(put.ok() && put->status == 200)
        << addresses[i] << ": "
        << (put.ok() ? put->body : put.status().ToString());
  }
  std::printf(
      "Setup: one host, %ld cores; per scheme a 1-DC cluster (1 ZooKeeper, 1 "
      "mandator); one client thread; GET of a %d-byte config, %d timed "
      "calls per cell after %d untimed\n",
      sysconf(_SC_NPROCESSORS_ONLN), FLAGS_value_bytes, FLAGS_requests,
      FLAGS_warmup);
  std::printf("HTTP  %s\nHTTPS %s\n\n", addresses[0].c_str(),
              addresses[1].c_str());
  std::printf(
      "| connection | HTTP mean / p50 / p99 us | HTTPS mean / p50 / p99 us | "
      "HTTPS/HTTP (mean) | HTTP calls/s | HTTPS calls/s |\n");
  std::printf("|---|---|---|---|---|---|\n");
  int errors = 0;
  for (bool keep_alive : {true, false}) {
    const Figures http = Measure(addresses[0], keep_alive);
    const Figures https = Measure(addresses[1], keep_alive);
    errors += http.errors + https.errors;
    std::printf(
        "| %s | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %.2f | %.0f | %.0f |\n",
        keep_alive ? "kept alive" : "new per call", http.mean_us, http.p50_us,
        http.p99_us, https.mean_us, https.p50_us, https.p99_us,
        http.mean_us > 0 ? https.mean_us / http.mean_us : 0, http.per_second,
        https.per_second);
  }
  std::printf("errors: %d\n", errors);
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "the cost of HTTPS on a mandator API call (bench/)");
  return kess::Main();
}
