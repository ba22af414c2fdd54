// HostIndex: one immutable, sorted view of every host the mandators of every
// DC hear (the merged answers of GET /api/v1/hosts?scope=local), with its
// summary computed once, so that the Hosts page's requests at fleet scale
// (50,000 hosts) cost a page, not the fleet:
//
//   Summary()  the counts by DC, by distributor and by revision lag, and
//              the most-behind hosts (built with the index; O(1) per call)
//   Page(q)    one page of the hosts matching a query, in a stable order,
//              with the number of matches and a page token to continue;
//              serializes at most q.limit rows
//
// Lag: a host's `synced_revision` is the distributor's revision it last
// heard (the host heartbeat's synced_revision); the newest is the highest
// any host reports, and a host lags by newest - synced_revision. An agent
// whose keys did not change learns its distributor's newer revision only
// at its next periodic pull (30 s), so a lag alone is not a problem: a host
// is "behind" once the first revision newer than its own was reported by
// some host at least `grace` ago (RevisionFirstSeen), and "catching up"
// before that. Hosts that report 0 (not answered by a distributor yet, or
// an agent older than the field) are "unknown", never behind.
//
// Page tokens name the last row served (not a position), so a page that
// follows a rebuilt index continues after that row: no host is served twice
// in one order, and hosts added meanwhile appear where they sort.
//
// Thread-safety: immutable after construction; every method is const.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/http_server.h"
#include "common/status.h"

namespace kess {
namespace mandator {
namespace ui {

struct HostRow {
  std::string datacenter;
  std::string host_id;
  std::string distributor;
  int64_t revision = 0;         // newest revision on the host's disk
  int64_t synced_revision = 0;  // 0: unknown
  int64_t last_heartbeat_age_ms = 0;
  int64_t synced_age_ms = 0;  // how long it has reported synced_revision
  std::string agent_version;  // the agent's release; "" before the field
  std::vector<std::string> mandators;  // which mandators hear it
};

// When each synced revision was first reported by any host, on the
// gathering mandator's monotonic clock (ms); the ClusterView keeps it
// across gatherings (at most kMaxRevisionsSeen revisions, oldest dropped).
using RevisionFirstSeen = std::map<int64_t, int64_t>;
inline constexpr size_t kMaxRevisionsSeen = 100000;

struct HostQuery {
  // Filters (all must match; empty = any).
  std::string prefix;       // host id starts with
  std::string contains;     // host id contains
  std::string datacenter;   // exactly
  std::string distributor;  // exactly ("none": reported none)
  bool behind = false;      // only hosts behind (past the grace)
  int64_t min_lag = 0;      // only hosts at least this far behind (> 0)
  // Order: "name" (datacenter, host id) or "lag" (most behind first, then
  // datacenter and host id).
  std::string sort = "name";
  size_t limit = 50;       // 1..1000
  std::string page_token;  // "" = first page
};

inline constexpr size_t kMaxHostPageLimit = 1000;

// The query of GET /api/v1/hosts: limit, page_token, prefix, q (contains),
// dc, distributor, behind=true, min_lag, sort. 400 on bad values.
absl::StatusOr<HostQuery> ParseHostQuery(const HttpRequest& request);

// True if the request asks for the paginated form (any of the parameters
// above); without them GET /api/v1/hosts answers the full list as before.
bool IsPagedHostRequest(const HttpRequest& request);

class HostIndex {
 public:
  // `rows` in any order (unique by datacenter and host id);
  // `unreachable`: the DCs / mandators that did not answer; `first_seen`
  // and `now_ms` on one clock (a revision missing from it counts as seen
  // now).
  HostIndex(std::vector<HostRow> rows, std::vector<std::string> unreachable,
            const RevisionFirstSeen& first_seen = {}, int64_t now_ms = 0,
            int64_t grace_ms = 60000);

  size_t size() const { return rows_.size(); }
  int64_t newest_revision() const { return newest_; }

  // {"hosts", "newest_revision", "at_newest", "catching_up", "behind",
  //  "unknown_revision", "grace_ms",
  //  "lag": [{"lag": "1", "hosts"}, {"lag": "2-10"}, {"lag": "11-100"},
  //          {"lag": ">100"}],
  //  "datacenters": [{"name", "hosts", "at_newest", "catching_up",
  //                   "behind", "unknown_revision"}],
  //  "distributors": [{"address", ...the same counts}] (most hosts first,
  //                   at most 100),
  //  "distributors_total",
  //  "laggards": [host rows, most behind first, at most 20],
  //  "unreachable": [...]}
  const std::string& SummaryJson() const { return summary_json_; }

  // {"hosts": [host rows], "total": matches, "next_page_token"?: ...,
  //  "newest_revision", "unreachable": [...]}. A host row: {"host_id",
  //  "datacenter", "distributor", "revision", "synced_revision", "lag"
  //  (null when unknown), "behind_ms" (how long a newer revision has been
  //  out; null unless lag > 0), "behind" (past the grace), "synced_age_ms",
  //  "last_heartbeat_age_ms", "agent_version", "mandators"}. INVALID_ARGUMENT for a malformed page token.
  absl::StatusOr<std::string> PageJson(const HostQuery& query) const;

  // Every row in name order, as the unpaginated GET /api/v1/hosts answers.
  std::string FullJson() const;

 private:
  int64_t LagOf(const HostRow& row) const;  // -1: unknown
  int64_t BehindMsOf(const HostRow& row) const;  // -1: not lagging
  bool IsBehind(const HostRow& row) const;
  std::string RowJson(const HostRow& row) const;
  bool Matches(const HostRow& row, const HostQuery& query) const;
  void BuildSummary();

  std::vector<HostRow> rows_;         // by (datacenter, host_id)
  std::vector<uint32_t> by_lag_;      // indexes of rows_, most behind first
  std::vector<std::string> unreachable_;
  int64_t newest_ = 0;
  // Revision -> ms since it was first seen, for the rows' revisions' next.
  std::map<int64_t, int64_t> newer_out_ms_;
  int64_t grace_ms_ = 0;
  std::string summary_json_;
};

}  // namespace ui
}  // namespace mandator
}  // namespace kess
