// FakeDistributor: an in-test distributor on a real transport Server that
// speaks model/protocol/distribution.proto (Subscribe, Pull, Unsubscribe,
// pushes of kess.Update), for agent tests until the real distributor and
// ZooKeeper-backed end-to-end tests exist.
//
// It holds a map of resources with one global revision; Set/Delete bump it
// and push the change to every connection subscribed to the key (unless
// pushes are switched off, to test that pulls repair). It answers a
// Subscribe/Pull only with keys newer than the agent's known revision, and
// records what agents sent so tests can assert on it.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/file_cache/format.h"
#include "common/metrics.h"
#include "model/protocol/distribution.pb.h"
#include "common/transport/server.h"

namespace kess {
namespace agent {
namespace testing {

class FakeDistributor {
 public:
  struct Options {
    int port = 0;  // 0: ephemeral; a restarted fake reuses its old port
    std::string auth_token;  // if set, Subscribe requires it
    absl::Duration heartbeat_timeout = absl::Seconds(15);
    // At most this many resources per Subscribe/Pull answer; the others are
    // counted in SubscribeResponse.deferred, as the real distributor does at
    // its byte budget (0: no limit).
    int max_updates_per_answer = 0;
  };

  static absl::StatusOr<std::unique_ptr<FakeDistributor>> Start(
      Options options);
  // As above, seeded with the resources and revision of `other` (to restart
  // a distributor on the same port with the same data).
  static absl::StatusOr<std::unique_ptr<FakeDistributor>> Restart(
      Options options, const FakeDistributor& other);
  ~FakeDistributor();

  int port() const { return server_->port(); }
  std::string address() const;

  // Sets a value (new revision) and pushes it; returns the revision.
  int64_t Set(const file_cache::CacheKey& key, const std::string& value);
  int64_t Delete(const file_cache::CacheKey& key);
  // Off: changes are not pushed (only Subscribe/Pull answers carry them).
  void SetPushEnabled(bool enabled);
  // On: every resource sent has a wrong crc32.
  void SetCorruptCrc(bool corrupt);

  int64_t revision() const;
  size_t connections() const { return server_->connection_count(); }

  // Everything received, in order.
  std::vector<protocol::SubscribeRequest> subscribes() const;
  int pulls() const;
  // kess.Unsubscribe requests received.
  int unsubscribes() const;
  int64_t resources_sent() const;
  // Known revisions a Subscribe or Pull carried that were ahead of what
  // this distributor ever had for the key (would mean the agent invented
  // revisions).
  int known_ahead() const;

 private:
  explicit FakeDistributor(Options options) : options_(std::move(options)) {}
  absl::Status Init();
  protocol::SubscribeResponse Answer(
      uint64_t connection,
      const google::protobuf::RepeatedPtrField<protocol::Known>& keys)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  protocol::Resource ResourceFor(const file_cache::CacheKey& key) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushChange(const file_cache::CacheKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  metrics::Registry registry_;
  std::unique_ptr<transport::Server> server_;

  mutable absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<file_cache::CacheKey, protocol::Resource> data_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::set<file_cache::CacheKey>> subscribers_
      ABSL_GUARDED_BY(mu_);
  bool push_enabled_ ABSL_GUARDED_BY(mu_) = true;
  bool corrupt_crc_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<protocol::SubscribeRequest> subscribes_ ABSL_GUARDED_BY(mu_);
  int pulls_ ABSL_GUARDED_BY(mu_) = 0;
  int unsubscribes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t resources_sent_ ABSL_GUARDED_BY(mu_) = 0;
  int known_ahead_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace testing
}  // namespace agent
}  // namespace kess
