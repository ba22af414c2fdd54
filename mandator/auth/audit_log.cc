#include "mandator/auth/audit_log.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "common/paging.h"
#include "glog/logging.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

// Fields are cut to these many bytes (a hostile path or header cannot make
// a record large).
constexpr size_t kMaxFieldBytes = 512;
constexpr size_t kMaxDetailBytes = 2048;
constexpr size_t kReadBatch = 256;
constexpr size_t kWriteBatch = 200;

std::string Cut(std::string s, size_t max) {
  if (s.size() > max) {
    s.resize(max);
    s += "...";
  }
  return s;
}

// The wall time in a record's name: "r-<13 digits>-...".
int64_t NameTimeMs(const std::string& name) {
  int64_t ms = 0;
  if (name.size() < 15 || !absl::StartsWith(name, "r-")) return 0;
  if (!absl::SimpleAtoi(name.substr(2, 13), &ms)) return 0;
  return ms;
}

metrics::Counter* AuditCounter(metrics::Registry* registry,
                               const char* result) {
  return registry->GetCounter(
      "kess_audit_records_total",
      "Audit records: written, dropped (refused attempts over the rate "
      "limit, counted in the next record's suppressed), error (not "
      "written: ZooKeeper failed)",
      {{"result", result}});
}

}  // namespace

std::string AuditRecordToJson(const AuditRecord& r) {
  std::string json = absl::StrCat(
      "{\"time_ms\":", r.time_ms, ",\"who\":", JsonQuote(r.who),
      ",\"client\":", JsonQuote(r.client),
      ",\"datacenter\":", JsonQuote(r.datacenter),
      ",\"mandator\":", JsonQuote(r.mandator),
      ",\"action\":", JsonQuote(r.action), ",\"what\":", JsonQuote(r.what),
      ",\"detail\":", JsonQuote(r.detail), ",\"result\":", JsonQuote(r.result),
      ",\"http_status\":", r.http_status, ",\"suppressed\":", r.suppressed);
  if (!r.id.empty()) absl::StrAppend(&json, ",\"id\":", JsonQuote(r.id));
  return json + "}";
}

absl::StatusOr<AuditRecord> AuditRecordFromJson(const std::string& json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o, ParseJsonObject(json));
  AuditRecord r;
  try {
    r.time_ms = o->optValue<int64_t>("time_ms", 0);
    r.who = o->optValue<std::string>("who", "");
    r.client = o->optValue<std::string>("client", "");
    r.datacenter = o->optValue<std::string>("datacenter", "");
    r.mandator = o->optValue<std::string>("mandator", "");
    r.action = o->optValue<std::string>("action", "");
    r.what = o->optValue<std::string>("what", "");
    r.detail = o->optValue<std::string>("detail", "");
    r.result = o->optValue<std::string>("result", "");
    r.http_status = o->optValue<int>("http_status", 0);
    r.suppressed = o->optValue<int64_t>("suppressed", 0);
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(e.displayText());
  }
  return r;
}

AuditLog::AuditLog(zk::ZkApi* zk, Options options)
    : zk_(zk),
      options_(std::move(options)),
      refused_tokens_(options_.refused_burst),
      written_(AuditCounter(options_.registry, "written")),
      dropped_(AuditCounter(options_.registry, "dropped")),
      failed_(AuditCounter(options_.registry, "error")) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AuditLog::~AuditLog() {
  Flush(absl::Seconds(5));
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  writer_.join();
}

bool AuditLog::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && in_flight_ == 0;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void AuditLog::WriterLoop() {
  for (;;) {
    std::vector<std::pair<std::string, std::string>> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping
      while (!queue_.empty() && batch.size() < kWriteBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      in_flight_ = batch.size();
    }
    WriteBatch(std::move(batch));
    absl::MutexLock lock(&mu_);
    in_flight_ = 0;
  }
}

