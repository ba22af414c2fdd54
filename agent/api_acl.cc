#include "agent/api_acl.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/watch_api.h"
#include "model/names.h"

namespace kess {
namespace agent {
namespace {

constexpr size_t kMaxFileBytes = 1 << 20;
constexpr size_t kMaxEntriesPerRule = 1000;

std::optional<uid_t> SystemUser(const std::string& name) {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found) !=
          0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->pw_uid;
}

std::optional<gid_t> SystemGroup(const std::string& name) {
  std::vector<char> buffer(65536);
  group gr{};
  group* found = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &found) !=
          0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

std::vector<gid_t> SystemGroupsOf(uid_t uid, gid_t gid) {
  std::vector<gid_t> out = {gid};
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return out;
  }
  int n = 64;
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::vector<gid_t> groups(n);
    int count = n;
    if (getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) >=
        0) {
      groups.resize(count);
      out.insert(out.end(), groups.begin(), groups.end());
      return out;
    }
    n = std::max(count, n * 4);
  }
  return out;
}

HttpResponse Forbidden(const std::string& what) {
  HttpResponse r = HttpResponse::Error(absl::PermissionDeniedError(absl::StrCat(
      what,
      " is restricted on this host (--api_acl_file): ask over --api_socket as "
      "a user or group its rule names")));
  r.status = 403;
  return r;
}

HttpResponse SecretForbidden(const std::string& ns) {
  HttpResponse r = HttpResponse::Error(absl::PermissionDeniedError(absl::StrCat(
      "namespace ", ns,
      " holds secret values: only root, the agent's user and the users and "
      "groups of its --api_acl_file rule read them, over --api_socket")));
  r.status = 403;
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiAcl>> ApiAcl::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read --api_acl_file ", path));
  }
  std::string text;
  text.resize(kMaxFileBytes + 1);
  in.read(&text[0], text.size());
  text.resize(in.gcount());
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is larger than ", kMaxFileBytes, " bytes"));
  }
  return Parse(text, SystemUser, SystemGroup);
}

absl::StatusOr<std::unique_ptr<ApiAcl>> ApiAcl::Parse(
    const std::string& text,
    const std::function<std::optional<uid_t>(const std::string&)>& user_id,
    const std::function<std::optional<gid_t>(const std::string&)>& group_id) {
  auto acl = std::make_unique<ApiAcl>();
  acl->groups_of = SystemGroupsOf;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    auto bad = [number](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("--api_acl_file line ", number, ": ", why));
    };
    if (words.size() != 3 ||
        (words[0] != "namespace" && words[0] != "service")) {
      return bad(
          "expected \"namespace|service <name> <user>|@<group>[,...]\"");
    }
    const bool ns = words[0] == "namespace";
    absl::Status valid = ValidateName(
        ns ? NameKind::kNamespace : NameKind::kService, words[1]);
    if (!valid.ok()) return bad(std::string(valid.message()));
    Rule& rule = (ns ? acl->namespaces_ : acl->services_)[words[1]];
    std::vector<std::string> entries =
        absl::StrSplit(words[2], ',', absl::SkipEmpty());
    if (entries.size() > kMaxEntriesPerRule) {
      return bad(absl::StrCat("more than ", kMaxEntriesPerRule, " entries"));
    }
    for (const std::string& entry : entries) {
      if (entry.size() > 256) return bad("a name longer than 256 bytes");
      if (absl::StartsWith(entry, "@")) {
        std::optional<gid_t> gid = group_id(entry.substr(1));
        if (!gid.has_value()) return bad("no such group: " + entry.substr(1));
        rule.groups.insert(*gid);
        if (!rule.cache_group.has_value()) rule.cache_group = *gid;
      } else {
        std::optional<uid_t> uid = user_id(entry);
        if (!uid.has_value()) return bad("no such user: " + entry);
        rule.users.insert(*uid);
      }
    }
  }
  return acl;
}

