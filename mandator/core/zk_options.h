// ZooKeeper client options for the two kess users (zk_schema/kess_auth.h).
//
// A mandator authenticates as "mandator" and creates every node with
// KessAcl() (its client's default ACL, so that nodes created by shared code
// such as the change log get it too). A slave DC's leader reads the main
// DC's ZooKeeper as "reader".
//
// Code that opens its own clients (the Mandator, the ReplicationRole) does
// it through a ZkConnector, so that tests can hand it in-memory clients
// (mandator/testing/test_util.h) where production opens ZkClients.
//
// Thread-safe: pure functions.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/status.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace mandator {
namespace core {

absl::StatusOr<zk::ZkClientOptions> MandatorClientOptions(
    const std::string& connect_string, const zk::KessAuth& auth,
    absl::Duration session_timeout);

zk::ZkClientOptions ReaderClientOptions(const std::string& connect_string,
                                        const zk::KessAuth& auth,
                                        absl::Duration session_timeout);

// Opens a ZooKeeper client as `options` say (ensemble, credentials, default
// ACL, timeouts), connected with a session; errors as ZkClient::Create.
using ZkConnector = std::function<absl::StatusOr<std::unique_ptr<zk::ZkApi>>(
    const zk::ZkClientOptions& options)>;

// The production ZkConnector: ZkClient::Create(options).
absl::StatusOr<std::unique_ptr<zk::ZkApi>> ConnectZooKeeper(
    const zk::ZkClientOptions& options);

}  // namespace core
}  // namespace mandator
}  // namespace kess
