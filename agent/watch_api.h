// GET /v1/watch: the agent's blocking watch (long poll) over its file
// cache, for processes in any language (docs/agent-api.md "Blocking
// watch").
//
//   GET /v1/watch?config=shop/db.timeout&namespace=shop&service=payments
//                 &index=<n>&epoch=<e>&timeout=30s[&values=false]
//
// `config`, `namespace`, `service` may each be repeated or hold a comma
// list. The answer (200, JSON; also headers X-Kess-Epoch, X-Kess-Index):
//
//   {"epoch":"9f..","index":57,"full":false,"timed_out":false,
//    "changes":[ <the cache file's JSON object, docs/file-cache.md>, ...]}
//
// With values=false each change is {"type","namespace","key"|"service",
// "revision","absent"} only. "full": true means the answer is the complete
// current state of the selection (first call, or the agent restarted):
// every key of the selection the agent holds (subscribed by itself or
// through a subscribed namespace) that has a file. Keys must be
// subscribed (POST /v1/subscriptions) to ever change.
//
// Errors: 400 for invalid names, an empty selection, more than
// kMaxWatchSelection entries, a bad index or timeout; 429 when too many
// watches wait.
//
// Thread-safety: the handler runs on the http::EventHttpServer's loop
// thread; full answers are read and rendered on FullAnswers' threads.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/watch_registry.h"
#include "common/http/event_http_server.h"
#include "common/http_server.h"
#include "model/file_cache/format.h"

namespace kess {
namespace agent {

inline constexpr size_t kMaxWatchSelection = 1000;
inline constexpr absl::Duration kDefaultWatchTimeout = absl::Seconds(60);

// The current version of every key of a selection (for full answers).
using CurrentEntries = std::function<std::vector<file_cache::CacheEntry>(
    const WatchSelection&)>;

// Every subscribed key of `agent` matching the selection, read from its
// file cache (keys without a file are left out).
CurrentEntries CurrentFromAgent(Agent* agent);

// Reads full answers (CurrentEntries) on threads of its own, never on the
// HTTP loop: a full answer may read thousands of files, and after an agent
// restart every waiting client comes back for one at once. At most
// Options::threads reads run at a time; requests for an identical
// selection that wait together share one read (the answer of each is then
// at least as new as the state when it was queued).
//
// Thread-safety: thread-safe.
class FullAnswers {
 public:
  struct Options {
    int threads = 2;           // reads at once
    size_t max_queued = 4096;  // distinct selections waiting for a read
  };
  using Entries = std::shared_ptr<const std::vector<file_cache::CacheEntry>>;
  using Done = std::function<void(Entries)>;

  FullAnswers(CurrentEntries current, Options options);
  ~FullAnswers();  // Stop()

  // Queues `done`, called on a reader thread with the current entries of
  // `selection`. Unavailable when stopped or when max_queued distinct
  // selections wait already (done is then not called).
  absl::Status Read(const WatchSelection& selection, Done done);
  // Waits for running reads; queued ones are dropped (their done is never
  // called). Idempotent. Call it before what `current` reads goes away.
  void Stop();

  // Reads done (tests: shared reads count once).
  int64_t reads() const;

 private:
  struct Job {
    WatchSelection selection;
    std::vector<Done> done;
  };
  void Run();

  const CurrentEntries current_;
  const Options options_;
  mutable absl::Mutex mu_;
  // Waiting reads by selection (its canonical text), and their order.
  std::map<std::string, Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t reads_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

// Parses the query of a GET /v1/watch (exposed for tests).
absl::StatusOr<WatchRequest> ParseWatchRequest(const HttpRequest& request,
                                               bool* values);

// Whether a config value of namespace `ns` may be shown to the asking
// peer (nullopt: TCP): the agent passes ApiAcl::AllowsNamespace, so that
// a namespace found to hold secret values after the watch was admitted
// has them withheld. Must be thread-safe.
using ValueGate = std::function<bool(
    const std::optional<HttpRequest::PeerCredentials>& peer,
    const std::string& ns)>;

// The JSON body of an answer (exposed for tests and the benchmark). With
// `show` set, a config change of a namespace for which it says no is
// rendered without its value (as with values=false).
std::string RenderWatchAnswer(
    const WatchAnswer& answer, bool values,
    const std::vector<file_cache::CacheEntry>* full,
    const std::function<bool(const std::string& ns)>& show = nullptr);

// REQUIRES: before server->Start(); `registry` and `full` outlive the
// server. A full answer is read by `full` (503 when its queue is full).
// `gate` (may be unset: every value shown) is asked per rendered value.
void RegisterWatchApi(http::EventHttpServer* server, WatchRegistry* registry,
                      FullAnswers* full, ValueGate gate = nullptr);
// The same with a FullAnswers of default options that the server's route
// owns (it lives as long as the server; `current` must stay usable until
// the server is destroyed).
void RegisterWatchApi(http::EventHttpServer* server, WatchRegistry* registry,
                      CurrentEntries current);

}  // namespace agent
}  // namespace kess
