// ApiAcl: which local users may read which namespaces and services through
// the agent (--api_acl_file; docs/agent-api.md, "Who may read what").
//
// The file, one rule per line ('#' starts a comment):
//
//   namespace payments  alice,@payments
//   service   ledger    @ledger-readers,svc-billing
//
// A rule lists unix user names and groups ("@group"); a namespace or
// service with a rule is *restricted*. Over --api_socket (SO_PEERCRED) a
// request for a restricted one is served to root, to the agent's own user,
// to a listed user, and to a member (primary or supplementary) of a listed
// group; anybody else gets 403. The TCP API cannot tell who asks, so it
// serves restricted namespaces and services to nobody (403). What is not
// restricted is served to everyone, as before.
//
// Secret namespaces are restricted by default, with or without a file: a
// namespace for which `is_secret` says yes (the agent received encrypted
// values for it and keeps them in 0600 files: secret_values.h) is served
// with its values to root and the agent's own user over --api_socket, plus
// the users and groups of its rule if the file has one; never over TCP.
//
// Checked requests: GET /v1/configs/<ns>/<key>, GET /v1/routes/<service>
// and GET /v1/watch (every namespace, config and service it selects; a
// secret namespace only when the watch returns values). A watch admitted
// before its namespace was known to be secret has the values of secret
// entries withheld when they are rendered (watch_api.h, ValueGate).
// Subscribing (POST /v1/subscriptions) answers paths and revisions only
// and is not restricted.
//
// The file cache: PrepareCache makes configs/<ns>/ of every restricted
// namespace mode 0750, group the rule's first group (else the agent's), so
// only that group (and root and the agent's user) can open its files;
// users listed by name read through the socket. Route tables share one
// directory (routes/) and are protected through the API only.
//
// Names are resolved when the file is loaded (an unknown user or group is
// an error: the agent refuses to start); group membership of a peer is
// looked up once per uid and cached.
//
// Thread-safety: immutable after Load except the membership cache, which
// is locked; Admit is called on the HTTP loop threads.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/http_server.h"
#include "common/status.h"

namespace kess {
namespace agent {

class ApiAcl {
 public:
  struct Rule {
    std::set<uid_t> users;
    std::set<gid_t> groups;
    std::optional<gid_t> cache_group;  // the first group named
  };

  // Resolves user and group names with the system's databases.
  static absl::StatusOr<std::unique_ptr<ApiAcl>> Load(const std::string& path);
  // `text` in the file's format; `user_id`/`group_id` resolve names
  // (tests pass their own).
  static absl::StatusOr<std::unique_ptr<ApiAcl>> Parse(
      const std::string& text,
      const std::function<std::optional<uid_t>(const std::string&)>& user_id,
      const std::function<std::optional<gid_t>(const std::string&)>& group_id);

  // nullptr response: serve it; else the 403 to send instead.
  std::optional<HttpResponse> Admit(const HttpRequest& request) const;

  // May the peer (nullopt: a TCP request) read namespace/service `name`?
  // `values`: whether the answer carries values (a secret namespace is
  // restricted only then).
  bool AllowsNamespace(const std::string& ns,
                       const std::optional<HttpRequest::PeerCredentials>&
                           peer,
                       bool values = true) const;
  bool AllowsService(const std::string& service,
                     const std::optional<HttpRequest::PeerCredentials>& peer)
      const;

  // configs/<ns>/ of every restricted namespace under `cache_dir`: created
  // if missing, mode 0750, group as above.
  absl::Status PrepareCache(const std::string& cache_dir) const;

  size_t restricted() const { return namespaces_.size() + services_.size(); }

  // The groups of `uid` (primary and supplementary); overridable in tests.
  std::function<std::vector<gid_t>(uid_t uid, gid_t gid)> groups_of;

  // Does namespace `ns` hold secret values on this host? Set before the
  // server starts (the agent: Agent::IsSecretNamespace); unset = none.
  // Must be thread-safe and quick.
  std::function<bool(const std::string& ns)> is_secret;

 private:
  bool Allows(const Rule& rule,
              const std::optional<HttpRequest::PeerCredentials>& peer) const;

  bool IsSecret(const std::string& ns) const {
    return is_secret != nullptr && is_secret(ns);
  }

  std::map<std::string, Rule> namespaces_;
  std::map<std::string, Rule> services_;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<uid_t, std::vector<gid_t>> groups_cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace agent
}  // namespace kess
