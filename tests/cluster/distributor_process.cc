#include "tests/cluster/distributor_process.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/http_client.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/cluster_tls.h"
#include "tests/harness/zk_ensemble.h"

namespace kess {
namespace testing {

std::string DistributorBinary() { return Runfile("distributor/distributor"); }

absl::StatusOr<std::string> WriteTokenFile(const std::string& dir,
                                           const std::string& token) {
  const std::string path = absl::StrCat(dir, "/distributor.token");
  {
    std::ofstream out(path, std::ios::trunc);
    out << token << "\n";
    if (!out) return absl::InternalError("cannot write " + path);
  }
  chmod(path.c_str(), 0600);
  return path;
}

absl::StatusOr<std::unique_ptr<DistributorProcess>> DistributorProcess::Start(
    DistributorProcessOptions options) {
  if (options.binary.empty()) options.binary = DistributorBinary();
  if (options.log_dir.empty()) options.log_dir = TestTmpDir();
  const bool pick_port = options.port == 0;
  const bool pick_http_port = options.http_port == 0;
  std::unique_ptr<DistributorProcess> process(
      new DistributorProcess(std::move(options)));
  absl::Status last;
  // A picked port can be taken by someone else before the daemon binds it.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (pick_port) {
      KESS_ASSIGN_OR_RETURN(process->options_.port, PickFreePort());
    }
    if (pick_http_port) {
      KESS_ASSIGN_OR_RETURN(process->options_.http_port, PickFreePort());
    }
    last = process->Launch();
    if (last.ok()) last = process->WaitReady();
    if (last.ok()) return process;
    process->Kill();
    if (!pick_port && !pick_http_port) break;
  }
  return last;
}

DistributorProcess::DistributorProcess(DistributorProcessOptions options)
    : options_(std::move(options)),
      daemon_(absl::StrCat("distributor ", options_.id),
              absl::StrCat(options_.log_dir, "/distributor-",
                           options_.datacenter, "-", options_.id, ".log")) {}

DistributorProcess::~DistributorProcess() { Stop(); }

std::string DistributorProcess::address() const {
  return absl::StrCat(options_.host, ":", options_.port);
}

std::string DistributorProcess::http_address() const {
  return absl::StrCat(ServesHttps(options_.tls_flags) ? "https://" : "",
                      options_.host, ":", options_.http_port);
}

absl::Status DistributorProcess::Launch() {
  const DistributorProcessOptions& o = options_;
  std::vector<std::string> args = {
      o.binary,
      "--id=" + o.id,
      "--dc=" + o.datacenter,
      "--zk=" + o.zk,
      "--zk_root=" + o.zk_root,
      "--listen_host=" + o.host,
      absl::StrCat("--port=", o.port),
      absl::StrCat("--http_port=", o.http_port),
      absl::StrCat("--zk_session_timeout_ms=",
                   absl::ToInt64Milliseconds(o.zk_session_timeout)),
      absl::StrCat("--poll_interval_ms=",
                   absl::ToInt64Milliseconds(o.poll_interval)),
  };
  if (!o.zk_auth_file.empty())
    args.push_back("--zk_auth_file=" + o.zk_auth_file);
  if (!o.auth_token_file.empty()) {
    args.push_back("--auth_token_file=" + o.auth_token_file);
  }
  args.insert(args.end(), o.tls_flags.begin(), o.tls_flags.end());
  args.insert(args.end(), o.extra_flags.begin(), o.extra_flags.end());
  args.insert(args.begin(), o.command_prefix.begin(), o.command_prefix.end());
  return daemon_.Start(std::move(args));
}

absl::Status DistributorProcess::WaitReady() {
  return daemon_.WaitHealthy(http_address(), options_.ready_timeout);
}

void DistributorProcess::Kill() { daemon_.Kill(); }

void DistributorProcess::Stop(absl::Duration grace) { daemon_.Stop(grace); }

absl::Status DistributorProcess::Restart() {
  Stop();
  KESS_RETURN_IF_ERROR(Launch());
  return WaitReady();
}

Poco::JSON::Object::Ptr DistributorProcess::Status() const {
  absl::StatusOr<HttpReply> reply =
      HttpCall(http_address(), "GET", "/api/v1/status", "", absl::Seconds(10));
  if (!reply.ok() || reply->status != 200) return nullptr;
  return JsonBody(reply->body);
}

std::string DistributorProcess::Metrics() const {
  absl::StatusOr<HttpReply> reply =
      HttpCall(http_address(), "GET", "/metrics", "", absl::Seconds(10));
  if (!reply.ok() || reply->status != 200) return "";
  return reply->body;
}

absl::StatusOr<double> MetricValue(const std::string& metrics_text,
                                   const std::string& name,
                                   const std::string& labels) {
  const std::vector<std::string> wanted =
      absl::StrSplit(labels, ',', absl::SkipEmpty());
  for (absl::string_view line : absl::StrSplit(metrics_text, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    absl::string_view rest = line.substr(name.size());
    absl::string_view label_set;
    if (absl::StartsWith(rest, "{")) {
      const size_t close = rest.find('}');
      if (close == absl::string_view::npos) continue;
      label_set = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
    }
    if (!absl::StartsWith(rest, " ")) continue;  // a longer metric name
    bool match = true;
    for (const std::string& w : wanted) {
      match = match && absl::StrContains(label_set, w);
    }
    double value = 0;
    if (match && absl::SimpleAtod(absl::StripAsciiWhitespace(rest), &value)) {
      return value;
    }
  }
  return absl::NotFoundError("no sample " + name + "{" + labels + "}");
}

}  // namespace testing
}  // namespace kess
