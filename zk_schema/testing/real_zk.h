// Test helpers for code that talks to a real ZooKeeper server
// (tests/harness) through ZkClient (testonly): forced session expiry,
// client options for the test servers, a fresh kess tree per test. Unit
// tests of code above zk_schema use the in-memory fake (fake_zk.h) instead;
// to wait for a condition, use common/testing/wait_for.h.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace zk {
namespace testing {

// Makes the server expire the session `creds`: opens a second handle on the
// same session (same id and password), waits until it is connected and
// closes it, which ends the session; repeats (bounded) until a handle on the
// session is told it has expired. The owner's handle then sees
// ZOO_EXPIRED_SESSION_STATE when it next hears from the server. `timeout`
// bounds each attempt.
absl::Status ExpireSession(const std::string& connect_string,
                           const SessionCredentials& creds,
                           absl::Duration timeout = absl::Seconds(20));

// Options for tests: short session timeout, generous connect timeout.
ZkClientOptions TestClientOptions(const std::string& connect_string);

// A fresh kess tree (EnsureSkeleton) under "/<name>/kess", so that tests
// sharing one server do not see each other's nodes. `name` must be a valid
// namespace name (a gtest test name is).
absl::StatusOr<Layout> CreateTestTree(ZkApi& zk, const std::string& name,
                                      const SchemaInfo& info = SchemaInfo(),
                                      int changelog_retention = 100);

}  // namespace testing
}  // namespace zk
}  // namespace kess
