#include "mandator/ui/host_index.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json_util.h"
#include "common/paging.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

constexpr size_t kSummaryLaggards = 20;
constexpr size_t kSummaryDistributors = 100;
constexpr char kParams[][12] = {"limit",       "page_token", "prefix", "q",
                                "dc",          "distributor", "behind",
                                "min_lag",     "sort"};

// Name order: (datacenter, host id), as a token key "dc\0host".
std::string NameKey(const HostRow& r) {
  return absl::StrCat(r.datacenter, std::string(1, '\0'), r.host_id);
}

struct Counts {
  int64_t hosts = 0, at_newest = 0, catching_up = 0, behind = 0, unknown = 0;
  void Add(int64_t lag, bool is_behind) {
    ++hosts;
    if (lag < 0) {
      ++unknown;
    } else if (lag == 0) {
      ++at_newest;
    } else if (is_behind) {
      ++behind;
    } else {
      ++catching_up;
    }
  }
  std::string Members() const {
    return absl::StrCat("\"hosts\":", hosts, ",\"at_newest\":", at_newest,
                        ",\"catching_up\":", catching_up,
                        ",\"behind\":", behind, ",\"unknown_revision\":",
                        unknown);
  }
};

}  // namespace

bool IsPagedHostRequest(const HttpRequest& request) {
  for (const char* p : kParams) {
    if (request.query.count(p) > 0) return true;
  }
  return false;
}

absl::StatusOr<HostQuery> ParseHostQuery(const HttpRequest& request) {
  HostQuery q;
  KESS_ASSIGN_OR_RETURN(q.limit, ParseLimit(request, 50, kMaxHostPageLimit));
  q.page_token = request.Query("page_token");
  q.prefix = request.Query("prefix");
  q.contains = request.Query("q");
  q.datacenter = request.Query("dc");
  q.distributor = request.Query("distributor");
  const std::string behind = request.Query("behind");
  if (behind == "true" || behind == "1") {
    q.behind = true;
  } else if (!behind.empty() && behind != "false" && behind != "0") {
    return absl::InvalidArgumentError("behind must be true or false");
  }
  const std::string min_lag = request.Query("min_lag");
  if (!min_lag.empty() &&
      (!absl::SimpleAtoi(min_lag, &q.min_lag) || q.min_lag < 0)) {
    return absl::InvalidArgumentError(
        "min_lag must be a non-negative number of revisions");
  }
  q.sort = request.Query("sort", "name");
  if (q.sort != "name" && q.sort != "lag") {
    return absl::InvalidArgumentError("sort must be \"name\" or \"lag\"");
  }
  return q;
}

HostIndex::HostIndex(std::vector<HostRow> rows,
                     std::vector<std::string> unreachable,
                     const RevisionFirstSeen& first_seen, int64_t now_ms,
                     int64_t grace_ms)
    : rows_(std::move(rows)),
      unreachable_(std::move(unreachable)),
      grace_ms_(grace_ms) {
  // For each revision held, how long the first newer one has been out:
  // scanning from the newest down, the earliest first sighting above.
  {
    std::set<int64_t> held;
    for (const HostRow& r : rows_) {
      if (r.synced_revision > 0) held.insert(r.synced_revision);
    }
    int64_t earliest_above = -1;  // ms of the earliest sighting seen so far
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      newer_out_ms_[*it] = earliest_above < 0 ? -1 : now_ms - earliest_above;
      auto seen = first_seen.find(*it);
      const int64_t at = seen == first_seen.end() ? now_ms : seen->second;
      earliest_above = earliest_above < 0 ? at : std::min(earliest_above, at);
    }
  }
  std::sort(rows_.begin(), rows_.end(),
            [](const HostRow& a, const HostRow& b) {
              return std::tie(a.datacenter, a.host_id) <
                     std::tie(b.datacenter, b.host_id);
            });
  for (const HostRow& r : rows_) newest_ = std::max(newest_, r.synced_revision);
  by_lag_.reserve(rows_.size());
  for (uint32_t i = 0; i < rows_.size(); ++i) by_lag_.push_back(i);
  // Most behind first; unknown (-1) last; ties in name order (stable).
  std::stable_sort(by_lag_.begin(), by_lag_.end(), [this](uint32_t a,
                                                          uint32_t b) {
    return LagOf(rows_[a]) > LagOf(rows_[b]);
  });
  BuildSummary();
}

