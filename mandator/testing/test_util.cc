#include "mandator/testing/test_util.h"

#include <unistd.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/testing/real_zk.h"

namespace kess {
namespace mandator {
namespace testing {
namespace {

// A client of `server` authenticated and with the default ACL as `options`
// say, as ZkClient::Create(options) would be.
std::unique_ptr<zk::testing::FakeZkClient> FakeClientAs(
    zk::testing::FakeZkServer* server, const zk::ZkClientOptions& options) {
  zk::testing::FakeZkClientOptions fake;
  fake.credentials = options.credentials;
  fake.default_acl = options.default_acl;
  fake.recreate_on_expiry = options.recreate_on_expiry;
  return std::make_unique<zk::testing::FakeZkClient>(server, std::move(fake));
}

}  // namespace

zk::KessAuth TestAuth() {
  zk::KessAuth auth;
  auth.mandator = {"mandator", "test-mandator-pw"};
  auth.reader = {"reader", "test-reader-pw"};
  return auth;
}

zk::AclList TestAcl() { return *zk::KessAcl(TestAuth()); }

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

std::unique_ptr<zk::testing::FakeZkClient> FakeMandator(
    zk::testing::FakeZkServer* server) {
  return FakeClientAs(server, *core::MandatorClientOptions("fake", TestAuth(),
                                                           absl::Seconds(4)));
}

std::unique_ptr<zk::testing::FakeZkClient> FakeReader(
    zk::testing::FakeZkServer* server) {
  return FakeClientAs(
      server, core::ReaderClientOptions("fake", TestAuth(), absl::Seconds(4)));
}

std::unique_ptr<zk::testing::FakeZkClient> FakeAnonymous(
    zk::testing::FakeZkServer* server) {
  return std::make_unique<zk::testing::FakeZkClient>(server);
}

core::ZkConnector FakeConnector(
    std::map<std::string, zk::testing::FakeZkServer*> servers) {
  return [servers = std::move(servers)](const zk::ZkClientOptions& options)
             -> absl::StatusOr<std::unique_ptr<zk::ZkApi>> {
    auto it = servers.find(options.connect_string);
    if (it == servers.end() || !it->second->running()) {
      return absl::UnavailableError(absl::StrCat(
          "no session with ZooKeeper ", options.connect_string, " (fake)"));
    }
    return std::unique_ptr<zk::ZkApi>(FakeClientAs(it->second, options));
  };
}

void FakeZkTest::SetUp() {
  client_ = FakeMandator(&zk_);
  absl::StatusOr<zk::Layout> layout = FreshLayout(*client_);
  ASSERT_TRUE(layout.ok()) << layout.status();
  layout_ = std::make_unique<zk::Layout>(*std::move(layout));
}

void HookedZkApi::set_hook(Hook hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

void HookedZkApi::Before(zk::testing::FaultSpec::Op op,
                         const std::string& path) {
  Hook hook;
  {
    absl::MutexLock lock(&mu_);
    hook = hook_;
  }
  if (hook) hook(op, path);
}

absl::StatusOr<zk::GetResult> HookedZkApi::Get(const std::string& path,
                                               zk::WatchCallback watch) {
  Before(zk::testing::FaultSpec::kGet, path);
  return target_->Get(path, std::move(watch));
}

std::vector<absl::StatusOr<zk::GetResult>> HookedZkApi::GetMany(
    std::vector<zk::GetRequest> requests) {
  Before(zk::testing::FaultSpec::kGet,
         requests.empty() ? "" : requests.front().path);
  return target_->GetMany(std::move(requests));
}

absl::StatusOr<std::optional<zk::Stat>> HookedZkApi::Exists(
    const std::string& path, zk::WatchCallback watch) {
  Before(zk::testing::FaultSpec::kExists, path);
  return target_->Exists(path, std::move(watch));
}

absl::StatusOr<zk::ChildrenResult> HookedZkApi::GetChildren(
    const std::string& path, zk::WatchCallback watch) {
  Before(zk::testing::FaultSpec::kGetChildren, path);
  return target_->GetChildren(path, std::move(watch));
}

absl::StatusOr<std::string> HookedZkApi::Create(const std::string& path,
                                                absl::string_view data,
                                                zk::CreateMode mode,
                                                const zk::AclList& acl) {
  Before(zk::testing::FaultSpec::kCreate, path);
  return target_->Create(path, data, mode, acl);
}

absl::StatusOr<zk::Stat> HookedZkApi::Set(const std::string& path,
                                          absl::string_view data, int version) {
  Before(zk::testing::FaultSpec::kSet, path);
  return target_->Set(path, data, version);
}

absl::Status HookedZkApi::Delete(const std::string& path, int version) {
  Before(zk::testing::FaultSpec::kDelete, path);
  return target_->Delete(path, version);
}

absl::StatusOr<std::vector<zk::OpResult>> HookedZkApi::Multi(
    const zk::MultiOps& ops) {
  Before(zk::testing::FaultSpec::kMulti,
         ops.empty() ? "" : ops.ops().front().path);
  return target_->Multi(ops);
}

int64_t HookedZkApi::AddSessionListener(zk::SessionListener listener) {
  return target_->AddSessionListener(std::move(listener));
}

void HookedZkApi::RemoveSessionListener(int64_t id) {
  target_->RemoveSessionListener(id);
}

int64_t HookedZkApi::generation() const { return target_->generation(); }

int64_t HookedZkApi::session_id() const { return target_->session_id(); }

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

}  // namespace testing
}  // namespace mandator
}  // namespace kess
