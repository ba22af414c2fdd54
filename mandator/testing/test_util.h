// Test helpers for mandator code (testonly): the two kess users, a fresh
// kess tree per test, and clients for them on the in-memory ZooKeeper
// (zk_schema/testing/fake_zk.h; unit tests) or on a real server
// (tests/harness; end-to-end tests).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "gtest/gtest.h"
#include "mandator/core/zk_options.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/layout.h"
#include "zk_schema/testing/fake_zk.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace mandator {
namespace testing {

// Fixed test passwords for "mandator" and "reader".
zk::KessAuth TestAuth();
// KessAcl(TestAuth()).
zk::AclList TestAcl();

// A layout under a root no other call of this process returned
// ("/t<pid>_<n>/kess"), with the skeleton created by `zk` (main DC "dc1").
absl::StatusOr<zk::Layout> FreshLayout(zk::ZkApi& zk);

// ---- The in-memory ZooKeeper ----

// Clients of `server` as a mandator (user "mandator", KessAcl() as the
// default ACL: what core::MandatorClientOptions asks for), as a reader
// (user "reader") and as nobody. REQUIRES: `server` is running.
std::unique_ptr<zk::testing::FakeZkClient> FakeMandator(
    zk::testing::FakeZkServer* server);
std::unique_ptr<zk::testing::FakeZkClient> FakeReader(
    zk::testing::FakeZkServer* server);
std::unique_ptr<zk::testing::FakeZkClient> FakeAnonymous(
    zk::testing::FakeZkServer* server);

// A core::ZkConnector for code that opens its own clients (Mandator,
// ReplicationRole): a FakeZkClient of the server that `servers` maps the
// options' connect string to, with the options' credentials, default ACL
// and recreate_on_expiry. Unavailable, like an unreachable ensemble, for a
// connect string not in `servers` or a stopped server. The servers must
// outlive every client opened.
core::ZkConnector FakeConnector(
    std::map<std::string, zk::testing::FakeZkServer*> servers);

// A fixture with one DC's ZooKeeper in memory (zk_), a mandator's client on
// it (client_) and a fresh kess tree (layout_, main DC "dc1"):
//
//   class ConfigStoreTest : public mandator::testing::FakeZkTest {};
//   TEST_F(ConfigStoreTest, X) { ConfigStore::Create(client_.get(), ...); }
//
// Derived fixtures that override SetUp() call FakeZkTest::SetUp() first.
// Their members are destroyed before client_ and zk_.
class FakeZkTest : public ::testing::Test {
 protected:
  void SetUp() override;

  zk::testing::FakeZkServer zk_;
  std::unique_ptr<zk::testing::FakeZkClient> client_;
  std::unique_ptr<zk::Layout> layout_;
};

// A ZkApi that forwards every call to `target`, but first runs the hook
// (when set) on the caller's thread with the call's kind and path (a
// Multi: its first op's; a GetMany: its first request's). To act at an
// exact point between two calls of the code under test, which FaultSpec
// cannot: e.g. expire a leader's session after its commit read the
// revision and before its multi.
//
//   HookedZkApi hooked(client_.get());
//   hooked.set_hook([&](zk::testing::FaultSpec::Op op, const std::string&) {
//     if (op == zk::testing::FaultSpec::kMulti) client_->ExpireSession();
//   });
class HookedZkApi : public zk::ZkApi {
 public:
  using Hook = std::function<void(zk::testing::FaultSpec::Op op,
                                  const std::string& path)>;

  // `target` must outlive this.
  explicit HookedZkApi(zk::ZkApi* target) : target_(target) {}
  // Thread-safe; nullptr removes the hook.
  void set_hook(Hook hook);

  absl::StatusOr<zk::GetResult> Get(const std::string& path,
                                    zk::WatchCallback watch) override;
  std::vector<absl::StatusOr<zk::GetResult>> GetMany(
      std::vector<zk::GetRequest> requests) override;
  absl::StatusOr<std::optional<zk::Stat>> Exists(
      const std::string& path, zk::WatchCallback watch) override;
  absl::StatusOr<zk::ChildrenResult> GetChildren(
      const std::string& path, zk::WatchCallback watch) override;
  absl::StatusOr<std::string> Create(const std::string& path,
                                     absl::string_view data,
                                     zk::CreateMode mode,
                                     const zk::AclList& acl) override;
  absl::StatusOr<zk::Stat> Set(const std::string& path, absl::string_view data,
                               int version) override;
  absl::Status Delete(const std::string& path, int version) override;
  absl::StatusOr<std::vector<zk::OpResult>> Multi(
      const zk::MultiOps& ops) override;
  int64_t AddSessionListener(zk::SessionListener listener) override;
  void RemoveSessionListener(int64_t id) override;
  int64_t generation() const override;
  int64_t session_id() const override;

 private:
  void Before(zk::testing::FaultSpec::Op op, const std::string& path);

  zk::ZkApi* const target_;
  absl::Mutex mu_;
  Hook hook_ ABSL_GUARDED_BY(mu_);
};

// ---- A real ZooKeeper server (tests/harness) ----

// Clients with a short session timeout (the test servers tick at 200 ms).
absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectMandator(
    const std::string& connect_string);
absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectReader(
    const std::string& connect_string);
absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectAnonymous(
    const std::string& connect_string);

}  // namespace testing
}  // namespace mandator
}  // namespace kess
