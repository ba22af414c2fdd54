// fake_mandator: serves FakeMandator (fake_mandator.h) for the shell test.
//
//   fake_mandator --address_file=/tmp/a --datacenter=dc1
//
// Writes "127.0.0.1:<port>" to --address_file (atomically, once serving) and
// serves until SIGINT or SIGTERM.
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "kessctl/fake_mandator.h"

DEFINE_string(address_file, "", "Where to write host:port once serving.");
DEFINE_string(datacenter, "dc1", "The DC /api/v1/status reports.");
DEFINE_bool(is_main, true, "Whether the DC is the main DC.");
DEFINE_string(member_id, "m1", "This mandator's id.");

int main(int argc, char** argv) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  kess::InitProcess(&argc, &argv, "A fake mandator HTTP API for tests.");
  CHECK(!FLAGS_address_file.empty()) << "--address_file is required";

  kess::kessctl::FakeMandator::StatusInfo info;
  info.datacenter = FLAGS_datacenter;
  info.is_main = FLAGS_is_main;
  info.member_id = FLAGS_member_id;
  info.leader_id = FLAGS_member_id;
  auto fake = kess::kessctl::FakeMandator::Start(info);
  CHECK(fake.ok()) << fake.status();

  const std::string tmp = FLAGS_address_file + ".tmp";
  {
    std::ofstream out(tmp);
    out << (*fake)->address() << "\n";
  }
  CHECK_EQ(std::rename(tmp.c_str(), FLAGS_address_file.c_str()), 0);
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}
