// A simulated agent for distributor tests and the scale test: one
// transport Client speaking kess.Subscribe / kess.Pull / kess.Unsubscribe
// and applying kess.Update pushes, keeping per key the newest Resource it
// was sent (only newer revisions are applied, as a real agent does).
//
// Thread-safety: thread-safe; the blocking calls must not run on the loop
// thread. Many TestAgents share one EventLoop.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "model/protocol/distribution.pb.h"
#include "common/status.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"

namespace kess {
namespace distributor {
namespace testing {

protocol::ResourceKey ConfigKey(const std::string& ns, const std::string& key);
protocol::ResourceKey RouteKey(const std::string& service);

class TestAgent {
 public:
  struct Options {
    int port = 0;
    std::string host_id = "host-1";
    std::string auth_token;
    absl::Duration call_timeout = absl::Seconds(30);
    metrics::Registry* registry = nullptr;
    // TLS to the distributor (a client context); nullptr: plain TCP.
    std::shared_ptr<tls::TlsContext> tls;
  };
  // Connects (waits up to 10 s).
  static absl::StatusOr<std::unique_ptr<TestAgent>> Connect(
      transport::EventLoop* loop, Options options);
  // Starts connecting and returns; see connected().
  static absl::StatusOr<std::unique_ptr<TestAgent>> Start(
      transport::EventLoop* loop, Options options);
  ~TestAgent();

  // Subscribes `keys` with the revisions held (0 if none) and applies the
  // answer.
  absl::StatusOr<protocol::SubscribeResponse> Subscribe(
      const std::vector<protocol::ResourceKey>& keys);
  // Asynchronous Subscribe for many agents at once; `done` on the loop.
  void SubscribeAsync(const std::vector<protocol::ResourceKey>& keys,
                      std::function<void(absl::Status)> done);
  // kess.Pull with what is held for every key subscribed so far.
  absl::StatusOr<protocol::SubscribeResponse> Pull();
  absl::Status Unsubscribe(const std::vector<protocol::ResourceKey>& keys);
  // A raw call (for malformed payloads).
  absl::StatusOr<std::string> Call(const std::string& method,
                                   const std::string& payload);

  // The newest resource held for `key`, if any.
  std::optional<protocol::Resource> Get(const protocol::ResourceKey& key) const;
  int64_t RevisionOf(const protocol::ResourceKey& key) const;
  // Pretend to hold `revision` of key (e.g. from a file cache).
  void SetHeld(const protocol::Resource& resource);
  // Ignore pushes from now on (a "lost push").
  void set_drop_pushes(bool drop) { drop_pushes_ = drop; }

  int64_t pushes() const { return pushes_.load(); }
  bool last_push_stale() const { return last_push_stale_.load(); }
  bool connected() const;
  bool disconnected() const { return disconnected_.load(); }
  absl::Status connect_status() const;

 private:
  explicit TestAgent(Options options) : options_(std::move(options)) {}
  void Apply(const protocol::Resource& resource);
  void ApplyAnswer(const std::string& payload);
  std::string SubscribePayload(const std::vector<protocol::ResourceKey>& keys);

  const Options options_;
  std::unique_ptr<transport::Client> client_;
  mutable absl::Mutex mu_;
  std::map<std::string, protocol::Resource> held_ ABSL_GUARDED_BY(mu_);
  std::vector<protocol::ResourceKey> subscribed_ ABSL_GUARDED_BY(mu_);
  absl::Status connect_status_ ABSL_GUARDED_BY(mu_) =
      absl::UnavailableError("connecting");
  std::atomic<bool> connected_{false};
  std::atomic<bool> disconnected_{false};
  std::atomic<bool> drop_pushes_{false};
  std::atomic<bool> last_push_stale_{false};
  std::atomic<int64_t> pushes_{0};
};

}  // namespace testing
}  // namespace distributor
}  // namespace kess
