// AuthStore: the users and API tokens of the whole cluster, stored in
// ZooKeeper on the main DC and replicated to the slave DCs with the data
// (replication/subtree_mirror.h), so that any mandator can authenticate.
//
// Layout under the kess root (every node JSON; secrets only as hashes,
// secrets.h):
//   <root>/auth                  the generation, a decimal counter that every
//                                change moves in the same multi
//   <root>/auth/users/<name>     {"name","role","namespaces","password_hash",
//                                 "created_ms","created_by"}
//   <root>/auth/tokens/<id>      {"id","name","role","namespaces",
//                                 "secret_hash","created_ms","created_by"}
//
// Every mandator keeps the whole set in memory (a few thousand entries at
// most: kMaxUsers, kMaxTokens) and reloads it when the generation moves:
// Refresh() reads one node, and the daemon calls it every
// refresh_interval (1 s), so a revoked token is refused by every mandator
// of a DC within that time after the change reaches the DC (the main DC at
// once, a slave DC after its mirror's next round).
//
// Writes (CreateToken, RevokeToken, CreateUser, DeleteUser, SetPassword)
// are made by the main DC's mandators directly (no global revision: users
// and tokens are not configuration) with a compare-and-set on the
// generation; a slave DC refuses them (FailedPrecondition).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "mandator/auth/access.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace auth {

inline constexpr size_t kMaxUsers = 1000;
inline constexpr size_t kMaxTokens = 10000;

struct UserInfo {
  std::string name;
  Role role = Role::kViewer;
  std::vector<std::string> namespaces;
  std::string password_hash;  // never leaves the mandator
  int64_t created_ms = 0;
  std::string created_by;
};

struct TokenInfo {
  std::string id;  // 16 hex digits (the Bearer value's middle)
  std::string name;
  Role role = Role::kViewer;
  std::vector<std::string> namespaces;
  std::string secret_hash;  // never leaves the mandator
  int64_t created_ms = 0;
  std::string created_by;
};

// The JSON the API answers for them (no hash).
std::string UserToJson(const UserInfo& user);
std::string TokenToJson(const TokenInfo& token);

class AuthStore {
 public:
  struct Options {
    std::string root = "/kess";
    bool is_main = true;           // writes allowed (main DC)
    std::string main_datacenter;   // for a slave DC's refusal
    // Wall time in ms for created_ms; nullptr: absl::Now().
    const Clock* clock = nullptr;
  };

  // `zk` (this DC's ZooKeeper, as user mandator) must outlive the store.
  // Reads the set once (an unreachable ZooKeeper is not an error: the set
  // is empty until a Refresh() succeeds).
  AuthStore(zk::ZkApi* zk, Options options);

  // Reloads if the generation moved (one read when it did not).
  absl::Status Refresh();

  // The principal of a Bearer value made by MakeToken, if it is a live
  // token; nullopt otherwise (also for hostile input: any size, any bytes).
  std::optional<Principal> AuthenticateToken(const std::string& bearer);
  // The principal of a stored user whose password matches; nullopt
  // otherwise (a missing user costs a hash too, so timing tells nothing).
  std::optional<Principal> AuthenticatePassword(const std::string& user,
                                                const std::string& password);
  // The current principal of a stored user or token, by its principal name
  // ("alice", "token:deploy"): a forwarded write's user as this mandator
  // knows it (its role may have changed; nullopt if gone).
  std::optional<Principal> PrincipalByName(const std::string& name);

  // Admin operations (main DC). `by` is the admin's principal name.
  struct CreatedToken {
    TokenInfo info;
    std::string bearer;  // shown once
  };
  absl::StatusOr<CreatedToken> CreateToken(const std::string& name, Role role,
                                           std::vector<std::string> namespaces,
                                           const std::string& by);
  absl::Status RevokeToken(const std::string& id);
  absl::Status CreateUser(const std::string& name, Role role,
                          std::vector<std::string> namespaces,
                          const std::string& password, const std::string& by);
  absl::Status DeleteUser(const std::string& name);
  absl::Status SetPassword(const std::string& name,
                           const std::string& password);

  std::vector<UserInfo> Users();
  std::vector<TokenInfo> Tokens();
  int64_t generation();

  std::string AuthDir() const { return options_.root + "/auth"; }

 private:
  absl::Status Reload(int64_t generation);
  // Creates <root>/auth, users/ and tokens/ if missing.
  absl::Status EnsureDirs();
  // Applies `ops` plus the generation's compare-and-set; retried on a
  // concurrent change.
  absl::Status Commit(const std::function<absl::Status(zk::MultiOps*)>& ops);
  absl::Status CheckWritable() const;

  zk::ZkApi* const zk_;
  const Options options_;
  int64_t NowMs() const;

  absl::Mutex mu_;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = -1;
  std::map<std::string, UserInfo> users_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TokenInfo> tokens_ ABSL_GUARDED_BY(mu_);  // by id
};

}  // namespace auth
}  // namespace mandator
}  // namespace kess