void AuditLog::WriteBatch(
    std::vector<std::pair<std::string, std::string>> batch) {
  auto multi = [&] {
    zk::MultiOps ops;
    for (const auto& [path, data] : batch) ops.Create(path, data);
    return zk_->Multi(ops).status();
  };
  absl::Status done = multi();
  if (absl::IsNotFound(done)) {  // the first records: no directory yet
    absl::StatusOr<std::string> dir = zk_->Create(AuditDir(), "");
    if (dir.ok() || absl::IsAlreadyExists(dir.status())) done = multi();
  }
  if (done.ok()) {
    written_->Increment(batch.size());
    return;
  }
  // One by one: one bad record (or one already written by a multi whose
  // answer was lost) does not cost the others.
  for (const auto& [path, data] : batch) {
    absl::StatusOr<std::string> created = zk_->Create(path, data);
    if (created.ok() || absl::IsAlreadyExists(created.status())) {
      written_->Increment();
    } else {
      failed_->Increment();
      LOG(ERROR) << "audit record " << path
                 << " not written: " << created.status();
    }
  }
}

int64_t AuditLog::NowMs() const {
  return options_.clock != nullptr ? options_.clock->NowMs()
                                   : absl::ToUnixMillis(absl::Now());
}

bool AuditLog::TakeRefusedToken(int64_t now_ms) {
  if (refused_refill_ms_ == 0) refused_refill_ms_ = now_ms;
  const double elapsed_s = (now_ms - refused_refill_ms_) / 1000.0;
  if (elapsed_s > 0) {
    refused_tokens_ =
        std::min<double>(options_.refused_burst,
                         refused_tokens_ + elapsed_s * options_.refused_per_second);
    refused_refill_ms_ = now_ms;
  }
  if (refused_tokens_ < 1) return false;
  refused_tokens_ -= 1;
  return true;
}

void AuditLog::Record(AuditRecord record) {
  const int64_t now = NowMs();
  const bool refused = record.http_status == 401 ||
                       record.http_status == 403 || record.http_status == 429;
  record.time_ms = now;
  if (record.datacenter.empty()) record.datacenter = options_.datacenter;
  if (record.mandator.empty()) record.mandator = options_.member_id;
  record.who = Cut(std::move(record.who), kMaxFieldBytes);
  record.client = Cut(std::move(record.client), kMaxFieldBytes);
  record.mandator = Cut(std::move(record.mandator), kMaxFieldBytes);
  record.action = Cut(std::move(record.action), kMaxFieldBytes);
  record.what = Cut(std::move(record.what), kMaxFieldBytes);
  record.detail = Cut(std::move(record.detail), kMaxDetailBytes);
  record.result = Cut(std::move(record.result), kMaxDetailBytes);
  absl::MutexLock lock(&mu_);
  if (refused) {
    if (!TakeRefusedToken(now)) {
      ++suppressed_;
      dropped_->Increment();
      return;
    }
    record.suppressed = suppressed_;
    suppressed_ = 0;
  }
  if (queue_.size() >= options_.max_queued) {
    dropped_->Increment();
    return;
  }
  const int64_t sequence = ++sequence_ % 1000000;
  const std::string name =
      absl::StrFormat("r-%013d-%s-%s-%06d", now, options_.datacenter,
                      options_.member_id, sequence);
  queue_.emplace_back(absl::StrCat(AuditDir(), "/", name),
                      AuditRecordToJson(record));
}

