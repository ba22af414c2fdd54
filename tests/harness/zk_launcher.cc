// zk_launcher: start real ZooKeeper ensembles for scripts (demo, benchmarks).
//
//   zk_launcher --dcs=dc1,dc2 --servers=3 --ready_file=/tmp/zk.env
//
// Starts one ensemble per DC on free ports of 127.0.0.1 (or --host), then writes the ready
// file (shell-sourceable, written atomically once every ensemble serves):
//   ZK_dc1=127.0.0.1:41001,127.0.0.1:41002,127.0.0.1:41003
//   ZK_dc2=...
// and prints the same lines on stdout. Runs until SIGINT or SIGTERM, then
// stops every server it started and exits 0. Exits 1 if any ensemble fails to
// start (after stopping the others).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/harness/zk_ensemble.h"

DEFINE_string(dcs, "dc1", "Comma-separated DC names; one ensemble each.");
DEFINE_int32(servers, 1, "Servers per ensemble: 1 or 3.");
DEFINE_string(base_dir, "", "Parent directory for data (default /tmp).");
DEFINE_int32(tick_ms, 200, "ZooKeeper tickTime in ms.");
DEFINE_string(ready_file, "", "Where to write ZK_<dc>=<hosts> lines.");
DEFINE_string(super_password, "", "Digest superuser password (optional).");
DEFINE_string(host, "127.0.0.1",
              "IPv4 address the servers listen on (e.g. a DC's address in "
              "its network namespace).");

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so sigwait gets them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  kess::InitProcess(&argc, &argv, "Start ZooKeeper ensembles for kess.");

  std::vector<std::unique_ptr<kess::testing::ZkEnsemble>> ensembles;
  std::string lines;
  for (absl::string_view dc : absl::StrSplit(FLAGS_dcs, ',', absl::SkipEmpty())) {
    kess::testing::ZkEnsembleOptions options;
    options.name = std::string(dc);
    options.servers = FLAGS_servers;
    options.base_dir = FLAGS_base_dir;
    options.tick_ms = FLAGS_tick_ms;
    options.super_password = FLAGS_super_password;
    options.host = FLAGS_host;
    auto zk = kess::testing::ZkEnsemble::Start(options);
    if (!zk.ok()) {
      LOG(ERROR) << "cannot start ZooKeeper for " << dc << ": " << zk.status();
      return 1;  // destructors stop the ensembles already started
    }
    lines += "ZK_" + std::string(dc) + "=" + (*zk)->ConnectString() + "\n";
    ensembles.push_back(std::move(zk).value());
  }
  if (!FLAGS_ready_file.empty()) {
    std::string tmp = FLAGS_ready_file + ".tmp";
    std::ofstream(tmp) << lines;
    if (rename(tmp.c_str(), FLAGS_ready_file.c_str()) != 0) {
      PLOG(ERROR) << "rename " << tmp;
      return 1;
    }
  }
  std::fputs(lines.c_str(), stdout);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  LOG(INFO) << "signal " << sig << ": stopping " << ensembles.size()
            << " ensemble(s)";
  ensembles.clear();
  return 0;
}
