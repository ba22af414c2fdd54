// HttpApi: the routes of docs/http-api.md on a common/http_server.h
// HttpRoutes (the mandator serves them on common/http/event_http_server.h).
//
// Reads (GET configs, namespaces, keys, history, status) are answered from
// this DC's ZooKeeper by any mandator. Writes (PUT, DELETE, POST rollback):
//  - slave DC: 409 FAILED_PRECONDITION naming the main DC;
//  - the request is parsed and checked first: malformed JSON, bad names or
//    fields get 400 here, nothing is forwarded or written;
//  - main-DC leader (may write now): through the WriteQueue;
//  - leader paused by a ZooKeeper connection loss: 503;
//  - other main-DC mandators: forwarded to the leader's http_address with
//    the leader's answer returned and header X-Kess-Forwarded-To; if the
//    leader cannot be found or reached: 503 with X-Kess-Leader (when
//    known). A forwarded request carries X-Kess-Forwarded-By and is never
//    forwarded again (no loops while leadership moves). The forwarded
//    request carries this mandator's peer credential (never the admin
//    secret) and X-Kess-On-Behalf-Of naming the principal it authenticated,
//    so the leader checks that principal's role again and records it.
//
// Who: every write's history author is the authenticated principal's name
// (`principal_of`), never the request body's "author" (only without
// authentication, --insecure_dev_mode, the body's author is kept, as the
// claim of an anonymous client). Every write the leader takes (allowed or
// failed) is recorded in `audit` with the principal, the client address,
// the receiving mandator, the path and the SHA-256 of the new value.
//
// Thread-safety: handlers run concurrently on the server's threads; the
// functions in Options must be thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/status.h"
#include "mandator/auth/access.h"
#include "mandator/auth/audit_log.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/core/leader_election.h"
#include "mandator/core/write_queue.h"
#include "mandator/routes/merger.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace mandator {

inline constexpr size_t kMaxRequestBodyBytes = 24 * 1024 * 1024;
inline constexpr size_t kMaxOverrideBodyBytes = 4096;
inline constexpr char kForwardedToHeader[] = "X-Kess-Forwarded-To";
inline constexpr char kForwardedByHeader[] = "X-Kess-Forwarded-By";
inline constexpr char kLeaderHeader[] = "X-Kess-Leader";
inline constexpr char kForwardedForHeader[] = "X-Kess-Forwarded-For";

// What GET /api/v1/status reports.
struct StatusInfo {
  std::string datacenter;
  bool is_main = false;
  std::string member_id;
  std::optional<zk::MemberInfo> leader;
  bool is_leader = false;
  int64_t revision = -1;  // -1: unknown (ZooKeeper unreachable)
  // Slave-DC leader only (from Replicator::progress()).
  std::optional<int64_t> main_revision;
  std::optional<double> replication_lag_seconds;
  // Completed exchanges with the main DC's ZooKeeper (answered reads and
  // connection handshakes); grows while the main DC is reachable.
  std::optional<int64_t> main_contacts;
  // Slave-DC leader with partition mode on: "replicating", "overlay" or
  // "healing" (partition/partition_role.h); empty otherwise.
  std::string partition_mode;
  std::string zookeeper = "connected";
  // This mandator's ZooKeeper session in its own DC (0: none), to match it
  // with the server's `cons` output and logs.
  int64_t zk_session_id = 0;
};

std::string StatusToJson(const StatusInfo& status);

