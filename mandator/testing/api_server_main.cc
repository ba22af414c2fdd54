// api_server_main: one ApiServer (api_server.h) over its own in-memory
// ZooKeeper, as a process, for tests that run a client binary against the
// real HTTP API (kessctl's shell test).
//
//   api_server_main --address_file=/tmp/a --datacenter=dc2 --is_main=false
//
// Writes "127.0.0.1:<port>" to --address_file (atomically, once serving)
// and serves until SIGINT or SIGTERM. Each process is one DC with one
// mandator, which leads it.
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/testing/api_server.h"
#include "zk_schema/testing/fake_zk.h"

DEFINE_string(address_file, "", "Where to write host:port once serving.");
DEFINE_string(datacenter, "dc1", "This DC.");
DEFINE_bool(is_main, true, "Whether this DC is the main DC.");
DEFINE_string(main_datacenter, "", "The main DC, named by a slave's refusal.");
DEFINE_string(member_id, "m1", "This mandator's id.");

int main(int argc, char** argv) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  kess::InitProcess(&argc, &argv,
                    "The mandator HTTP API over an in-memory ZooKeeper, for "
                    "tests.");
  CHECK(!FLAGS_address_file.empty()) << "--address_file is required";

  kess::zk::testing::FakeZkServer zk;
  kess::mandator::testing::ApiServer::Options options;
  options.zk = &zk;
  options.datacenter = FLAGS_datacenter;
  options.is_main = FLAGS_is_main;
  options.main_datacenter = FLAGS_main_datacenter;
  options.member_id = FLAGS_member_id;
  auto server = kess::mandator::testing::ApiServer::Start(options);
  CHECK(server.ok()) << server.status();

  const std::string tmp = FLAGS_address_file + ".tmp";
  {
    std::ofstream out(tmp);
    out << (*server)->address() << "\n";
  }
  CHECK_EQ(std::rename(tmp.c_str(), FLAGS_address_file.c_str()), 0);
  int sig = 0;
  sigwait(&stop, &sig);
  server->reset();
  return 0;
}
