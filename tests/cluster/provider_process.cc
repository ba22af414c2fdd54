#include "tests/cluster/provider_process.h"

#include <signal.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kess {
namespace testing {
namespace {

// The options with the defaults filled in (the daemon's log path is fixed
// at construction).
ProviderProcessOptions Filled(ProviderProcessOptions o) {
  if (o.binary.empty()) o.binary = Runfile("sdk/examples/demo_provider");
  if (o.dir.empty()) o.dir = TestTmpDir();
  const std::string base =
      absl::StrCat(o.dir, "/provider-", o.service, "-", o.id);
  if (o.log_path.empty()) o.log_path = base + ".log";
  if (o.port_file.empty()) o.port_file = base + ".port";
  return o;
}

}  // namespace

ProviderProcess::ProviderProcess(ProviderProcessOptions options)
    : options_(Filled(std::move(options))),
      daemon_("provider " + options_.id, options_.log_path) {}

absl::StatusOr<std::unique_ptr<ProviderProcess>> ProviderProcess::Start(
    ProviderProcessOptions options) {
  std::unique_ptr<ProviderProcess> p(new ProviderProcess(std::move(options)));
  KESS_RETURN_IF_ERROR(p->Launch());
  return p;
}

absl::Status ProviderProcess::Launch() {
  const ProviderProcessOptions& o = options_;
  std::remove(o.port_file.c_str());
  std::vector<std::string> args = o.command_prefix;
  args.insert(args.end(),
              {o.binary, "--service=" + o.service, "--id=" + o.id,
               "--host=" + o.host, "--dc=" + o.datacenter,
               "--mandators=" + absl::StrJoin(o.mandators, ","),
               "--listen_host=" + o.listen_host, "--port_file=" + o.port_file});
  if (o.heartbeat_interval > absl::ZeroDuration()) {
    args.push_back(
        absl::StrCat("--heartbeat_interval_ms=",
                     absl::ToInt64Milliseconds(o.heartbeat_interval)));
  }
  args.insert(args.end(), o.tls_flags.begin(), o.tls_flags.end());
  args.insert(args.end(), o.extra_flags.begin(), o.extra_flags.end());
  KESS_RETURN_IF_ERROR(daemon_.Start(std::move(args)));
  KESS_ASSIGN_OR_RETURN(port_,
                        daemon_.WaitForPortFile(o.port_file, absl::Seconds(30)));
  return absl::OkStatus();
}

ProviderProcess::~ProviderProcess() { Stop(); }

std::string ProviderProcess::address() const {
  return absl::StrCat(options_.listen_host, ":", port_);
}

void ProviderProcess::Stop() {
  if (paused_) Resume();
  daemon_.Stop(absl::Seconds(10));
}

void ProviderProcess::Kill() { daemon_.Kill(); }

void ProviderProcess::Pause() {
  if (daemon_.running() && kill(daemon_.pid(), SIGSTOP) == 0) paused_ = true;
}

void ProviderProcess::Resume() {
  if (daemon_.running() && kill(daemon_.pid(), SIGCONT) == 0) paused_ = false;
}

absl::Status ProviderProcess::Restart() {
  Stop();
  return Launch();
}

}  // namespace testing
}  // namespace kess
