// Collector: asks every mandator for its partial table (kess.GetPartialTable,
// model/protocol/discovery.proto), all in parallel, over transport Clients
// that share one EventLoop and stay connected between cycles.
//
// Each peer has a PeerTimeoutPolicy (5 s; 100 ms after 3 timeouts in a row;
// 5 s again after 10 successes). A cycle therefore never waits longer than
// the largest current per-peer timeout (plus a little slack): one sick peer
// costs at most its own timeout, and after 3 cycles only 100 ms. A peer's
// answer may come in pages (max_instances / after); all pages of a peer
// share its one timeout.
//
// Metrics: kess_routes_collect_seconds (a cycle),
// kess_routes_peer_calls_total{result="ok"|"timeout"|"error"},
// kess_routes_degraded_peers.
//
// Thread-compatible: Collect() from one thread at a time (the leader's
// route loop); never on the loop thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/identity/credential.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "mandator/routes/merger.h"
#include "mandator/routes/peer_timeout_policy.h"

namespace kess {
namespace mandator {
namespace routes {

// A mandator to collect from.
struct Peer {
  std::string id;
  std::string datacenter;
  std::string address;  // "host:port" of its transport server

  std::string Key() const { return datacenter + "/" + id; }
  bool operator==(const Peer& o) const {
    return id == o.id && datacenter == o.datacenter && address == o.address;
  }
};

class Collector {
 public:
  struct Options {
    std::string requester_id;  // this mandator
    std::string requester_dc;  // and its datacenter
    PeerTimeoutPolicy::Options policy;
    int page_size = 20000;  // instances per answer
    absl::Duration slack = absl::Milliseconds(200);
    // TLS to the other mandators' schedulers (a client context); nullptr:
    // plain TCP.
    std::shared_ptr<tls::TlsContext> tls;
    // This mandator's credential (common/identity), presented with
    // kess.Authenticate on every connection, for schedulers that check
    // registration rights and do not see a mandator certificate (mutual
    // TLS presents one through `tls`); nullptr: none.
    std::shared_ptr<const identity::CredentialFile> credential;
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  static absl::StatusOr<std::unique_ptr<Collector>> Create(Options options);
  ~Collector();

  // One report per peer, in the order given; `answered` false for a peer
  // that timed out, failed or whose address is bad.
  std::vector<PeerReport> Collect(const std::vector<Peer>& peers);

  // The timeout the next call to this peer gets (normal for unknown ones).
  absl::Duration TimeoutOf(const Peer& peer) const;

 private:
  struct PeerState;
  struct Cycle;
  // Deadlines are monotonic: a wall-clock step must not cut a page short.
  using SteadyTime = std::chrono::steady_clock::time_point;
  explicit Collector(Options options);
  void Start(PeerState& state, int index, std::shared_ptr<Cycle> cycle);
  void AskPage(transport::Client* client, std::shared_ptr<Cycle> cycle,
               int index, SteadyTime deadline);

  const Options options_;
  std::unique_ptr<transport::EventLoop> loop_;
  std::map<std::string, std::unique_ptr<PeerState>> peers_;  // by Key()
  metrics::Histogram* collect_seconds_;
  metrics::Counter* calls_ok_;
  metrics::Counter* calls_timeout_;
  metrics::Counter* calls_error_;
  metrics::Gauge* degraded_;
};

}  // namespace routes
}  // namespace mandator
}  // namespace kess
