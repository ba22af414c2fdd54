// Per-principal credentials in ZooKeeper (common/identity/credential.h):
//
//   <root>/identities                         (persistent, created on use)
//   <root>/identities/<kind>:<dc>:<name>      CredentialRecord JSON (never
//                                             the secret: a salted hash)
//
// Written by the main DC's mandators (mandator/identity_api.h) and copied
// to every slave DC's ensemble by that DC's mandators (MirrorIdentities),
// so that every mandator reads its own DC's copy. A node is never changed
// in place: issuing again deletes and creates it (one multi), so the
// parent's children version (cversion) changes with every issue and
// revocation, and a watcher needs only that one stat to notice.
//
// Thread-safety: the functions are as thread-safe as the ZkApi;
// IdentityWatcher's methods may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identity/credential.h"
#include "common/status.h"
#include "common/steady_await.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

std::string IdentitiesDir(const Layout& layout);
// "<kind>:<dc>:<name>" under IdentitiesDir.
std::string IdentityPath(const Layout& layout, identity::Kind kind,
                         const std::string& name, const std::string& dc);

// Every record (nodes that do not parse are skipped and logged) and the
// directory's children version; an empty list and -1 when the directory
// does not exist.
struct IdentitySnapshot {
  std::vector<identity::CredentialRecord> records;
  int32_t cversion = -1;
};
absl::StatusOr<IdentitySnapshot> ReadIdentities(ZkApi& zk,
                                                const Layout& layout);

// Creates or replaces (delete + create in one multi) the record's node,
// creating the directory if missing; `acl`: of the nodes created.
absl::Status PutIdentity(ZkApi& zk, const Layout& layout,
                         const identity::CredentialRecord& record,
                         const AclList& acl);
// NotFound when there is no such credential.
absl::Status DeleteIdentity(ZkApi& zk, const Layout& layout,
                            identity::Kind kind, const std::string& name,
                            const std::string& dc);

// Makes `to`'s identities equal to `from`'s (the main DC's): creates,
// replaces and deletes nodes of `to`; returns how many it changed.
absl::StatusOr<int> MirrorIdentities(ZkApi& from, ZkApi& to,
                                     const Layout& layout, const AclList& acl);

// Keeps a CredentialRegistry equal to the identities of one ensemble:
// polls the directory's stat every `interval` and re-reads the records
// when its children version changed (an issue or a revocation is seen
// within about one interval). A failed read keeps the registry as it was
// (logged, at most once a minute).
class IdentityWatcher {
 public:
  struct Options {
    Layout layout;
    absl::Duration interval = absl::Seconds(1);
    // Called after each poll on the watcher's thread (the slave DCs'
    // mirroring hooks in here); may be empty.
    std::function<void()> after_poll;
  };
  // `zk` must outlive the watcher. Reads once before returning (errors are
  // logged), then polls on its own thread.
  IdentityWatcher(ZkApi* zk, std::shared_ptr<identity::CredentialRegistry>
                                 registry, Options options);
  ~IdentityWatcher();  // stops and joins

  IdentityWatcher(const IdentityWatcher&) = delete;
  IdentityWatcher& operator=(const IdentityWatcher&) = delete;

  // Re-reads now if the directory changed (tests; the thread does it).
  void PollOnce();

 private:
  void Loop();

  ZkApi* const zk_;
  const std::shared_ptr<identity::CredentialRegistry> registry_;
  const Options options_;
  absl::Mutex mu_;
  int32_t seen_cversion_ ABSL_GUARDED_BY(mu_) = -2;
  int64_t last_error_log_ms_ ABSL_GUARDED_BY(mu_) = 0;
  SteadyNotification stop_;
  std::thread thread_;
};

}  // namespace zk
}  // namespace kess