int64_t HostIndex::LagOf(const HostRow& row) const {
  if (row.synced_revision <= 0) return -1;
  return newest_ - row.synced_revision;
}

int64_t HostIndex::BehindMsOf(const HostRow& row) const {
  if (LagOf(row) <= 0) return -1;
  auto it = newer_out_ms_.find(row.synced_revision);
  return it == newer_out_ms_.end() ? -1 : it->second;
}

bool HostIndex::IsBehind(const HostRow& row) const {
  return BehindMsOf(row) >= grace_ms_;
}

std::string HostIndex::RowJson(const HostRow& r) const {
  std::vector<std::string> quoted;
  quoted.reserve(r.mandators.size());
  for (const std::string& m : r.mandators) quoted.push_back(JsonQuote(m));
  const int64_t lag = LagOf(r);
  const int64_t behind_ms = BehindMsOf(r);
  return absl::StrCat(
      "{\"host_id\":", JsonQuote(r.host_id),
      ",\"datacenter\":", JsonQuote(r.datacenter),
      ",\"distributor\":", JsonQuote(r.distributor),
      ",\"revision\":", r.revision, ",\"synced_revision\":", r.synced_revision,
      ",\"lag\":", lag < 0 ? std::string("null") : absl::StrCat(lag),
      ",\"behind_ms\":",
      behind_ms < 0 ? std::string("null") : absl::StrCat(behind_ms),
      ",\"behind\":", IsBehind(r) ? "true" : "false",
      ",\"synced_age_ms\":", r.synced_age_ms,
      ",\"last_heartbeat_age_ms\":", r.last_heartbeat_age_ms,
      ",\"agent_version\":", JsonQuote(r.agent_version), ",\"mandators\":[", absl::StrJoin(quoted, ","), "]}");
}

bool HostIndex::Matches(const HostRow& r, const HostQuery& q) const {
  if (!q.datacenter.empty() && r.datacenter != q.datacenter) return false;
  if (!q.distributor.empty() &&
      r.distributor != (q.distributor == "none" ? "" : q.distributor)) {
    return false;
  }
  if (!q.prefix.empty() && !absl::StartsWith(r.host_id, q.prefix)) {
    return false;
  }
  if (!q.contains.empty() && !absl::StrContains(r.host_id, q.contains)) {
    return false;
  }
  if (q.behind && !IsBehind(r)) return false;
  if (q.min_lag > 0 && LagOf(r) < q.min_lag) return false;
  return true;
}

void HostIndex::BuildSummary() {
  Counts all;
  std::map<std::string, Counts> dcs;
  std::map<std::string, Counts> distributors;
  // lag 1, 2-10, 11-100, >100
  int64_t buckets[4] = {0, 0, 0, 0};
  for (const HostRow& r : rows_) {
    const int64_t lag = LagOf(r);
    const bool is_behind = IsBehind(r);
    all.Add(lag, is_behind);
    dcs[r.datacenter].Add(lag, is_behind);
    distributors[r.distributor].Add(lag, is_behind);
    if (lag >= 1) ++buckets[lag == 1 ? 0 : lag <= 10 ? 1 : lag <= 100 ? 2 : 3];
  }
  std::string& out = summary_json_;
  out = absl::StrCat("{", all.Members(), ",\"newest_revision\":", newest_,
                     ",\"grace_ms\":", grace_ms_,
                     ",\"lag\":[{\"lag\":\"1\",\"hosts\":", buckets[0],
                     "},{\"lag\":\"2-10\",\"hosts\":", buckets[1],
                     "},{\"lag\":\"11-100\",\"hosts\":", buckets[2],
                     "},{\"lag\":\">100\",\"hosts\":", buckets[3],
                     "}],\"datacenters\":[");
  bool first = true;
  for (const auto& [name, c] : dcs) {
    absl::StrAppend(&out, first ? "" : ",", "{\"name\":", JsonQuote(name), ",",
                    c.Members(), "}");
    first = false;
  }
  // Most hosts first, at most kSummaryDistributors of them.
  std::vector<std::pair<std::string, Counts>> by_size(distributors.begin(),
                                                      distributors.end());
  std::stable_sort(by_size.begin(), by_size.end(),
                   [](const auto& a, const auto& b) {
                     return a.second.hosts > b.second.hosts;
                   });
  out += "],\"distributors\":[";
  for (size_t i = 0; i < by_size.size() && i < kSummaryDistributors; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",",
                    "{\"address\":", JsonQuote(by_size[i].first), ",",
                    by_size[i].second.Members(), "}");
  }
  absl::StrAppend(&out, "],\"distributors_total\":", by_size.size(),
                  ",\"laggards\":[");
  size_t listed = 0;
  for (size_t i = 0; i < by_lag_.size() && listed < kSummaryLaggards; ++i) {
    const HostRow& r = rows_[by_lag_[i]];
    if (LagOf(r) < 1) break;
    if (!IsBehind(r)) continue;
    absl::StrAppend(&out, listed == 0 ? "" : ",", RowJson(r));
    ++listed;
  }
  out += "],\"unreachable\":[";
  for (size_t i = 0; i < unreachable_.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonQuote(unreachable_[i]));
  }
  out += "]}";
}

