// bench/agent_footprint_sdk: the SDK side of bench/agent_footprint_bench, a
// small process that does what an application does with the SDK and
// nothing else: one sdk::ConfigClient watching --keys keys of --ns
// (k000..), one sdk::Discovery watching --services services (svc00..), both
// on the agent's cache and HTTP API. Once every key had its first callback
// (or --ready_timeout_ms passed) it prints "ready <keys seen>" and then
// idles until it is killed; the benchmark measures it from /proc.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "sdk/config_client.h"
#include "sdk/discovery.h"

DEFINE_string(cache_dir, "", "the agent's cache dir");
DEFINE_string(agent_http, "", "the agent's HTTP API, host:port");
DEFINE_string(ns, "fp", "namespace of the keys");
DEFINE_int32(keys, 100, "keys watched: k000 ...");
DEFINE_int32(services, 5, "services watched: svc00 ...");
DEFINE_string(datacenter, "dc1", "local datacenter");
DEFINE_int64(ready_timeout_ms, 30000, "wait for the first callbacks");

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "bench: an SDK client for the footprint");
  kess::sdk::ConfigClient::Options co;
  co.cache_dir = FLAGS_cache_dir;
  co.agent_http_address = FLAGS_agent_http;
  auto client = kess::sdk::ConfigClient::Create(co);
  if (!client.ok()) {
    LOG(ERROR) << client.status();
    return 1;
  }
  std::atomic<int> callbacks{0};
  std::vector<std::unique_ptr<kess::sdk::ConfigClient::WatchHandle>> watches;
  std::vector<std::atomic<bool>> seen(FLAGS_keys);
  for (int i = 0; i < FLAGS_keys; ++i) {
    auto w = (*client)->Watch(
        FLAGS_ns, absl::StrFormat("k%03d", i),
        [&, i](const kess::sdk::ConfigValue&) {
          if (!seen[i].exchange(true)) callbacks.fetch_add(1);
        });
    if (!w.ok()) {
      LOG(ERROR) << w.status();
      return 1;
    }
    watches.push_back(std::move(w).value());
  }
  kess::sdk::Discovery::Options dopt;
  dopt.cache_dir = FLAGS_cache_dir;
  dopt.agent_http_address = FLAGS_agent_http;
  dopt.local_datacenter = FLAGS_datacenter;
  auto discovery = kess::sdk::Discovery::Create(dopt);
  if (!discovery.ok()) {
    LOG(ERROR) << discovery.status();
    return 1;
  }
  std::vector<std::unique_ptr<kess::sdk::Discovery::WatchHandle>> services;
  for (int i = 0; i < FLAGS_services; ++i) {
    auto w = (*discovery)->Watch(absl::StrFormat("svc%02d", i),
                                 [](const auto&) {});
    if (!w.ok()) {
      LOG(ERROR) << w.status();
      return 1;
    }
    services.push_back(std::move(w).value());
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(FLAGS_ready_timeout_ms);
  while (callbacks.load() < FLAGS_keys &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cout << "ready " << callbacks.load() << std::endl;
  for (;;) pause();  // measured from outside, then SIGKILLed
}
