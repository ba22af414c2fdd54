// AuditLog: who changed what, from where, when, with what result — every
// write to the admin API and every refused attempt (docs/security.md,
// "Audit log").
//
// Records live in ZooKeeper under <root>/audit, one persistent node each,
// named so that names sort by time:
//   r-<unix ms, 13 digits>-<datacenter>-<mandator id>-<sequence, 6 digits>
// with a JSON body (AuditRecordToJson). Each mandator writes the records
// of the requests it took into its own DC's ZooKeeper; the main DC's
// records are copied to the slave DCs with the data
// (replication/subtree_mirror.h), so any DC's API lists the main DC's
// writes plus what was refused at that DC.
//
// What a record never holds: a secret (a token's or a password's value), or
// a config's value (only the SHA-256 and size of the new value, and not even
// those for a secret namespace's: http_api.cc records `value=secret`).
//
// Refused attempts (401/403/429 on writes) are rate-limited per mandator
// (a token bucket, `refused_burst` at once, `refused_per_second` after):
// one that finds no token is not written, only counted, and the next
// refused record written carries how many were dropped (`suppressed`), so
// that an attacker cannot fill ZooKeeper and an operator still sees the
// volume. Allowed writes are always recorded.
//
// Record() only queues (a write's latency does not grow): one thread per
// log writes the queue in batches (one ZooKeeper multi of up to 200
// creates); at most `max_queued` records wait, more are dropped and
// counted (kess_audit_records_total{result="dropped"}).
//
// Retention: Trim() deletes the oldest records beyond `max_records` and
// those older than `max_age` (the daemon calls it on each DC's leader every
// few seconds).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <thread>
#include <utility>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/status.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace auth {

struct AuditRecord {
  int64_t time_ms = 0;     // wall time; set by Record()
  std::string who;         // the principal's name ("" = unauthenticated)
  std::string client;      // the client's address
  std::string datacenter;  // that received the request; set by Record()
  std::string mandator;    // that received the request; set by Record()
  std::string action;      // "config.put", "token.create", "refused", ...
  std::string what;        // "PUT /api/v1/configs/payments/db", ...
  std::string detail;      // hashes of old/new values, names, never secrets
  std::string result;      // "ok", or the refusal's / error's message
  int http_status = 200;
  int64_t suppressed = 0;  // refused records dropped before this one
  std::string id;          // the node's name; set when read
};

// The record of a request handled by `who`: what = "<METHOD> <path>",
// client = the address that sent it (a forwarded write's
// "<X-Kess-Forwarded-For> via <follower's address>"), `result` "ok" for 2xx,
// else the answer's body. The forwarding headers (X-Kess-Forwarded-For,
// X-Kess-Forwarded-By: the record's `mandator`) are believed only when
// `via_peer`, i.e. the request was authenticated with the mandators' peer
// credential (Principal::via_peer); any other client's are ignored.
AuditRecord RequestRecord(const HttpRequest& request, const std::string& who,
                          const std::string& action, const std::string& detail,
                          const HttpResponse& response, bool via_peer = false);

std::string AuditRecordToJson(const AuditRecord& record);
absl::StatusOr<AuditRecord> AuditRecordFromJson(const std::string& json);

// One listing of this many record names stays under ZooKeeper's 1 MB
// answer limit.
inline constexpr size_t kMaxAuditRecords = 20000;

struct AuditFilter {
  std::string who;   // substring of who; "" = any
  std::string what;  // substring of what or action; "" = any
  int64_t since_ms = 0;  // records at or after this wall time
  bool refused_only = false;
};

struct AuditPage {
  std::vector<AuditRecord> records;  // newest first
  std::string next_cursor;           // "" = no more
};

class AuditLog {
 public:
  struct Options {
    std::string root = "/kess";
    std::string datacenter;
    std::string member_id;
    size_t max_records = 10000;  // at most kMaxAuditRecords
    absl::Duration max_age = absl::Hours(24 * 90);
    double refused_per_second = 1;
    int refused_burst = 20;
    // Wall time in ms; nullptr: absl::Now().
    const Clock* clock = nullptr;
    metrics::Registry* registry = &metrics::Registry::Default();
    size_t max_queued = 10000;
  };

  // `zk` (this DC's ZooKeeper, as user mandator) must outlive the log.
  AuditLog(zk::ZkApi* zk, Options options);
  // Writes what is queued (for at most 5 s), then stops.
  ~AuditLog();

  // Queues `record` (a refused one subject to the rate limit); its time,
  // and the DC and mandator unless set (a forwarded write names the
  // mandator that received it), are filled in here. Failures are logged
  // and counted (kess_audit_records_total{result="error"}), never returned
  // to the request that caused them: the write happened.
  void Record(AuditRecord record);

  // Waits (at most `timeout`) until every record queued so far is written
  // or failed; false on timeout.
  bool Flush(absl::Duration timeout);

  // One page of records matching `filter`, newest first, after `cursor` (a
  // previous page's next_cursor, an opaque common/paging.h token).
  absl::StatusOr<AuditPage> List(const AuditFilter& filter, size_t limit,
                                 const std::string& cursor);

  // Applies the retention; returns how many records were deleted.
  absl::StatusOr<size_t> Trim();

  std::string AuditDir() const { return options_.root + "/audit"; }

 private:
  int64_t NowMs() const;
  bool TakeRefusedToken(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriterLoop();
  void WriteBatch(std::vector<std::pair<std::string, std::string>> batch);

  zk::ZkApi* const zk_;
  const Options options_;
  absl::Mutex mu_;
  int64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  double refused_tokens_ ABSL_GUARDED_BY(mu_);
  int64_t refused_refill_ms_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
  // (path, data) of records not written yet.
  std::deque<std::pair<std::string, std::string>> queue_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
  metrics::Counter* const written_;
  metrics::Counter* const dropped_;
  metrics::Counter* const failed_;
};

}  // namespace auth
}  // namespace mandator
}  // namespace kess
