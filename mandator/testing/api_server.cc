#include "mandator/testing/api_server.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/wait_for.h"
#include "mandator/auth/secrets.h"
#include "mandator/core/leader_write.h"
#include "zk_schema/skeleton.h"

namespace kess {
namespace mandator {
namespace testing {
namespace {

constexpr absl::Duration kSettleTimeout = absl::Seconds(30);
constexpr int kChangelogRetention = 1000;

}  // namespace

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(Options options) {
  if (options.zk == nullptr) {
    return absl::InvalidArgumentError("ApiServer needs a FakeZkServer");
  }
  std::unique_ptr<ApiServer> server(new ApiServer(std::move(options)));
  KESS_RETURN_IF_ERROR(server->Init());
  return server;
}

ApiServer::ApiServer(Options options) : options_(std::move(options)) {}

absl::Status ApiServer::Init() {
  KESS_ASSIGN_OR_RETURN(layout_, zk::Layout::Create(options_.zk_root));
  zk_ = std::make_unique<zk::testing::FakeZkClient>(options_.zk);
  zk::SchemaInfo info;
  info.set_datacenter(options_.datacenter);
  info.set_is_main(options_.is_main);
  KESS_RETURN_IF_ERROR(
      zk::EnsureSkeleton(*zk_, layout_, info, kChangelogRetention));

  core::ConfigStore::Options store;
  store.layout = layout_;
  store.writer_id = options_.member_id;
  store.secret_keys_dir = options_.secret_keys_dir;
  KESS_ASSIGN_OR_RETURN(store_, core::ConfigStore::Create(zk_.get(), store));
  gray_ = std::make_unique<core::GrayStore>(zk_.get(), store_.get());

  // The leader's write path, as Mandator builds it.
  core::WriteQueue::Options queue;
  queue.registry = &registry_;
  auto commit = [this](const core::WriteOp& op) {
    return core::CommitLeaderWrite(op, LeaderFence(), store_.get(),
                                   gray_.get());
  };
  KESS_ASSIGN_OR_RETURN(writes_, core::WriteQueue::Create(commit, queue));

  HttpServer::Options http;
  http.threads = 4;
  http.max_body_bytes = kMaxRequestBodyBytes;
  http.registry = &registry_;
  if (!options_.admin_secret.empty()) {
    ui::AdminAuthOptions admin;
    admin.secret = options_.admin_secret;
    admin.registry = &registry_;
    // The servers of one test share the peer credential (the daemon derives
    // it from its ZooKeeper password).
    admin.peer_secret = auth::DerivePeerSecret(options_.admin_secret);
    KESS_ASSIGN_OR_RETURN(admin_auth_, ui::AdminAuth::Create(admin));
  }
  http.admit = [this](const HttpRequest& r) { return Admit(r); };
  KESS_ASSIGN_OR_RETURN(server_, HttpServer::Create(http));

  zk::MemberInfo self;
  self.set_id(options_.member_id);
  self.set_role(zk::MANDATOR);
  self.set_datacenter(options_.datacenter);
  self.set_http_address(address());
  self.set_started_ms(absl::ToUnixMillis(absl::Now()));
  self.set_pid(getpid());

  HttpApi::Options api = HttpApi::ForMandator(
      options_.member_id, options_.datacenter, options_.is_main,
      options_.main_datacenter, store_.get(), gray_.get(),
      [this] { return election_.get(); }, options_.forward_timeout,
      admin_auth_ != nullptr
          ? "Bearer " + auth::DerivePeerSecret(options_.admin_secret)
          : "");
  api.principal_of =
      [this](const HttpRequest& r) -> std::optional<auth::Principal> {
    if (admin_auth_ != nullptr) return admin_auth_->PrincipalOf(r);
    // No authentication (as the daemon's --insecure_dev_mode): anonymous,
    // and the body's author stays.
    auth::Principal anonymous;
    anonymous.kind = auth::PrincipalKind::kAnonymous;
    anonymous.name = "anonymous";
    anonymous.role = auth::Role::kAdmin;
    return anonymous;
  };
  api.audit = options_.audit;
  api.submit = [this](core::WriteOp op) { return Submit(std::move(op)); };
  api.status = [this] { return Status(); };
  if (options_.is_main) {
    overrides_ = std::make_unique<routes::OverrideStore>(zk_.get(), layout_,
                                                         zk::AclList());
    Snapshots::Options snapshots;
    snapshots.zk = zk_.get();
    snapshots.configs = store_.get();
    snapshots.gray = gray_.get();
    snapshots.overrides = overrides_.get();
    snapshots.routes.layout = layout_;
    snapshots.routes.writer_id = options_.member_id;
    snapshots.datacenter = options_.datacenter;
    snapshots.fence = [this] { return LeaderFence(); };
    snapshots_ = std::make_unique<Snapshots>(std::move(snapshots));
    api.snapshot = [this] { return snapshots_->Take(); };
    api.restore = [this](const std::string& document, int64_t min_revision) {
      return snapshots_->RestoreToJson(document, min_revision);
    };
  }
  api_ = std::make_unique<HttpApi>(std::move(api));
  api_->Register(server_.get());

  core::LeaderElection::Options election;
  election.layout = layout_;
  election.self = self;
  election.on_demoted = [this] {
    writes_->FailPending(absl::UnavailableError(
        "this mandator lost the leadership before the write was committed; "
        "nothing was written, retry against the new leader"));
  };
  KESS_ASSIGN_OR_RETURN(election_,
                        core::LeaderElection::Create(zk_.get(), election));
  KESS_RETURN_IF_ERROR(server_->Start());

  // Settled: leading, or watching the predecessor.
  if (!kess::testing::WaitFor(
          [this] {
            return election_->IsLeader() || !election_->watched_path().empty();
          },
          kSettleTimeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the election of ", options_.member_id, " did not settle"));
  }
  return absl::OkStatus();
}

ApiServer::~ApiServer() {
  // Nothing arrives once the server has stopped, and every write it
  // submitted has been answered. The election goes before the queue (its
  // demotion fails what is queued); the queue's committer runs no more.
  if (server_ != nullptr) server_->Stop();
  election_.reset();
  writes_.reset();
}

std::string ApiServer::address() const {
  return absl::StrCat("127.0.0.1:", server_->port());
}

std::string ApiServer::LeaderFence() const {
  if (!options_.is_main || !election_->IsLeader()) return "";
  return election_->node_path();
}

StatusInfo ApiServer::Status() {
  StatusInfo s;
  s.datacenter = options_.datacenter;
  s.is_main = options_.is_main;
  s.member_id = options_.member_id;
  s.is_leader = election_->IsLeader();
  s.zookeeper = zk_->connected() ? "connected" : "disconnected";
  s.zk_session_id = zk_->session_id();
  absl::StatusOr<std::optional<zk::MemberInfo>> leader =
      election_->CurrentLeader();
  if (leader.ok()) s.leader = *leader;
  absl::StatusOr<int64_t> revision = store_->Revision();
  if (revision.ok()) {
    s.revision = *revision;
  } else {
    s.zookeeper = absl::StrCat("error: ", revision.status().message());
  }
  if (options_.amend_status) options_.amend_status(&s);
  return s;
}

std::optional<HttpResponse> ApiServer::Admit(const HttpRequest& request) {
  if (!absl::StartsWith(request.path, "/api/v1/")) return std::nullopt;
  {
    absl::MutexLock lock(&mu_);
    ++requests_;
    last_request_ = request;
    if (!inject_.ok()) return HttpResponse::Error(inject_);
  }
  if (admin_auth_ != nullptr) return admin_auth_->Admit(request);
  return std::nullopt;
}

core::WriteReply ApiServer::Submit(core::WriteOp op) {
  {
    absl::MutexLock lock(&mu_);
    last_write_ = op;
  }
  return writes_->Submit(std::move(op), options_.write_timeout);
}

void ApiServer::InjectError(absl::Status error) {
  absl::MutexLock lock(&mu_);
  inject_ = std::move(error);
}

int ApiServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

HttpRequest ApiServer::last_request() const {
  absl::MutexLock lock(&mu_);
  return last_request_;
}

std::optional<core::WriteOp> ApiServer::last_write() const {
  absl::MutexLock lock(&mu_);
  return last_write_;
}

}  // namespace testing
}  // namespace mandator
}  // namespace kess
