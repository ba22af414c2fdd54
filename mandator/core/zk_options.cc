#include "mandator/core/zk_options.h"

#include <utility>

namespace kess {
namespace mandator {
namespace core {

absl::StatusOr<zk::ZkClientOptions> MandatorClientOptions(
    const std::string& connect_string, const zk::KessAuth& auth,
    absl::Duration session_timeout) {
  zk::ZkClientOptions options;
  options.connect_string = connect_string;
  options.session_timeout = session_timeout;
  options.credentials = {auth.mandator};
  KESS_ASSIGN_OR_RETURN(options.default_acl, zk::KessAcl(auth));
  return options;
}

zk::ZkClientOptions ReaderClientOptions(const std::string& connect_string,
                                        const zk::KessAuth& auth,
                                        absl::Duration session_timeout) {
  zk::ZkClientOptions options;
  options.connect_string = connect_string;
  options.session_timeout = session_timeout;
  options.credentials = {auth.reader};
  return options;
}

absl::StatusOr<std::unique_ptr<zk::ZkApi>> ConnectZooKeeper(
    const zk::ZkClientOptions& options) {
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<zk::ZkClient> client,
                        zk::ZkClient::Create(options));
  return std::unique_ptr<zk::ZkApi>(std::move(client));
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