absl::StatusOr<std::string> HostIndex::PageJson(const HostQuery& q) const {
  const bool by_lag = q.sort == "lag";
  // Where to start: after the row the token names.
  size_t start = 0;
  if (!q.page_token.empty()) {
    KESS_ASSIGN_OR_RETURN(std::string key, DecodePageToken(q.page_token));
    if (!by_lag) {
      auto it = std::upper_bound(
          rows_.begin(), rows_.end(), key,
          [](const std::string& k, const HostRow& r) { return k < NameKey(r); });
      start = static_cast<size_t>(it - rows_.begin());
    } else {
      // "lag\0dc\0host"; the order is (lag desc, dc, host).
      std::vector<std::string> parts =
          absl::StrSplit(key, absl::MaxSplits('\0', 1));
      int64_t lag = 0;
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &lag)) {
        return absl::InvalidArgumentError(
            "page_token is not a token of this listing");
      }
      auto after = [&](uint32_t i) {
        const int64_t l = LagOf(rows_[i]);
        return l < lag || (l == lag && NameKey(rows_[i]) > parts[1]);
      };
      auto it = std::partition_point(by_lag_.begin(), by_lag_.end(),
                                     [&](uint32_t i) { return !after(i); });
      start = static_cast<size_t>(it - by_lag_.begin());
    }
  }
  const bool filtered = !q.prefix.empty() || !q.contains.empty() ||
                        !q.datacenter.empty() || !q.distributor.empty() ||
                        q.behind || q.min_lag > 0;
  // The total is counted over the whole index (a scan of the rows, no JSON);
  // only `limit` rows are serialized.
  size_t total = 0;
  if (!filtered) {
    total = rows_.size();
  } else {
    for (const HostRow& r : rows_) total += Matches(r, q) ? 1 : 0;
  }
  std::string out = "{\"hosts\":[";
  size_t served = 0;
  const HostRow* last = nullptr;
  bool more = false;
  for (size_t i = start; i < rows_.size(); ++i) {
    const HostRow& r = by_lag ? rows_[by_lag_[i]] : rows_[i];
    if (!Matches(r, q)) continue;
    if (served == q.limit) {
      more = true;
      break;
    }
    absl::StrAppend(&out, served == 0 ? "" : ",", RowJson(r));
    ++served;
    last = &r;
  }
  absl::StrAppend(&out, "],\"total\":", total);
  if (more && last != nullptr) {
    const std::string key =
        by_lag ? absl::StrCat(LagOf(*last), std::string(1, '\0'),
                              NameKey(*last))
               : NameKey(*last);
    absl::StrAppend(&out, ",\"next_page_token\":",
                    JsonQuote(EncodePageToken(key)));
  }
  absl::StrAppend(&out, ",\"newest_revision\":", newest_, ",\"unreachable\":[");
  for (size_t i = 0; i < unreachable_.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonQuote(unreachable_[i]));
  }
  out += "]}";
  return out;
}

std::string HostIndex::FullJson() const {
  std::string out = "{\"hosts\":[";
  for (size_t i = 0; i < rows_.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", RowJson(rows_[i]));
  }
  absl::StrAppend(&out, "],\"newest_revision\":", newest_, ",\"unreachable\":[");
  for (size_t i = 0; i < unreachable_.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonQuote(unreachable_[i]));
  }
  out += "]}";
  return out;
}

}  // namespace ui
}  // namespace mandator
}  // namespace kess