AuditRecord RequestRecord(const HttpRequest& request, const std::string& who,
                          const std::string& action, const std::string& detail,
                          const HttpResponse& response, bool via_peer) {
  AuditRecord r;
  r.who = who;
  const std::string forwarded_for =
      via_peer ? request.Header("x-kess-forwarded-for") : std::string();
  // A follower names the client it forwards for; the connection's own
  // address is kept too, so a client cannot hide behind a claimed one.
  r.client = forwarded_for.empty()
                 ? request.remote_address
                 : absl::StrCat(forwarded_for, " via ", request.remote_address);
  if (via_peer) r.mandator = request.Header("x-kess-forwarded-by");
  r.action = action;
  r.what = absl::StrCat(request.method, " ", request.path);
  r.detail = detail;
  r.http_status = response.status;
  r.result = "ok";
  if (response.status < 200 || response.status >= 300) {
    // {"error":{"code","message"}} -> its message; any other body as is.
    r.result = std::string(response.Body());
    absl::StatusOr<Poco::JSON::Object::Ptr> body = ParseJsonObject(r.result);
    if (body.ok()) {
      Poco::JSON::Object::Ptr error = (*body)->getObject("error");
      if (error) r.result = error->optValue<std::string>("message", r.result);
    }
  }
  return r;
}

absl::StatusOr<AuditPage> AuditLog::List(const AuditFilter& filter,
                                         size_t limit,
                                         const std::string& cursor) {
  std::string after;  // the last name served; "" = from the newest
  if (!cursor.empty()) {
    KESS_ASSIGN_OR_RETURN(after, DecodePageToken(cursor));
  }
  absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(AuditDir());
  AuditPage page;
  if (absl::IsNotFound(children.status())) return page;
  if (!children.ok()) return children.status();
  std::vector<std::string> names;
  for (const std::string& name : children->children) {
    if (!after.empty() && name >= after) continue;
    if (NameTimeMs(name) < filter.since_ms) continue;
    names.push_back(name);
  }
  std::sort(names.rbegin(), names.rend());  // newest first
  // Read in batches until the page is full; the next page starts after the
  // last record examined, matching or not.
  size_t next = 0;
  std::string last_examined;
  while (next < names.size() && page.records.size() < limit) {
    std::vector<zk::GetRequest> requests;
    const size_t batch_end = std::min(names.size(), next + kReadBatch);
    for (size_t i = next; i < batch_end; ++i) {
      zk::GetRequest r;
      r.path = absl::StrCat(AuditDir(), "/", names[i]);
      requests.push_back(std::move(r));
    }
    std::vector<absl::StatusOr<zk::GetResult>> got =
        zk_->GetMany(std::move(requests));
    for (size_t i = 0; i < got.size() && page.records.size() < limit; ++i) {
      last_examined = names[next + i];
      if (absl::IsNotFound(got[i].status())) continue;  // trimmed meanwhile
      if (!got[i].ok()) return got[i].status();
      absl::StatusOr<AuditRecord> record = AuditRecordFromJson(got[i]->data);
      if (!record.ok()) continue;
      record->id = names[next + i];
      if (!filter.who.empty() && !absl::StrContains(record->who, filter.who)) {
        continue;
      }
      if (!filter.what.empty() &&
          !absl::StrContains(record->what, filter.what) &&
          !absl::StrContains(record->action, filter.what)) {
        continue;
      }
      if (filter.refused_only && record->http_status < 400) continue;
      page.records.push_back(*std::move(record));
    }
    next = batch_end;
  }
  if (!last_examined.empty() && last_examined != names.back()) {
    page.next_cursor = EncodePageToken(last_examined);
  }
  return page;
}

absl::StatusOr<size_t> AuditLog::Trim() {
  absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(AuditDir());
  if (absl::IsNotFound(children.status())) return 0;
  if (!children.ok()) return children.status();
  std::vector<std::string> names = children->children;
  std::sort(names.begin(), names.end());  // oldest first
  const int64_t horizon =
      NowMs() - absl::ToInt64Milliseconds(options_.max_age);
  size_t deleted = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const bool over_count = names.size() - i > options_.max_records;
    if (!over_count && NameTimeMs(names[i]) >= horizon) break;
    absl::Status done = zk_->Delete(absl::StrCat(AuditDir(), "/", names[i]));
    if (!done.ok() && !absl::IsNotFound(done)) return done;
    ++deleted;
  }
  return deleted;
}

}  // namespace auth
}  // namespace mandator
}  // namespace kess
