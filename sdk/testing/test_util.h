// Helpers shared by the SDK's tests: the bound of their waits, a temp
// cache dir, a fake agent API. (A port nobody listens on:
// common/transport/testing's UnusedPort.)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/status.h"

namespace kess {
namespace sdk {
namespace testing {

// The bound of the tests' waits (common/testing/wait_for.h): "did not
// hang", never a speed claim.
inline constexpr absl::Duration kLong = absl::Seconds(30);

// A new empty directory under $TEST_TMPDIR (or /tmp); "" on failure.
std::string MakeTempDir(const std::string& prefix);

// A stand-in for the agent's subscription API: POST /v1/subscriptions
// answers 200 and records the body.
class FakeAgent {
 public:
  // Serves on `port` (0: any free one).
  static absl::StatusOr<std::unique_ptr<FakeAgent>> Start(int port = 0);
  ~FakeAgent() { server_->Stop(); }

  int port() const { return server_->port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
  int posts() const;
  std::string last_body() const;
  // Bodies of POST /v1/subscriptions, in order.
  std::vector<std::string> post_bodies() const;
  // Bodies of DELETE /v1/subscriptions, in order.
  std::vector<std::string> delete_bodies() const;

 private:
  FakeAgent() = default;

  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  mutable absl::Mutex mu_;
  int posts_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_body_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> post_bodies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> delete_bodies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace sdk
}  // namespace kess
