#include "agent/dns/agent_dns.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/names.h"

DEFINE_int32(dns_port, 0,
             "Port of the DNS interface on --dns_host, UDP and TCP (Consul "
             "uses 8600); 0: no DNS interface.");
DEFINE_string(dns_host, "127.0.0.1", "Address of the DNS interface.");
DEFINE_string(dns_domain, "kess",
              "The zone answered: <service>.service.<domain>.");
DEFINE_int32(dns_ttl_seconds, 5,
             "TTL of every DNS record and of negative answers.");
DEFINE_int64(dns_wait_ms, 1000,
             "How long a DNS query for a service the agent holds no route "
             "table of waits while the agent subscribes to it; then "
             "SERVFAIL.");
DEFINE_string(dns_passing_health, "up",
              "Comma-separated instance health words DNS answers with (the "
              "instance must also be healthy); empty: any word.");
DEFINE_int32(dns_max_subscriptions, 1000,
             "How many services DNS queries may hold subscribed at once "
             "(owner \"dns\"; those persisted by an earlier run count).");
DEFINE_int64(dns_unused_expiry_seconds, 86400,
             "A service subscribed through DNS that no DNS query named for "
             "this long is unsubscribed (owner \"dns\" only).");
DEFINE_int32(dns_max_udp_payload, 1232,
             "The largest UDP answer (EDNS buffer size) accepted, 512..4096; "
             "1232 avoids IP fragmentation (DNS Flag Day 2020).");
DEFINE_int32(dns_max_tcp_connections, 64,
             "Open DNS TCP connections at most; more are closed at once.");

namespace kess {
namespace agent {
namespace dns {

absl::StatusOr<std::unique_ptr<AgentDns>> AgentDns::FromFlags(
    const std::string& datacenter, const std::string& cache_dir) {
  AgentDnsOptions o;
  o.enabled = FLAGS_dns_port != 0;
  if (FLAGS_dns_port < 0 || FLAGS_dns_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dns_port=", FLAGS_dns_port, " is outside 0..65535"));
  }
  if (FLAGS_dns_ttl_seconds < 0 || FLAGS_dns_wait_ms < 0 ||
      FLAGS_dns_max_subscriptions < 0 || FLAGS_dns_max_tcp_connections < 1 ||
      FLAGS_dns_unused_expiry_seconds < 1) {
    return absl::InvalidArgumentError(
        "--dns_ttl_seconds, --dns_wait_ms and --dns_max_subscriptions must "
        "not be negative, --dns_max_tcp_connections and "
        "--dns_unused_expiry_seconds at least 1");
  }
  if (FLAGS_dns_max_udp_payload < 512 || FLAGS_dns_max_udp_payload > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dns_max_udp_payload=", FLAGS_dns_max_udp_payload,
                     " is outside 512..4096"));
  }
  for (absl::string_view label : absl::StrSplit(FLAGS_dns_domain, '.')) {
    if (label.empty() || label.size() > 63 ||
        !ValidateName(NameKind::kDatacenter, label).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dns_domain=", FLAGS_dns_domain,
          ": labels of 1..63 letters, digits, '-' or '_' expected"));
    }
  }
  o.server.host = FLAGS_dns_host;
  o.server.port = FLAGS_dns_port;
  o.server.responder.domain = FLAGS_dns_domain;
  o.server.responder.datacenter = datacenter;
  o.server.responder.ttl_seconds = static_cast<uint32_t>(FLAGS_dns_ttl_seconds);
  o.server.responder.max_udp_payload =
      static_cast<uint16_t>(FLAGS_dns_max_udp_payload);
  o.server.table_wait = absl::Milliseconds(FLAGS_dns_wait_ms);
  o.server.max_tcp_connections =
      static_cast<size_t>(FLAGS_dns_max_tcp_connections);
  o.feed.cache_dir = cache_dir;
  o.feed.eligibility.passing_health =
      absl::StrSplit(FLAGS_dns_passing_health, ',', absl::SkipWhitespace());
  o.feed.subscribe_wait = absl::Milliseconds(FLAGS_dns_wait_ms);
  o.feed.max_subscriptions = static_cast<size_t>(FLAGS_dns_max_subscriptions);
  o.feed.idle_expiry = absl::Seconds(FLAGS_dns_unused_expiry_seconds);
  return std::make_unique<AgentDns>(std::move(o));
}

AgentDns::AgentDns(AgentDnsOptions options) : options_(std::move(options)) {
  if (options_.enabled) feed_ = std::make_unique<RouteFeed>(options_.feed);
}

AgentDns::~AgentDns() { Stop(); }

std::function<void(const file_cache::CacheEntry&)> AgentDns::OnAccepted() {
  if (feed_ == nullptr) return nullptr;
  RouteFeed* feed = feed_.get();
  return [feed](const file_cache::CacheEntry& entry) {
    feed->OnAccepted(entry);
  };
}

std::function<void(const std::vector<file_cache::CacheKey>&)>
AgentDns::OnUnsubscribed() {
  if (feed_ == nullptr) return nullptr;
  RouteFeed* feed = feed_.get();
  return [feed](const std::vector<file_cache::CacheKey>& keys) {
    feed->OnUnsubscribed(keys);
  };
}

absl::Status AgentDns::Start(AgentLink link) {
  if (feed_ == nullptr || server_ != nullptr) return absl::OkStatus();
  RouteFeed* feed = feed_.get();
  KESS_ASSIGN_OR_RETURN(
      server_, DnsServer::Start(options_.server, [feed](const std::string& s) {
        feed->Request(s);
      }));
  feed_->Start(server_.get(), std::move(link));
  LOG(INFO) << "DNS interface on " << options_.server.host << ":"
            << server_->port() << " (UDP and TCP), zone "
            << options_.server.responder.domain;
  return absl::OkStatus();
}

void AgentDns::Stop() {
  if (feed_ != nullptr) feed_->Stop();
  server_.reset();
}

int AgentDns::port() const { return server_ == nullptr ? 0 : server_->port(); }

}  // namespace dns
}  // namespace agent
}  // namespace kess