class HttpApi {
 public:
  struct Options {
    std::string member_id;
    std::string datacenter;
    bool is_main = true;
    std::string main_datacenter;  // for the slave DC's refusal; may be ""
    core::ConfigStore* store = nullptr;  // reads; must outlive the API
    core::GrayStore* gray = nullptr;     // reads; must outlive the API
    // Called only while leads() is true.
    std::function<core::WriteReply(core::WriteOp)> submit;
    std::function<bool()> leads;    // main-DC leader, may write now
    std::function<bool()> elected;  // elected, maybe paused
    std::function<absl::StatusOr<std::optional<zk::MemberInfo>>()> leader;
    std::function<StatusInfo()> status;
    absl::Duration forward_timeout = absl::Seconds(15);
    // PUT/DELETE /api/v1/services/{svc}/instances/{id}/override on the
    // leader (nullopt = remove the override). Empty = no such route.
    std::function<absl::Status(const std::string& service,
                               const std::string& id,
                               std::optional<routes::InstanceOverride>)>
        set_override;
    // GET /api/v1/admin/snapshot (the snapshot document) and POST
    // /api/v1/admin/restore?min_revision=N (body: a snapshot; answers
    // RestoreResultToJson) on the main DC's leader (snapshot.h); the other
    // main-DC mandators forward them there as they forward writes, a slave
    // DC refuses them (409). Empty = no such routes.
    std::function<absl::StatusOr<std::string>()> snapshot;
    std::function<absl::StatusOr<std::string>(const std::string& document,
                                              int64_t min_revision)>
        restore;
    // Sent as the Authorization header of a forwarded write: this
    // mandator's peer credential ("Bearer kp_...", auth/secrets.h); "" =
    // none (no authentication).
    std::string forward_authorization;
    // The admitted request's principal (ui::AdminAuth::PrincipalOf); empty
    // or nullopt = unauthenticated (--insecure_dev_mode).
    std::function<std::optional<auth::Principal>(const HttpRequest&)>
        principal_of;
    // Where the leader records writes; nullptr = no audit log.
    auth::AuditLog* audit = nullptr;
    // The leader is called at https://<its http_address> (this mandator
    // serves HTTPS, and so do its peers: one cluster, one TLS setting).
    bool https_peers = false;
  };

  // The options of a mandator's API whose leadership `election()` decides
  // (called at each request: the election may be created after the API):
  // identity, the stores, leads/elected/leader from the election (leads
  // only in the main DC). The caller adds `submit`, `status` and, on the
  // main DC, `set_override`. The daemon (mandator.cc) and the tests'
  // in-process API (testing/api_server.h) both start from these, so that
  // what kessctl's tests talk to is wired like the daemon.
  static Options ForMandator(std::string member_id, std::string datacenter,
                             bool is_main, std::string main_datacenter,
                             core::ConfigStore* store, core::GrayStore* gray,
                             std::function<core::LeaderElection*()> election,
                             absl::Duration forward_timeout,
                             std::string forward_authorization);

  explicit HttpApi(Options options);

  // Registers every route. REQUIRES: before server->Start(); the API must
  // outlive the server's serving.
  void Register(HttpRoutes* server);

  // The write rules above for a parsed write: refuse (slave DC, paused
  // leader), `commit` on the leader, or forward. Public for the routes
  // registered beside these (acl_api.h).
  HttpResponse Route(const HttpRequest& request,
                     const std::function<HttpResponse()>& commit);
  // Route, and on the mandator that runs `commit` (the leader) one audit
  // record of it: `action` ("acl.put", ...), the principal, the client,
  // the answer (auth/audit_log.h). Routes of other APIs use this so that
  // their writes are audited like configs.
  HttpResponse RouteAudited(const HttpRequest& request,
                            const std::string& action,
                            const std::function<HttpResponse()>& commit);

 private:
  HttpResponse GetConfigs(const HttpRequest& request);
  HttpResponse Write(const HttpRequest& request);
  // Parses a write request into `op`; 404 for paths that are not writes.
  absl::Status ParseWrite(const HttpRequest& request, core::WriteOp* op) const;
  HttpResponse Commit(core::WriteOp op);
  HttpResponse Override(const HttpRequest& request);
  HttpResponse Forward(const HttpRequest& request);
  // Whether namespace `ns` is secret (its values are sealed); true when it
  // cannot be told. Reads ZooKeeper: only on the leader's write path.
  bool SecretNamespace(const std::string& ns) const;
  // principal_of(request), or nullopt without it.
  std::optional<auth::Principal> PrincipalOf(const HttpRequest& request) const;
  void Audit(const HttpRequest& request, const std::string& action,
             const std::string& detail, const HttpResponse& response) const;
  HttpResponse Admin(const HttpRequest& request);

  const Options options_;
};

}  // namespace mandator
}  // namespace kess
