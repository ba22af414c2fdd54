// wan_emulator: emulated WAN links between datacenters, in one process, for
// demos, benchmarks and tests. See README.md for the config file, the
// address file and the control API.
//
//   wan_emulator --config=wan.conf --address_file=/tmp/wan.addr
//   # as the router between DC namespaces (wan_net.sh), with dc lines:
//   wan_emulator --config=wan.conf --transparent_port=15001
//
// Exit status: 0 after SIGTERM/SIGINT, 2 if it cannot start.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http_server.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/wan/control_api.h"
#include "tests/wan/emulator.h"
#include "tests/wan/emulator_config.h"

DEFINE_string(config, "", "the links and DC pairs (see tests/wan/README.md)");
DEFINE_string(address_file, "",
              "once every link listens, write `<link> <host:port>` lines, "
              "`transparent <host:port>` in transparent mode and "
              "`control <control_host>:<port>` here (atomically)");
DEFINE_int32(control_port, 0,
             "port of the HTTP control API (0: a free one, -1: no control "
             "API)");
DEFINE_string(control_host, "127.0.0.1",
              "IPv4 address the HTTP control API listens on");
DEFINE_string(listen_host, "",
              "address every link and the transparent listener listen on "
              "(default: 127.0.0.1; 0.0.0.0 with --transparent_port)");
DEFINE_int32(transparent_port, -1,
             "transparent mode (the router between DC namespaces, see "
             "README.md): accept the connections the router's nft rule "
             "redirects to this port (0: a free one) and emulate each with "
             "the profile of its DCs, found by the config's dc lines; -1: off");
DEFINE_uint64(seed, 0, "seed of the jitter and loss draws (0: random)");

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// Writes `text` to `path` through a temporary file and a rename, so that a
// reader sees the whole file or none.
absl::Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return kess::ErrnoToStatus(errno, absl::StrCat("write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return kess::ErrnoToStatus(err, absl::StrCat("rename to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "wan_emulator --config=FILE [--address_file=FILE]: "
                    "emulated WAN links between datacenters");
  if (FLAGS_config.empty()) {
    LOG(ERROR) << "--config is required";
    return 2;
  }
  absl::StatusOr<kess::wan::EmulatorConfig> config =
      kess::wan::LoadEmulatorConfig(FLAGS_config);
  if (!config.ok()) {
    LOG(ERROR) << config.status().message();
    return 2;
  }
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  kess::wan::WanEmulator::Options options;
  options.listen_host = FLAGS_listen_host;
  if (options.listen_host.empty()) {
    // Redirected connections arrive on the router's address on each DC's
    // veth: every address.
    options.listen_host = FLAGS_transparent_port >= 0 ? "0.0.0.0" : "127.0.0.1";
  }
  options.seed = FLAGS_seed;
  options.transparent_port = FLAGS_transparent_port;
  absl::StatusOr<std::unique_ptr<kess::wan::WanEmulator>> emulator =
      kess::wan::WanEmulator::Start(*config, options);
  if (!emulator.ok()) {
    LOG(ERROR) << emulator.status().message();
    return 2;
  }
  std::unique_ptr<kess::HttpServer> control;
  if (FLAGS_control_port >= 0) {
    kess::HttpServer::Options http;
    http.host = FLAGS_control_host;
    http.port = FLAGS_control_port;
    http.threads = 4;
    http.admit = kess::wan::AdmitControlRequest;
    absl::StatusOr<std::unique_ptr<kess::HttpServer>> server =
        kess::HttpServer::Create(http);
    if (!server.ok()) {
      LOG(ERROR) << "control API: " << server.status().message();
      return 2;
    }
    control = *std::move(server);
    kess::wan::RegisterControlApi(emulator->get(), control.get());
    absl::Status started = control->Start();
    if (!started.ok()) {
      LOG(ERROR) << "control API: " << started.message();
      return 2;
    }
  }
  std::string addresses;
  for (const auto& [name, address] : (*emulator)->Addresses()) {
    absl::StrAppend(&addresses, name, " ", address, "\n");
  }
  if (!(*emulator)->TransparentAddress().empty()) {
    absl::StrAppend(&addresses, "transparent ",
                    (*emulator)->TransparentAddress(), "\n");
  }
  if (control != nullptr) {
    absl::StrAppend(&addresses, "control ", FLAGS_control_host, ":",
                    control->port(), "\n");
  }
  if (!FLAGS_address_file.empty()) {
    absl::Status written = WriteAtomically(FLAGS_address_file, addresses);
    if (!written.ok()) {
      LOG(ERROR) << written.message();
      return 2;
    }
  }
  std::fputs(addresses.c_str(), stdout);
  std::fflush(stdout);
  LOG(INFO) << "wan_emulator: " << (*emulator)->Addresses().size()
            << " links up";
  while (!g_stop) absl::SleepFor(absl::Milliseconds(100));
  LOG(INFO) << "wan_emulator: shutting down";
  if (control != nullptr) control->Stop();
  emulator->reset();
  return 0;
}
