// AgentDns: the agent daemon's DNS interface as its --dns_* flags configure
// it (the flags are defined in agent_dns.cc and listed in docs/dns.md): a
// RouteFeed fed by the Agent and a DnsServer answering from it. It does
// not depend on the Agent class; main.cc hands it the two ends:
//
//   auto dns = AgentDns::FromFlags(FLAGS_dc, FLAGS_cache_dir);
//   CHECK(dns.ok());
//   options.on_accepted = (*dns)->OnAccepted();         // before
//   options.on_unsubscribed = (*dns)->OnUnsubscribed(); // Agent::Create
//   ...
//   CHECK_OK((*dns)->Start(LinkToAgent(agent.get())));
//   ...
//   (*dns)->Stop();                                     // before the Agent goes
//
// With --dns_port=0 (the default) nothing is started and the hooks are
// empty.
//
// Thread-safety: FromFlags, Start and Stop from one thread; the hooks from
// any.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/dns/dns_server.h"
#include "agent/dns/route_feed.h"
#include "common/status.h"
#include "model/file_cache/format.h"

namespace kess {
namespace agent {
namespace dns {

struct AgentDnsOptions {
  bool enabled = false;
  DnsServerOptions server;
  RouteFeedOptions feed;
};

class AgentDns {
 public:
  // From the --dns_* flags; InvalidArgument for a bad value.
  static absl::StatusOr<std::unique_ptr<AgentDns>> FromFlags(
      const std::string& datacenter, const std::string& cache_dir);
  explicit AgentDns(AgentDnsOptions options);
  ~AgentDns();  // Stop()

  // For AgentOptions::on_accepted; valid as long as this object.
  std::function<void(const file_cache::CacheEntry&)> OnAccepted();
  // For AgentOptions::on_unsubscribed; likewise.
  std::function<void(const std::vector<file_cache::CacheKey>&)>
  OnUnsubscribed();
  // Binds the sockets and starts serving (OK and nothing when disabled).
  absl::Status Start(AgentLink link);
  void Stop();

  bool enabled() const { return options_.enabled; }
  int port() const;  // 0 unless serving

 private:
  AgentDnsOptions options_;
  std::unique_ptr<RouteFeed> feed_;
  std::unique_ptr<DnsServer> server_;
};

}  // namespace dns
}  // namespace agent
}  // namespace kess
