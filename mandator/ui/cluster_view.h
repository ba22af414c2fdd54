// ClusterView: what the admin UI's Overview and Hosts pages show, gathered
// by whichever mandator the browser talks to.
//
//   GET /api/v1/cluster
//     {"datacenters": [{"name", "is_main", "self", "zookeeper": {"ensemble",
//        "reachable", "error"?}, "mandators": [{"id", "http_address",
//        "status": <its /api/v1/status> | null, "error"?}],
//        "distributors": [{"id", "http_address", "status": <its
//        /api/v1/status> | null, "error"?}]}]}
//   GET /api/v1/hosts           every DC's mandators asked for theirs:
//     {"hosts": [host rows, host_index.h], "newest_revision",
//      "unreachable": ["dc2/s1", ...]}
//   GET /api/v1/hosts?limit=&page_token=&prefix=&q=&dc=&distributor=
//       &behind=&min_lag=&sort=     one page of them (host_index.h)
//   GET /api/v1/hosts/summary   counts by DC, distributor and lag, laggards
//   GET /api/v1/hosts?scope=local   only this mandator's scheduler
//
// The paged and summary answers come from a HostIndex gathered at most once
// per `host_index_ttl` (concurrent requests share one gathering), so their
// cost per request is a page, whatever the fleet's size; the unpaginated
// list is gathered afresh on every request, as before.
//
// Which DCs: its own (own ZooKeeper), on the main DC the --other_dcs ones,
// on a slave DC the main one (--main_zk); members are read from each DC's
// ZooKeeper as user "reader" (/kess/members/{mandators,distributors}), and
// each member's HTTP address is asked with a short timeout, all at once.
// Whatever does not answer is reported with an "error" (partial results,
// never a failed page). ZooKeeper credentials never appear: only ensemble
// addresses.
//
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/status.h"
#include "mandator/scheduler/partial_table.h"
#include "mandator/ui/host_index.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace ui {

class ClusterView {
 public:
  using Connect = std::function<absl::StatusOr<std::unique_ptr<zk::ZkApi>>(
      const std::string& ensemble)>;

  struct Options {
    std::string self_id;
    std::string datacenter;
    bool is_main = false;
    std::string zk;              // own ensemble (shown)
    zk::ZkApi* local = nullptr;  // own DC; must outlive the view
    zk::Layout layout;
    // Other DCs: name -> ensemble (main: --other_dcs; slave: the main DC).
    std::map<std::string, std::string> other_datacenters;
    Connect connect;  // a reader client to another DC's ensemble
    std::function<std::string()> self_status_json;  // own /api/v1/status
    std::function<std::vector<scheduler::PartialTable::HostView>()> local_hosts;
    // The Authorization header for calls to other mandators ("" = none).
    std::string authorization;
    // Other mandators and the distributors are called at
    // https://<http_address> (they serve HTTPS, as this mandator does).
    bool https_peers = false;
    absl::Duration peer_timeout = absl::Milliseconds(1500);
    // How long a gathered HostIndex answers paged and summary requests.
    absl::Duration host_index_ttl = absl::Seconds(2);
    // A lagging host is "behind" once a newer revision has been out this
    // long (host_index.h); before that it is "catching up". Longer than the
    // agents' pull interval (30 s) plus a host heartbeat.
    absl::Duration host_behind_grace = absl::Seconds(60);
  };

  explicit ClusterView(Options options);

  // REQUIRES: before server->Start().
  void Register(HttpRoutes* server);

  struct Member {
    std::string id;
    std::string http_address;
  };
  struct DcMembers {
    std::string name;
    bool is_main = false;
    std::string ensemble;
    absl::Status zk;  // OK when listed
    std::vector<Member> mandators;
    std::vector<Member> distributors;
  };
  // Every known DC, own first.
  std::vector<DcMembers> ListDatacenters();

 private:
  HttpResponse Cluster(const HttpRequest& request);
  HttpResponse Hosts(const HttpRequest& request);
  HttpResponse HostsSummary(const HttpRequest& request);
  std::string LocalHostsJson();
  // Every DC's mandators asked for their hosts, merged, as an index.
  std::shared_ptr<const HostIndex> GatherHosts()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(index_mu_);
  // The cached index, gathered again when older than host_index_ttl.
  std::shared_ptr<const HostIndex> CurrentHostIndex();
  zk::ZkApi* ClientFor(const std::string& dc, const std::string& ensemble,
                       absl::Status* error);

  const Options options_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<zk::ZkApi>> clients_
      ABSL_GUARDED_BY(mu_);
  // Held while gathering: one gathering at a time, the others wait for it.
  absl::Mutex index_mu_;
  std::shared_ptr<const HostIndex> index_ ABSL_GUARDED_BY(index_mu_);
  absl::Time index_built_ ABSL_GUARDED_BY(index_mu_);  // MonotonicNow()
  // When each synced revision was first reported (ms of MonotonicNow()).
  // The revisions of the first gathering count as out for the grace
  // already: when they appeared is unknown.
  RevisionFirstSeen first_seen_ ABSL_GUARDED_BY(index_mu_);
  bool gathered_ ABSL_GUARDED_BY(index_mu_) = false;
};

}  // namespace ui
}  // namespace mandator
}  // namespace kess
