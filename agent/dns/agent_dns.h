// AgentDns: the agent daemon's DNS interface as its --dns_* flags configure
// it (the flags are defined in agent_dns.cc and listed in docs/dns.md): a
// RouteFeed fed by the Agent and a DnsServer answering from it. It does
// not depend on the Agent class; main.cc hands it the two ends:
//
//   auto dns = AgentDns::FromFlags(FLAGS_dc, FLAGS_cache_dir);
//   CHECK(dns.ok());
//   options.on_accepted = (*dns)->OnAccepted();   // before Agent::Create
//   ...
//   CHECK_OK((*dns)->Start([a](const auto& keys, absl::Duration wait) {
//     return a->Subscribe(keys, wait);
//   }));
//   ...
//   (*dns)->Stop();                               // before the Agent goes
//
// With --dns_port=0 (the default) nothing is started and the hook does
// nothing.
//
// Thread-safety: FromFlags, Start and Stop from one thread; the hook from
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
  using SubscribeFn = RouteFeed::SubscribeFn;

  // From the --dns_* flags; InvalidArgument for a bad value.
  static absl::StatusOr<std::unique_ptr<AgentDns>> FromFlags(
      const std::string& datacenter, const std::string& cache_dir);
  explicit AgentDns(AgentDnsOptions options);
  ~AgentDns();  // Stop()

  // For AgentOptions::on_accepted; valid as long as this object.
  std::function<void(const file_cache::CacheEntry&)> OnAccepted();
  // Binds the sockets and starts serving (OK and nothing when disabled).
  absl::Status Start(SubscribeFn subscribe);
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
