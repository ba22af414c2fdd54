// ApiServer: one mandator's HTTP API in-process, over the in-memory
// ZooKeeper (testonly; no JVM, no mandator process). What it serves is the
// real thing: HttpApi (../http_api.h) on an HttpServer on 127.0.0.1 at a
// free port, reading through a real ConfigStore and GrayStore on a
// FakeZkClient of the given FakeZkServer, a real LeaderElection in that
// ZooKeeper, and the leader's real write path: WriteQueue ->
// CommitLeaderWrite (../core/leader_write.h), fenced by the election node,
// as the daemon does. With an admin secret, the real AdminAuth gate
// (../ui/admin_auth.h).
//
//   zk::testing::FakeZkServer dc1;
//   ApiServer::Options options;
//   options.zk = &dc1;
//   auto m1 = ApiServer::Start(options);  // "m1": the first one leads
//   options.member_id = "m2";
//   auto m2 = ApiServer::Start(options);  // follows, forwards writes to m1
//   HttpCall((*m2)->address(), "PUT", "/api/v1/configs/ns/k",
//            R"({"value":"v"})", absl::Seconds(5));
//
// Servers on one FakeZkServer are the mandators of one DC: the first one
// started leads, the others follow and forward writes to it. A second
// FakeZkServer is a second DC (is_main = false for a slave DC, which
// refuses writes; nothing replicates into it unless the test writes it).
//
// Served on the main DC as the daemon does: the snapshot and restore of
// ../snapshot.h (GET /api/v1/admin/snapshot, POST /api/v1/admin/restore).
//
// Not served: the scheduler, member registration, routes, replication,
// partition mode, the UI's pages and cluster view. /api/v1/status reports
// what this server knows (DC, role, leader, revision, ZooKeeper session);
// Options::amend_status adds what a slave DC's replicator would.
//
// Test controls: the requests that reached the server (method, path, query
// and headers; bodies are not seen, see last_write()), the last write the
// API parsed and submitted, an error to answer every /api/v1 request with,
// and the FakeZkClient (DropConnection() pauses a leader).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/status.h"
#include "mandator/auth/audit_log.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/core/leader_election.h"
#include "mandator/core/write_queue.h"
#include "mandator/http_api.h"
#include "mandator/routes/override_store.h"
#include "mandator/snapshot.h"
#include "mandator/ui/admin_auth.h"
#include "zk_schema/layout.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace testing {

class ApiServer {
 public:
  struct Options {
    zk::testing::FakeZkServer* zk = nullptr;  // this DC's; must outlive it
    std::string datacenter = "dc1";
    bool is_main = true;
    std::string main_datacenter;  // a slave DC's refusal names it; may be ""
    std::string member_id = "m1";
    std::string zk_root = "/kess";
    // The key rings of secret namespaces (ConfigStore::Options).
    std::string secret_keys_dir;
    // Where the leader records writes (HttpApi::Options::audit); nullptr =
    // no audit log. Must outlive the server.
    auth::AuditLog* audit = nullptr;
    // Non-empty: the API needs "Authorization: Bearer <admin_secret>"
    // (AdminAuth; at least 12 characters, not a well-known default).
    std::string admin_secret;
    absl::Duration write_timeout = absl::Seconds(10);
    absl::Duration forward_timeout = absl::Seconds(5);
    // Called on every GET /api/v1/status after the fields this server knows
    // are set: what a slave DC's leader adds from its replicator
    // (main_revision, replication_lag_seconds, main_contacts, ...).
    std::function<void(StatusInfo*)> amend_status;
  };

  // Creates the kess tree in the fake ZooKeeper if missing, starts serving
  // and returns once this server's election has settled (it leads, or it
  // watches a predecessor).
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(Options options);
  // Stops serving, withdraws from the election.
  ~ApiServer();

  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // "127.0.0.1:<port>".
  std::string address() const;
  bool IsLeader() const { return election_->IsLeader(); }
  // This server's stores (e.g. to write a slave DC's ZooKeeper as
  // replication would: store().Put(request) with no fence).
  core::ConfigStore& store() { return *store_; }
  core::GrayStore& gray() { return *gray_; }
  zk::testing::FakeZkClient& zk_client() { return *zk_; }
  // What GET /api/v1/status answers now.
  StatusInfo Status();

  // From now on every /api/v1 request is answered with `error` before it
  // reaches the API (e.g. Unauthenticated -> 401); OkStatus() stops that.
  void InjectError(absl::Status error);
  // /api/v1 requests received (also those refused by InjectError or the
  // admin gate), and the last one without its body.
  int requests() const;
  HttpRequest last_request() const;
  // The last write the API parsed and submitted to the write queue (only a
  // leader submits; a follower forwards): what the client's request said.
  std::optional<core::WriteOp> last_write() const;

 private:
  explicit ApiServer(Options options);
  absl::Status Init();
  // The election node while this server may write as the main DC's
  // leader, else "".
  std::string LeaderFence() const;
  std::optional<HttpResponse> Admit(const HttpRequest& request);
  core::WriteReply Submit(core::WriteOp op);

  const Options options_;
  metrics::Registry registry_;
  zk::Layout layout_;
  std::unique_ptr<zk::testing::FakeZkClient> zk_;
  std::unique_ptr<core::ConfigStore> store_;
  std::unique_ptr<core::GrayStore> gray_;
  std::unique_ptr<core::WriteQueue> writes_;
  std::unique_ptr<ui::AdminAuth> admin_auth_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<routes::OverrideStore> overrides_;  // main DC
  std::unique_ptr<Snapshots> snapshots_;              // main DC
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<core::LeaderElection> election_;

  mutable absl::Mutex mu_;
  absl::Status inject_ ABSL_GUARDED_BY(mu_);
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  HttpRequest last_request_ ABSL_GUARDED_BY(mu_);
  std::optional<core::WriteOp> last_write_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace mandator
}  // namespace kess