bool ApiAcl::Allows(const Rule& rule,
                    const std::optional<HttpRequest::PeerCredentials>& peer)
    const {
  if (!peer.has_value()) return false;  // TCP: nobody can be told apart
  if (peer->uid == 0 || peer->uid == geteuid()) return true;
  if (rule.users.count(peer->uid) > 0) return true;
  if (rule.groups.empty()) return false;
  std::vector<gid_t> groups;
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_cache_.find(peer->uid);
    if (it != groups_cache_.end()) groups = it->second;
  }
  if (groups.empty()) {
    groups = groups_of(peer->uid, peer->gid);
    absl::MutexLock lock(&mu_);
    if (groups_cache_.size() > 10000) groups_cache_.clear();
    groups_cache_[peer->uid] = groups;
  }
  if (rule.groups.count(peer->gid) > 0) return true;
  for (gid_t g : groups) {
    if (rule.groups.count(g) > 0) return true;
  }
  return false;
}

bool ApiAcl::AllowsNamespace(
    const std::string& ns,
    const std::optional<HttpRequest::PeerCredentials>& peer,
    bool values) const {
  auto it = namespaces_.find(ns);
  if (it != namespaces_.end()) return Allows(it->second, peer);
  if (values && IsSecret(ns)) {
    static const Rule* const kNobodyListed = new Rule();
    return Allows(*kNobodyListed, peer);  // root and the agent's user
  }
  return true;
}

bool ApiAcl::AllowsService(
    const std::string& service,
    const std::optional<HttpRequest::PeerCredentials>& peer) const {
  auto it = services_.find(service);
  return it == services_.end() || Allows(it->second, peer);
}

std::optional<HttpResponse> ApiAcl::Admit(const HttpRequest& request) const {
  if (request.method != "GET") return std::nullopt;
  if (restricted() == 0 && is_secret == nullptr) return std::nullopt;
  absl::string_view path = request.path;
  // The refusal for a namespace the peer may not read.
  auto refuse = [this](const std::string& ns) {
    return namespaces_.count(ns) > 0 ? Forbidden("namespace " + ns)
                                     : SecretForbidden(ns);
  };
  if (absl::ConsumePrefix(&path, "/v1/configs/")) {
    const std::string ns(path.substr(0, path.find('/')));
    if (!AllowsNamespace(ns, request.peer)) return refuse(ns);
    return std::nullopt;
  }
  if (absl::ConsumePrefix(&path, "/v1/routes/")) {
    const std::string service(path);
    if (!AllowsService(service, request.peer)) {
      return Forbidden("service " + service);
    }
    return std::nullopt;
  }
  if (path == "/v1/watch") {
    bool values = true;
    absl::StatusOr<WatchRequest> parsed = ParseWatchRequest(request, &values);
    if (!parsed.ok()) return std::nullopt;  // the handler says why (400)
    for (const std::string& ns : parsed->selection.namespaces) {
      if (!AllowsNamespace(ns, request.peer, values)) return refuse(ns);
    }
    for (const auto& [ns, key] : parsed->selection.configs) {
      if (!AllowsNamespace(ns, request.peer, values)) return refuse(ns);
    }
    for (const std::string& service : parsed->selection.services) {
      if (!AllowsService(service, request.peer)) {
        return Forbidden("service " + service);
      }
    }
  }
  return std::nullopt;
}

absl::Status ApiAcl::PrepareCache(const std::string& cache_dir) const {
  for (const auto& [ns, rule] : namespaces_) {
    const std::string configs = cache_dir + "/configs";
    const std::string dir = configs + "/" + ns;
    for (const std::string& d : {configs, dir}) {
      if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::InternalError(
            absl::StrCat("mkdir ", d, ": ", std::strerror(errno)));
      }
    }
    const gid_t gid = rule.cache_group.value_or(getegid());
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), gid) != 0) {
      return absl::InternalError(absl::StrCat("chgrp ", gid, " ", dir, ": ",
                                              std::strerror(errno)));
    }
    if (::chmod(dir.c_str(), 0750) != 0) {
      return absl::InternalError(
          absl::StrCat("chmod 0750 ", dir, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace agent
}  // namespace kess
