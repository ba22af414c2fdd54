#include "mandator/routes/collector.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/steady_await.h"
#include "common/transport/socket_util.h"
#include "glog/logging.h"
#include "model/protocol/discovery_methods.h"

namespace kess {
namespace mandator {
namespace routes {

struct Collector::PeerState {
  Peer peer;
  PeerTimeoutPolicy policy;
  std::unique_ptr<transport::Client> client;
};

// One Collect() call, shared with the callbacks (which may outlive it).
struct Collector::Cycle {
  absl::Mutex mu;
  std::vector<PeerReport> reports ABSL_GUARDED_BY(mu);
  std::vector<absl::Status> results ABSL_GUARDED_BY(mu);
  std::vector<bool> finished ABSL_GUARDED_BY(mu);
  std::vector<std::chrono::steady_clock::time_point> started_at
      ABSL_GUARDED_BY(mu);
  std::vector<std::chrono::steady_clock::time_point> finished_at
      ABSL_GUARDED_BY(mu);
  int remaining ABSL_GUARDED_BY(mu) = 0;
  bool closed ABSL_GUARDED_BY(mu) = false;  // Collect() returned
  std::string requester_id;
  std::string requester_dc;
  int page_size = 0;

  void Finish(int index, absl::Status status) {
    absl::MutexLock lock(&mu);
    if (finished[index]) return;
    finished[index] = true;
    finished_at[index] = std::chrono::steady_clock::now();
    results[index] = std::move(status);
    --remaining;
  }
};

absl::StatusOr<std::unique_ptr<Collector>> Collector::Create(Options options) {
  std::unique_ptr<Collector> c(new Collector(std::move(options)));
  KESS_ASSIGN_OR_RETURN(c->loop_, transport::EventLoop::Create("collector"));
  return c;
}

Collector::Collector(Options options) : options_(std::move(options)) {
  metrics::Registry* r = options_.registry;
  collect_seconds_ = r->GetHistogram(
      "kess_routes_collect_seconds",
      "Time to collect the partial tables of every mandator (one cycle).",
      metrics::LatencyBuckets());
  const char* help = "kess.GetPartialTable calls of the leader, by result.";
  calls_ok_ =
      r->GetCounter("kess_routes_peer_calls_total", help, {{"result", "ok"}});
  calls_timeout_ = r->GetCounter("kess_routes_peer_calls_total", help,
                                 {{"result", "timeout"}});
  calls_error_ = r->GetCounter("kess_routes_peer_calls_total", help,
                               {{"result", "error"}});
  degraded_ = r->GetGauge("kess_routes_degraded_peers",
                          "Mandators whose partial-table timeout is the "
                          "short one after repeated timeouts.");
}

Collector::~Collector() {
  peers_.clear();  // clients first: they live on the loop
  loop_.reset();
}

absl::Duration Collector::TimeoutOf(const Peer& peer) const {
  auto it = peers_.find(peer.Key());
  return it == peers_.end() ? options_.policy.normal_timeout
                            : it->second->policy.timeout();
}

void Collector::AskPage(transport::Client* client, std::shared_ptr<Cycle> cycle,
                        int index, SteadyTime deadline) {
  protocol::PartialTableRequest request;
  request.set_requester_id(cycle->requester_id);
  request.set_requester_dc(cycle->requester_dc);
  request.set_max_instances(cycle->page_size);
  {
    absl::MutexLock lock(&cycle->mu);
    const protocol::PartialTable& so_far = cycle->reports[index].table;
    if (so_far.has_next_after()) *request.mutable_after() = so_far.next_after();
  }
  const absl::Duration left =
      std::max(absl::Milliseconds(1),
               absl::FromChrono(deadline - std::chrono::steady_clock::now()));
  client->Call(
      protocol::kGetPartialTableMethod, request.SerializeAsString(), left,
      [this, client, cycle, index,
       deadline](absl::StatusOr<std::string> reply) {
        if (!reply.ok()) {
          cycle->Finish(index, reply.status());
          return;
        }
        protocol::PartialTable page;
        if (!page.ParseFromString(*reply)) {
          cycle->Finish(index, absl::DataLossError("unparsable PartialTable"));
          return;
        }
        bool more = false;
        {
          absl::MutexLock lock(&cycle->mu);
          if (cycle->closed) return;
          protocol::PartialTable& table = cycle->reports[index].table;
          if (!table.has_next_after()) {
            table = std::move(page);  // the first page
          } else {
            for (protocol::InstanceSeen& seen : *page.mutable_instances()) {
              *table.add_instances() = std::move(seen);
            }
            if (page.has_next_after()) {
              *table.mutable_next_after() = page.next_after();
            } else {
              table.clear_next_after();
            }
          }
          more = table.has_next_after();
        }
        if (!more) {
          cycle->Finish(index, absl::OkStatus());
        } else if (std::chrono::steady_clock::now() >= deadline) {
          cycle->Finish(index, absl::DeadlineExceededError("pages left"));
        } else {
          AskPage(client, cycle, index, deadline);
        }
      });
}

void Collector::Start(PeerState& state, int index,
                      std::shared_ptr<Cycle> cycle) {
  {
    absl::MutexLock lock(&cycle->mu);
    cycle->started_at[index] = std::chrono::steady_clock::now();
  }
  if (state.client != nullptr &&
      state.client->state() == transport::ClientState::kClosed) {
    state.client.reset();
  }
  if (state.client == nullptr) {
    transport::ClientOptions client;
    absl::Status split = transport::SplitHostPort(state.peer.address,
                                                  &client.host, &client.port);
    if (!split.ok()) {
      cycle->Finish(index, split);
      return;
    }
    client.connect_timeout = options_.policy.normal_timeout;
    client.registry = options_.registry;
    client.tls = options_.tls;
    client.credential = options_.credential;
    absl::StatusOr<std::unique_ptr<transport::Client>> created =
        transport::Client::Create(loop_.get(), client);
    if (!created.ok()) {
      cycle->Finish(index, created.status());
      return;
    }
    state.client = *std::move(created);
  }
  AskPage(state.client.get(), std::move(cycle), index,
          std::chrono::steady_clock::now() +
              absl::ToChronoMilliseconds(state.policy.timeout()));
}

std::vector<PeerReport> Collector::Collect(const std::vector<Peer>& peers) {
  // Steady: a wall-clock step must not stretch or cut the cycle.
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [start] {
    return absl::FromChrono(std::chrono::steady_clock::now() - start);
  };
  // Forget peers that are gone; replace those whose address changed.
  std::map<std::string, std::unique_ptr<PeerState>> next;
  for (const Peer& peer : peers) {
    auto it = peers_.find(peer.Key());
    if (it != peers_.end() && it->second->peer == peer) {
      next[peer.Key()] = std::move(it->second);
    } else if (next.count(peer.Key()) == 0) {
      next[peer.Key()] = std::make_unique<PeerState>(
          PeerState{peer, PeerTimeoutPolicy(options_.policy), nullptr});
    }
  }
  peers_.swap(next);
  next.clear();  // closes clients of peers that left

  auto cycle = std::make_shared<Cycle>();
  cycle->requester_id = options_.requester_id;
  cycle->requester_dc = options_.requester_dc;
  cycle->page_size = options_.page_size;
  absl::Duration longest = absl::ZeroDuration();
  {
    absl::MutexLock lock(&cycle->mu);
    cycle->reports.resize(peers.size());
    cycle->results.resize(peers.size(),
                          absl::DeadlineExceededError("no answer"));
    cycle->finished.resize(peers.size(), false);
    cycle->finished_at.resize(peers.size());
    cycle->started_at.resize(peers.size());
    cycle->remaining = static_cast<int>(peers.size());
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    PeerState& state = *peers_[peers[i].Key()];
    longest = std::max(longest, state.policy.timeout());
    Start(state, static_cast<int>(i), cycle);
  }

  std::vector<PeerReport> reports;
  std::vector<absl::Status> results;
  std::vector<std::chrono::steady_clock::time_point> started_at;
  std::vector<std::chrono::steady_clock::time_point> finished_at;
  {
    absl::MutexLock lock(&cycle->mu);
    auto done = [&cycle]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(cycle->mu) {
      return cycle->remaining == 0;
    };
    AwaitWithSteadyTimeout(&cycle->mu, absl::Condition(&done),
                           longest + options_.slack - elapsed());
    cycle->closed = true;
    reports = std::move(cycle->reports);
    results = cycle->results;
    finished_at = cycle->finished_at;
    started_at = cycle->started_at;
    for (size_t i = 0; i < peers.size(); ++i) {
      if (!cycle->finished[i]) results[i] = absl::DeadlineExceededError("late");
    }
  }
  int degraded = 0;
  for (size_t i = 0; i < peers.size(); ++i) {
    PeerReport& report = reports[i];
    report.id = peers[i].id;
    report.datacenter = peers[i].datacenter;
    PeerTimeoutPolicy& policy = peers_[peers[i].Key()]->policy;
    if (results[i].ok()) {
      report.answered = true;
      policy.OnSuccess(absl::FromChrono(finished_at[i] - started_at[i]));
      calls_ok_->Increment();
    } else {
      report.answered = false;
      report.table.Clear();
      if (absl::IsDeadlineExceeded(results[i])) {
        policy.OnTimeout();
        calls_timeout_->Increment();
      } else {
        policy.OnError();
        calls_error_->Increment();
      }
      VLOG(1) << "partial table of " << peers[i].Key() << " at "
              << peers[i].address << ": " << results[i];
    }
    if (policy.degraded()) ++degraded;
  }
  degraded_->Set(degraded);
  collect_seconds_->Observe(absl::ToDoubleSeconds(elapsed()));
  return reports;
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
