#include "mandator/testing/test_util.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "mandator/core/zk_options.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/testing/real_zk.h"

namespace kess {
namespace mandator {
namespace testing {

zk::KessAuth TestAuth() {
  zk::KessAuth auth;
  auth.mandator = {"mandator", "test-mandator-pw"};
  auth.reader = {"reader", "test-reader-pw"};
  return auth;
}

zk::AclList TestAcl() { return *zk::KessAcl(TestAuth()); }

absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectMandator(
    const std::string& connect_string) {
  KESS_ASSIGN_OR_RETURN(zk::ZkClientOptions options,
                        core::MandatorClientOptions(connect_string, TestAuth(),
                                                    absl::Seconds(4)));
  options.connect_timeout = absl::Seconds(30);
  return zk::ZkClient::Create(options);
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectReader(
    const std::string& connect_string) {
  zk::ZkClientOptions options =
      core::ReaderClientOptions(connect_string, TestAuth(), absl::Seconds(4));
  options.connect_timeout = absl::Seconds(30);
  return zk::ZkClient::Create(options);
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectAnonymous(
    const std::string& connect_string) {
  return zk::ZkClient::Create(zk::testing::TestClientOptions(connect_string));
}

absl::StatusOr<zk::Layout> FreshLayout(zk::ZkApi& zk) {
  static std::atomic<int> counter{0};
  KESS_ASSIGN_OR_RETURN(zk::Layout layout,
                        zk::Layout::Create(absl::StrCat("/t", getpid(), "_",
                                                        counter++, "/kess")));
  zk::SchemaInfo info;
  info.set_datacenter("dc1");
  info.set_is_main(true);
  KESS_RETURN_IF_ERROR(zk::EnsureSkeleton(
      zk, layout, info, /*changelog_retention=*/100, TestAcl()));
  return layout;
}

}  // namespace testing
}  // namespace mandator
}  // namespace kess
