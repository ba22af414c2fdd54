// ui_cluster: a whole 2-DC kess cluster for the admin UI's browser test
// (ui_browser_test.sh drives it; also handy by hand).
//
// Starts, on 127.0.0.1 with free ports: per DC a ZooKeeper, 2 mandators
// (all with --admin_password_file, the main ones with --other_dcs), one
// distributor and one agent subscribed to ui/greeting and ui/html; then
// registers one instance of service "checkout" in each DC through the SDK
// (sdk/registration.h). Prints one JSON line:
//   {"ui": "http://<main leader>/ui/", "secret": "...", "mandators": [...],
//    "agents": ["dc1/h1", "dc2/h1"]}
// then answers commands on stdin, one per line:
//   cached <ns> <key>   -> {"dc1/h1": {"revision": r, "value": "..."}, ...}
//                          (read with the file-cache reader; revision 0 =
//                          no readable file)
//   quit (or EOF)       -> stops everything and exits 0.
// Binaries come from $TEST_SRCDIR (a test's runfiles), logs go to
// $TEST_TMPDIR.
#include <sys/random.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_cache/reader.h"
#include "common/json_util.h"
#include "glog/logging.h"
#include "sdk/registration.h"
#include "tests/cluster/cache_tier_cluster.h"

namespace kess {
namespace testing {
namespace {

std::string RandomHex(int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    unsigned char b = 0;
    while (getrandom(&b, 1, 0) != 1) {
    }
    absl::StrAppend(&out, absl::Hex(b, absl::kZeroPad2));
  }
  return out;
}

std::string TmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string Cached(CacheTierCluster& cluster, const std::string& ns,
                   const std::string& key) {
  std::vector<std::string> parts;
  for (CacheTierDc* dc : {&cluster.main(), &cluster.slave()}) {
    for (const auto& agent : dc->agents) {
      file_cache::FileCacheReader reader(agent->cache_dir());
      absl::StatusOr<file_cache::CacheEntry> entry =
          reader.Read(file_cache::CacheKey::Config(ns, key));
      parts.push_back(absl::StrCat(
          JsonQuote(absl::StrCat(dc->name, "/", agent->host_id())),
          ":{\"revision\":", entry.ok() ? entry->revision : 0,
          ",\"value\":", JsonQuote(entry.ok() ? entry->value : ""), "}"));
    }
  }
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

int Run() {
  const std::string secret_file = TmpDir() + "/admin.secret";
  const std::string secret = "ui-e2e-" + RandomHex(16);
  {
    std::ofstream out(secret_file);
    out << secret << "\n";
  }
  CacheTierClusterOptions options;
  options.dcs.mandators_per_dc = 2;
  options.dcs.main_other_dcs = true;
  options.dcs.extra_flags = {
      absl::StrCat("--admin_password_file=", secret_file),
      "--route_cycle_ms=500", "--route_window_ms=300", "--route_warmup_ms=3000",
      "--heartbeat_interval_ms=1000"};
  options.distributors_per_dc = 1;
  options.agents_per_dc = 1;
  absl::StatusOr<std::unique_ptr<CacheTierCluster>> cluster =
      CacheTierCluster::Start(options);
  if (!cluster.ok()) {
    std::cout << "{\"error\":" << JsonQuote(cluster.status().ToString()) << "}"
              << std::endl;
    return 1;
  }
  for (AgentHost* agent : (*cluster)->AllAgents()) {
    absl::Status s = agent->Subscribe(
        ConfigSubscription({{"ui", "greeting"}, {"ui", "html"}}));
    if (!s.ok()) LOG(ERROR) << "subscribe: " << s;
  }
  // One instance of "checkout" per DC, on that DC's agent host.
  std::vector<std::unique_ptr<sdk::Registration>> registrations;
  for (CacheTierDc* dc : {&(*cluster)->main(), &(*cluster)->slave()}) {
    sdk::RegistrationOptions r;
    for (const auto& m : dc == &(*cluster)->main()
                             ? (*cluster)->dcs().main()
                             : (*cluster)->dcs().slave()) {
      r.mandators.push_back(m->address());
    }
    r.instance.service = "checkout";
    r.instance.id = absl::StrCat("checkout-", dc->name);
    r.instance.host = dc->agents[0]->host_id();
    r.instance.address =
        dc == &(*cluster)->main() ? "127.0.0.1:18080" : "127.0.0.1:18081";
    r.instance.datacenter = dc->name;
    r.instance.metadata = {{"version", "1.4.2"}, {"zone", dc->name + "-a"}};
    r.heartbeat_interval_ms = 1000;
    absl::StatusOr<std::unique_ptr<sdk::Registration>> made =
        sdk::Registration::Create(r);
    if (!made.ok()) {
      std::cout << "{\"error\":" << JsonQuote(made.status().ToString()) << "}"
                << std::endl;
      return 1;
    }
    registrations.push_back(*std::move(made));
  }
  MandatorProcess* leader =
      WaitLeader((*cluster)->dcs().main(), absl::Seconds(60));
  if (leader == nullptr) {
    std::cout << "{\"error\":\"no main leader\"}" << std::endl;
    return 1;
  }
  std::vector<std::string> mandators;
  for (const MandatorList* list :
       {&(*cluster)->dcs().main(), &(*cluster)->dcs().slave()}) {
    for (const auto& m : *list)
      mandators.push_back(JsonQuote(m->http_address()));
  }
  std::vector<std::string> agents;
  for (CacheTierDc* dc : {&(*cluster)->main(), &(*cluster)->slave()}) {
    for (const auto& a : dc->agents) {
      agents.push_back(JsonQuote(absl::StrCat(dc->name, "/", a->host_id())));
    }
  }
  std::cout << "{\"ui\":"
            << JsonQuote(
                   absl::StrCat("http://", leader->http_address(), "/ui/"))
            << ",\"secret\":" << JsonQuote(secret) << ",\"mandators\":["
            << absl::StrJoin(mandators, ",") << "],\"agents\":["
            << absl::StrJoin(agents, ",")
            << "],\"logs\":" << JsonQuote((*cluster)->dcs().dir()) << "}"
            << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command, ns, key;
    in >> command >> ns >> key;
    if (command == "quit") break;
    if (command == "cached") {
      std::cout << Cached(**cluster, ns, key) << std::endl;
    } else {
      std::cout << "{\"error\":\"unknown command\"}" << std::endl;
    }
  }
  registrations.clear();
  cluster->reset();
  return 0;
}

}  // namespace
}  // namespace testing
}  // namespace kess

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  return kess::testing::Run();
}
