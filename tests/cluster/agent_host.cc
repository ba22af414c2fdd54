#include "tests/cluster/agent_host.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/file_cache/env.h"
#include "glog/logging.h"
#include "tests/cluster/mandator_cluster.h"

namespace kess {
namespace testing {

AgentHost::AgentHost(AgentHostOptions options)
    : options_(std::move(options)),
      daemon_("agent " + options_.host_id, options_.log_path.empty()
                                               ? options_.dir + "/agent.log"
                                               : options_.log_path) {}

absl::StatusOr<std::unique_ptr<AgentHost>> AgentHost::Start(
    AgentHostOptions options) {
  if (options.binary.empty()) options.binary = Runfile("agent/agent");
  std::unique_ptr<AgentHost> host(new AgentHost(std::move(options)));
  KESS_RETURN_IF_ERROR(
      file_cache::Env::Default()->CreateDirs(host->cache_dir()));
  KESS_RETURN_IF_ERROR(host->Launch());
  return host;
}

absl::Status AgentHost::Launch() {
  const AgentHostOptions& o = options_;
  const std::string port_file = o.dir + "/http_port";
  file_cache::Env::Default()->RemoveFile(port_file).IgnoreError();
  std::vector<std::string> args = {
      o.binary,
      "--host_id=" + o.host_id,
      "--dc=" + o.datacenter,
      "--distributors=" + absl::StrJoin(o.distributors, ","),
      "--cache_dir=" + cache_dir(),
      "--http_host=" + o.http_host,
      absl::StrCat("--http_port=", http_port_),
      "--http_port_file=" + port_file,
  };
  if (!o.mandators.empty()) {
    args.push_back("--mandators=" + absl::StrJoin(o.mandators, ","));
  }
  if (!o.auth_token_file.empty()) {
    args.push_back("--auth_token_file=" + o.auth_token_file);
  }
  args.insert(args.end(), o.tls_flags.begin(), o.tls_flags.end());
  args.insert(args.end(), o.flags.begin(), o.flags.end());
  args.insert(args.end(), o.extra_flags.begin(), o.extra_flags.end());
  args.insert(args.begin(), o.command_prefix.begin(), o.command_prefix.end());
  KESS_RETURN_IF_ERROR(daemon_.Start(std::move(args)));
  absl::StatusOr<int> port =
      daemon_.WaitForPortFile(port_file, o.ready_timeout);
  if (!port.ok()) {
    daemon_.Kill();
    return port.status();
  }
  http_port_ = *port;
  return absl::OkStatus();
}

absl::Status AgentHost::Restart() {
  if (running()) Stop();
  absl::Status launched = Launch();
  if (launched.ok() || http_port_ == 0) return launched;
  // Its old HTTP port can be taken meanwhile: it is an ephemeral port, and
  // another process's outgoing connection may have been given it (many
  // agents reconnecting at once). A real host would have it configured and
  // free; here the agent moves to a new free port.
  LOG(WARNING) << "agent " << options_.host_id << " could not start on port "
               << http_port_ << " again (" << launched
               << "); starting it on a new port";
  http_port_ = 0;
  return Launch();
}

std::string AgentHost::http_address() const {
  return absl::StrCat(options_.http_host, ":", http_port_);
}

absl::StatusOr<HttpReply> AgentHost::Call(const std::string& method,
                                          const std::string& path,
                                          const std::string& body) const {
  return HttpCall(http_address(), method, path, body, absl::Seconds(20));
}

absl::Status AgentHost::Subscribe(const std::string& body) const {
  KESS_ASSIGN_OR_RETURN(HttpReply reply,
                        Call("POST", "/v1/subscriptions", body));
  if (reply.status != 200) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscribe: HTTP ", reply.status, ": ", reply.body));
  }
  return absl::OkStatus();
}

Poco::JSON::Object::Ptr AgentHost::Status() const {
  absl::StatusOr<HttpReply> reply = Call("GET", "/v1/status");
  if (!reply.ok() || reply->status != 200) return nullptr;
  return JsonBody(reply->body);
}

std::string ConfigSubscription(
    const std::vector<std::pair<std::string, std::string>>& keys) {
  std::vector<std::string> items;
  for (const auto& [ns, key] : keys) {
    items.push_back(
        absl::StrCat("{\"namespace\":\"", ns, "\",\"key\":\"", key, "\"}"));
  }
  return absl::StrCat("{\"configs\":[", absl::StrJoin(items, ","), "]}");
}

}  // namespace testing
}  // namespace kess
