#include "tests/cluster/mandator_cluster.h"

#include <atomic>
#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "mandator/testing/test_util.h"

namespace kess {
namespace testing {
namespace {

// Kills `target` (kill -9) from its own thread as soon as `*acked` reaches
// `after`. Join() gives up a kill that has not happened yet.
class DelayedKill {
 public:
  DelayedKill(MandatorProcess* target, const std::atomic<int>* acked,
              int after) {
    thread_ = std::thread([this, target, acked, after] {
      while (*acked < after) {
        if (cancelled_) return;
        absl::SleepFor(absl::Milliseconds(1));
      }
      killed_at_ = absl::Now();
      target->Kill();
      killed_ = true;
    });
  }
  ~DelayedKill() { Join(); }
  void Join() {
    cancelled_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool killed() const { return killed_; }
  // Valid after Join().
  absl::Time killed_at() const { return killed_at_; }

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> killed_{false};
  absl::Time killed_at_ = absl::InfiniteFuture();
  std::thread thread_;
};

}  // namespace

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

absl::StatusOr<MandatorList> StartMainMandators(
    const std::string& zk_connect, const std::vector<std::string>& ids,
    MandatorProcessOptions base) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  KESS_ASSIGN_OR_RETURN(base.auth_file,
                        WriteAuthFile(tmp != nullptr ? tmp : "/tmp",
                                      mandator::testing::TestAuth()));
  base.datacenter = "dc1";
  base.is_main = true;
  base.zk = zk_connect;
  MandatorList mandators;
  for (const std::string& id : ids) {
    MandatorProcessOptions o = base;
    o.id = id;
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<MandatorProcess> m,
                          MandatorProcess::Start(o));
    mandators.push_back(std::move(m));
  }
  return mandators;
}

MandatorProcess* WaitLeader(const MandatorList& mandators,
                            absl::Duration timeout) {
  MandatorProcess* leader = nullptr;
  // FindLeader asks every mandator over HTTP: polled slowly.
  WaitFor(
      [&] {
        leader = FindLeader(mandators);
        return leader != nullptr;
      },
      timeout, absl::Milliseconds(100));
  return leader;
}

std::string StreamKey(int i) { return absl::StrFormat("k%04d", i); }
std::string StreamValue(int i) { return absl::StrCat("value-", i); }

namespace {

// The writes of WriteStream into `result`; the status of the stream.
absl::Status WriteAll(const MandatorList& mandators,
                      const WriteStreamOptions& options,
                      std::atomic<int>* acked, const DelayedKill* kill,
                      WriteStreamResult* result) {
  const absl::Time deadline = absl::Now() + options.deadline;
  size_t next = 0;
  for (int i = options.first; i < options.first + options.writes; ++i) {
    const std::string uri =
        absl::StrCat("/api/v1/configs/", options.ns, "/", StreamKey(i));
    for (;;) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("only ", result->revisions.size(), " of ",
                         options.writes, " writes acknowledged within ",
                         absl::FormatDuration(options.deadline)));
      }
      MandatorProcess* m = mandators[next++ % mandators.size()].get();
      if (!m->running()) continue;
      auto reply = HttpCall(m->http_address(), "PUT", uri,
                            PutBody(StreamValue(i)), options.call_timeout);
      if (reply.ok() && reply->status == 200) {
        Poco::JSON::Object::Ptr ack = JsonBody(reply->body);
        if (!ack || !ack->has("revision")) {
          return absl::InternalError("bad answer: " + reply->body);
        }
        result->revisions.push_back(ack->getValue<int64_t>("revision"));
        if (kill != nullptr && kill->killed() &&
            result->first_ack_after_kill == absl::InfiniteFuture()) {
          result->first_ack_after_kill = absl::Now();
        }
        ++*acked;
        if (options.on_ack) options.on_ack(i);
        break;
      }
      ++result->failed_attempts;
      // Retryable answers only: the leader is gone or not elected yet.
      if (reply.ok() && reply->status != 503 && reply->status != 504) {
        return absl::InternalError(absl::StrCat(m->id(), " answered ",
                                                reply->status, " to ", uri,
                                                ": ", reply->body));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  return absl::OkStatus();
}

}  // namespace

WriteStreamResult WriteStream(const MandatorList& mandators,
                              const WriteStreamOptions& options) {
  WriteStreamResult result;
  std::atomic<int> acked{0};
  std::unique_ptr<DelayedKill> kill;
  if (options.kill != nullptr) {
    kill =
        std::make_unique<DelayedKill>(options.kill, &acked, options.kill_after);
  }
  result.status = WriteAll(mandators, options, &acked, kill.get(), &result);
  if (kill != nullptr) {
    kill->Join();
    result.killed_at = kill->killed_at();
  }
  return result;
}

}  // namespace testing
}  // namespace kess
