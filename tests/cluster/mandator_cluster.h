// Driving a set of mandator processes (one DC) through their HTTP API in
// end-to-end tests: JSON bodies, who leads, and a stream of writes that
// rides through leader changes.
//
// Thread-compatible, like MandatorProcess.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "tests/cluster/mandator_process.h"

namespace kess {
namespace testing {

using MandatorList = std::vector<std::unique_ptr<MandatorProcess>>;

// The JSON object in `body`; null if it is not one.
Poco::JSON::Object::Ptr JsonBody(const std::string& body);
// The body of a PUT: {"value": <value>}.
std::string PutBody(const std::string& value);

// GET /api/v1/status of `m` as JSON; null if it did not answer 200.
// Starts one main-DC ("dc1") mandator per id on ZooKeeper `zk_connect`,
// with a new auth file (mandator::testing::TestAuth) in $TEST_TMPDIR;
// `base` gives every other option. The mandators, or the first error.
absl::StatusOr<MandatorList> StartMainMandators(
    const std::string& zk_connect, const std::vector<std::string>& ids,
    MandatorProcessOptions base = {});

Poco::JSON::Object::Ptr StatusOf(const MandatorProcess& m);
// The running mandator whose status says it leads; nullptr if none does.
MandatorProcess* FindLeader(const MandatorList& mandators);
// FindLeader, polled until `timeout`.
MandatorProcess* WaitLeader(const MandatorList& mandators,
                            absl::Duration timeout);

// A stream of puts, write i to key StreamKey(i) of `ns` with value
// StreamValue(i).
struct WriteStreamOptions {
  std::string ns = "stream";
  int first = 0;  // index of the first write
  int writes = 1000;
  // Bound on the whole stream ("did not hang"), and per HTTP call.
  absl::Duration deadline = absl::Seconds(240);
  absl::Duration call_timeout = absl::Seconds(20);
  // Called on the writer's thread after write i was acknowledged.
  std::function<void(int)> on_ack;
  // If set: kill -9 of `kill` once `kill_after` writes were acknowledged,
  // from another thread, so that the next write is most likely in flight.
  MandatorProcess* kill = nullptr;
  int kill_after = 0;
};
std::string StreamKey(int i);    // "k0007"
std::string StreamValue(int i);  // "value-7"

struct WriteStreamResult {
  // revisions[j]: the acknowledged revision of write first + j.
  std::vector<int64_t> revisions;
  // Attempts answered 503/504 or not at all, each retried on the next
  // mandator.
  int failed_attempts = 0;
  // Not OK when an answer was not retryable or the deadline passed.
  absl::Status status;
  // With options.kill: when it was killed, and when the first write after
  // that was acknowledged (InfiniteFuture if not).
  absl::Time killed_at = absl::InfiniteFuture();
  absl::Time first_ack_after_kill = absl::InfiniteFuture();
};

// One writer, round robin over the running mandators; a write that fails
// in a retryable way (the leader is gone or not elected yet) is sent to the
// next one. Stops at the first write that fails otherwise.
WriteStreamResult WriteStream(const MandatorList& mandators,
                              const WriteStreamOptions& options);

}  // namespace testing
}  // namespace kess
