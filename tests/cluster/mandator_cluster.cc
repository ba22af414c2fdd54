#include "tests/cluster/mandator_cluster.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "mandator/http_call.h"

namespace kess {
namespace testing {

using mandator::HttpCall;

Poco::JSON::Object::Ptr JsonBody(const std::string& body) {
  auto object = ParseJsonObject(body);
  return object.ok() ? *object : Poco::JSON::Object::Ptr();
}

std::string PutBody(const std::string& value) {
  return absl::StrCat("{\"value\":", JsonQuote(value), "}");
}

Poco::JSON::Object::Ptr StatusOf(const MandatorProcess& m) {
  auto reply =
      HttpCall(m.http_address(), "GET", "/api/v1/status", "", absl::Seconds(5));
  if (!reply.ok() || reply->status != 200) return nullptr;
  return JsonBody(reply->body);
}

MandatorProcess* FindLeader(const MandatorList& mandators) {
  for (const auto& m : mandators) {
    if (!m->running()) continue;
    Poco::JSON::Object::Ptr status = StatusOf(*m);
    if (status && status->optValue<bool>("is_leader", false)) return m.get();
  }
  return nullptr;
}

MandatorProcess* WaitLeader(const MandatorList& mandators,
                            absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (MandatorProcess* m = FindLeader(mandators)) return m;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return nullptr;
}

std::string StreamKey(int i) { return absl::StrFormat("k%04d", i); }
std::string StreamValue(int i) { return absl::StrCat("value-", i); }

WriteStreamResult WriteStream(const MandatorList& mandators,
                              const WriteStreamOptions& options) {
  WriteStreamResult result;
  const absl::Time deadline = absl::Now() + options.deadline;
  size_t next = 0;
  for (int i = options.first; i < options.first + options.writes; ++i) {
    const std::string uri =
        absl::StrCat("/api/v1/configs/", options.ns, "/", StreamKey(i));
    for (;;) {
      if (absl::Now() > deadline) {
        result.status = absl::DeadlineExceededError(
            absl::StrCat("only ", result.revisions.size(), " of ",
                         options.writes, " writes acknowledged within ",
                         absl::FormatDuration(options.deadline)));
        return result;
      }
      MandatorProcess* m = mandators[next++ % mandators.size()].get();
      if (!m->running()) continue;
      auto reply = HttpCall(m->http_address(), "PUT", uri,
                            PutBody(StreamValue(i)), options.call_timeout);
      if (reply.ok() && reply->status == 200) {
        Poco::JSON::Object::Ptr ack = JsonBody(reply->body);
        if (!ack || !ack->has("revision")) {
          result.status = absl::InternalError("bad answer: " + reply->body);
          return result;
        }
        result.revisions.push_back(ack->getValue<int64_t>("revision"));
        if (options.on_ack) options.on_ack(i);
        break;
      }
      ++result.failed_attempts;
      // Retryable answers only: the leader is gone or not elected yet.
      if (reply.ok() && reply->status != 503 && reply->status != 504) {
        result.status = absl::InternalError(
            absl::StrCat(m->id(), " answered ", reply->status, " to ", uri,
                         ": ", reply->body));
        return result;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  return result;
}

DelayedKill::DelayedKill(MandatorProcess* target, const std::atomic<int>* acked,
                         int after, absl::Duration timeout) {
  thread_ = std::thread([this, target, acked, after, timeout] {
    const absl::Time deadline = absl::Now() + timeout;
    while (*acked < after) {
      if (absl::Now() > deadline) return;
      absl::SleepFor(absl::Milliseconds(1));
    }
    killed_at_ = absl::Now();
    target->Kill();
    killed_ = true;
  });
}

void DelayedKill::Join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace testing
}  // namespace kess
