// Test helpers for mandator code that runs against a real ZooKeeper
// (testonly): the two kess users, clients for them, and a fresh kess tree
// per test under its own root.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace mandator {
namespace testing {

// Fixed test passwords for "mandator" and "reader".
zk::KessAuth TestAuth();
// KessAcl(TestAuth()).
zk::AclList TestAcl();

// Clients with a short session timeout (the test servers tick at 200 ms).
absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectMandator(
    const std::string& connect_string);
absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectReader(
    const std::string& connect_string);
absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectAnonymous(
    const std::string& connect_string);

// A layout under a root no other call of this process returned
// ("/t<pid>_<n>/kess"), with the skeleton created by `zk` (main DC "dc1").
absl::StatusOr<zk::Layout> FreshLayout(zk::ZkApi& zk);

}  // namespace testing
}  // namespace mandator
}  // namespace kess
