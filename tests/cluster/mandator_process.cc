#include "tests/cluster/mandator_process.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/cluster/cluster_tls.h"
#include "tests/harness/zk_ensemble.h"

namespace kess {
namespace testing {

std::string MandatorBinary() { return Runfile("mandator/mandator"); }

absl::StatusOr<std::string> WriteAuthFile(const std::string& dir,
                                          const zk::KessAuth& auth) {
  const std::string path = absl::StrCat(dir, "/zk.auth");
  {
    std::ofstream out(path, std::ios::trunc);
    out << "# kess ZooKeeper users (test)\n"
        << auth.mandator.user << ":" << auth.mandator.password << "\n"
        << auth.reader.user << ":" << auth.reader.password << "\n";
    if (!out) return absl::InternalError("cannot write " + path);
  }
  chmod(path.c_str(), 0600);
  return path;
}

absl::StatusOr<std::unique_ptr<MandatorProcess>> MandatorProcess::Start(
    MandatorProcessOptions options) {
  if (options.binary.empty()) options.binary = MandatorBinary();
  if (options.log_dir.empty()) options.log_dir = TestTmpDir();
  const bool pick_port = options.http_port == 0;
  const bool pick_transport_port = options.port == 0;
  std::unique_ptr<MandatorProcess> process(
      new MandatorProcess(std::move(options)));
  absl::Status last;
  // A picked port can be taken by someone else before the daemon binds it.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (pick_port) {
      KESS_ASSIGN_OR_RETURN(process->options_.http_port, PickFreePort());
    }
    if (pick_transport_port) {
      KESS_ASSIGN_OR_RETURN(process->options_.port, PickFreePort());
    }
    last = process->Launch();
    if (last.ok()) last = process->WaitReady();
    if (last.ok()) return process;
    process->Kill();
    if (!pick_port && !pick_transport_port) break;
  }
  return last;
}

MandatorProcess::MandatorProcess(MandatorProcessOptions options)
    : options_(std::move(options)),
      daemon_(absl::StrCat("mandator ", options_.id),
              absl::StrCat(options_.log_dir, "/",
                           options_.log_name.empty()
                               ? absl::StrCat("mandator-", options_.id)
                               : options_.log_name,
                           ".log")) {}

MandatorProcess::~MandatorProcess() { Stop(); }

std::string MandatorProcess::http_address() const {
  return absl::StrCat(ServesHttps(options_.tls_flags) ? "https://" : "",
                      options_.host, ":", options_.http_port);
}

std::string MandatorProcess::address() const {
  return absl::StrCat(options_.host, ":", options_.port);
}

absl::Status MandatorProcess::Launch() {
  const MandatorProcessOptions& o = options_;
  std::vector<std::string> args = {
      o.binary,
      "--id=" + o.id,
      "--dc=" + o.datacenter,
      o.is_main ? "--main" : "--nomain",
      "--zk=" + o.zk,
      "--http_host=" + o.host,
      absl::StrCat("--http_port=", o.http_port),
      absl::StrCat("--port=", o.port),
      "--zk_root=" + o.zk_root,
      "--zk_auth_file=" + o.auth_file,
      absl::StrCat("--zk_session_timeout_ms=",
                   absl::ToInt64Milliseconds(o.zk_session_timeout)),
  };
  if (!o.main_zk.empty()) args.push_back("--main_zk=" + o.main_zk);
  if (!o.main_datacenter.empty())
    args.push_back("--main_dc=" + o.main_datacenter);
  args.insert(args.end(), o.tls_flags.begin(), o.tls_flags.end());
  args.insert(args.end(), o.extra_flags.begin(), o.extra_flags.end());
  // A mandator refuses to start without the bootstrap admin's password
  // unless --insecure_dev_mode: a test that gives neither (one that
  // predates authentication) runs in dev mode.
  bool credentials = false;
  for (const std::string& flag : o.extra_flags) {
    credentials |= absl::StartsWith(flag, "--admin_password_file=") ||
                   absl::StartsWith(flag, "--insecure_dev_mode");
  }
  if (!credentials) args.push_back("--insecure_dev_mode");
  args.insert(args.begin(), o.command_prefix.begin(), o.command_prefix.end());
  return daemon_.Start(std::move(args));
}

absl::Status MandatorProcess::WaitReady() {
  return daemon_.WaitHealthy(http_address(), options_.ready_timeout);
}

void MandatorProcess::Kill() { daemon_.Kill(); }

void MandatorProcess::Stop(absl::Duration grace) { daemon_.Stop(grace); }

absl::Status MandatorProcess::Restart() {
  Stop();
  KESS_RETURN_IF_ERROR(Launch());
  return WaitReady();
}

}  // namespace testing
}  // namespace kess
