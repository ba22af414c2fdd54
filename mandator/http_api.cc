#include "mandator/http_api.h"

#include <algorithm>
#include <vector>

#include "Poco/URI.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/paging.h"
#include "common/version.h"
#include "glog/logging.h"
#include "mandator/auth/secrets.h"
#include "mandator/config_json.h"
#include "model/names.h"

namespace kess {
namespace mandator {
namespace {

constexpr char kConfigsPath[] = "/api/v1/configs";
constexpr char kConfigsPrefix[] = "/api/v1/configs/";
constexpr char kServicesPrefix[] = "/api/v1/services/";
constexpr int kDefaultHistoryLimit = 10;
constexpr char kSnapshotPath[] = "/api/v1/admin/snapshot";
constexpr char kRestorePath[] = "/api/v1/admin/restore";

// The segments after /api/v1/configs/: {ns}, {ns, key}, {ns, key, verb}.
std::vector<std::string> Segments(const std::string& path) {
  return absl::StrSplit(path.substr(sizeof(kConfigsPrefix) - 1), '/');
}

// A path that matches no route: 400 if a segment is not a valid name (so
// that "ns/../x" is called what it is), else 404.
absl::Status NoRoute(const HttpRequest& request,
                     const std::vector<std::string>& segments) {
  for (const std::string& segment : segments) {
    KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, segment));
  }
  return absl::NotFoundError(
      absl::StrCat("no such resource: ", request.method, " ", request.path));
}

HttpResponse NoSuchResource(const HttpRequest& request) {
  return HttpResponse::Error(NoRoute(request, Segments(request.path)));
}

HttpResponse Ok(std::string json) {
  return HttpResponse::Json(200, std::move(json));
}

constexpr size_t kMaxNamePageLimit = 1000;

bool IsPagedList(const HttpRequest& r) {
  for (const char* p : {"limit", "page_token", "prefix", "q"}) {
    if (r.query.count(p) > 0) return true;
  }
  return false;
}

// One page of sorted `names` by the request's limit, page_token, prefix and
// q (contains): the page, how many match, and the next token ("" = last).
struct NamePage {
  std::vector<std::string> names;
  size_t total = 0;
  std::string next_page_token;
};
absl::StatusOr<NamePage> PageNames(const std::vector<std::string>& sorted,
                                   const HttpRequest& request) {
  KESS_ASSIGN_OR_RETURN(size_t limit,
                        ParseLimit(request, 100, kMaxNamePageLimit));
  const std::string prefix = request.Query("prefix");
  const std::string contains = request.Query("q");
  auto start = sorted.begin();
  const std::string token = request.Query("page_token");
  if (!token.empty()) {
    KESS_ASSIGN_OR_RETURN(std::string last, DecodePageToken(token));
    start = std::upper_bound(sorted.begin(), sorted.end(), last);
  }
  auto matches = [&](const std::string& name) {
    return absl::StartsWith(name, prefix) && absl::StrContains(name, contains);
  };
  NamePage page;
  for (const std::string& name : sorted) page.total += matches(name);
  for (auto it = start; it != sorted.end(); ++it) {
    if (!matches(*it)) continue;
    if (page.names.size() == limit) {
      page.next_page_token = EncodePageToken(page.names.back());
      break;
    }
    page.names.push_back(*it);
  }
  return page;
}

// `json` without its closing brace, plus total and next_page_token.
std::string WithPaging(std::string json, const NamePage& page) {
  json.pop_back();
  absl::StrAppend(&json, ",\"total\":", page.total);
  if (!page.next_page_token.empty()) {
    absl::StrAppend(&json, ",\"next_page_token\":",
                    JsonQuote(page.next_page_token));
  }
  return json + "}";
}

}  // namespace

std::string StatusToJson(const StatusInfo& s) {
  std::string leader = "null";
  if (s.leader.has_value()) {
    leader = absl::StrCat(
        "{\"id\":", JsonQuote(s.leader->id()),
        ",\"http_address\":", JsonQuote(s.leader->http_address()), "}");
  }
  std::string json = absl::StrCat(
      "{\"datacenter\":", JsonQuote(s.datacenter),
      ",\"is_main\":", s.is_main ? "true" : "false",
      ",\"member_id\":", JsonQuote(s.member_id), ",\"leader\":", leader,
      ",\"is_leader\":", s.is_leader ? "true" : "false", ",\"revision\":",
      s.revision >= 0 ? absl::StrCat(s.revision) : std::string("null"));
  if (s.main_revision.has_value()) {
    absl::StrAppend(&json, ",\"main_revision\":", *s.main_revision,
                    ",\"replication_lag_revisions\":",
                    std::max<int64_t>(0, *s.main_revision - s.revision));
  }
  if (s.replication_lag_seconds.has_value()) {
    absl::StrAppend(
        &json, ",\"replication_lag_seconds\":", *s.replication_lag_seconds);
  }
  if (s.main_contacts.has_value()) {
    absl::StrAppend(&json, ",\"main_contacts\":", *s.main_contacts);
  }
  if (!s.partition_mode.empty()) {
    absl::StrAppend(&json, ",\"partition_mode\":", JsonQuote(s.partition_mode));
  }
  // Hex, as ZooKeeper prints it (and above 2^53, so not a JSON number).
  absl::StrAppend(&json, ",\"zookeeper\":", JsonQuote(s.zookeeper),
                  ",\"zk_session_id\":\"0x", absl::Hex(s.zk_session_id), "\",",
                  BuildVersionJsonMembers(), "}");
  return json;
}

HttpApi::Options HttpApi::ForMandator(
    std::string member_id, std::string datacenter, bool is_main,
    std::string main_datacenter, core::ConfigStore* store,
    core::GrayStore* gray, std::function<core::LeaderElection*()> election,
    absl::Duration forward_timeout, std::string forward_authorization) {
  Options api;
  api.member_id = std::move(member_id);
  api.datacenter = std::move(datacenter);
  api.is_main = is_main;
  api.main_datacenter = std::move(main_datacenter);
  api.store = store;
  api.gray = gray;
  api.leads = [is_main, election] { return is_main && election()->IsLeader(); };
  api.elected = [election] { return election()->IsElected(); };
  api.leader = [election] { return election()->CurrentLeader(); };
  api.forward_timeout = forward_timeout;
  api.forward_authorization = std::move(forward_authorization);
  return api;
}

HttpApi::HttpApi(Options options) : options_(std::move(options)) {}

void HttpApi::Register(HttpRoutes* server) {
  server->Handle("GET", kConfigsPath, [this](const HttpRequest& request) {
    absl::StatusOr<std::vector<std::string>> namespaces =
        options_.store->ListNamespaces();
    if (!namespaces.ok()) return HttpResponse::Error(namespaces.status());
    if (!IsPagedList(request)) return Ok(NamespacesToJson(*namespaces));
    std::sort(namespaces->begin(), namespaces->end());
    absl::StatusOr<NamePage> page = PageNames(*namespaces, request);
    if (!page.ok()) return HttpResponse::Error(page.status());
    return Ok(WithPaging(NamespacesToJson(page->names), *page));
  });
  server->HandlePrefix("GET", kConfigsPrefix,
                       [this](const HttpRequest& r) { return GetConfigs(r); });
  for (const char* method : {"PUT", "DELETE", "POST"}) {
    server->HandlePrefix(method, kConfigsPrefix,
                         [this](const HttpRequest& r) { return Write(r); });
  }
  if (options_.set_override) {
    for (const char* method : {"PUT", "DELETE"}) {
      server->HandlePrefix(
          method, kServicesPrefix,
          [this](const HttpRequest& r) { return Override(r); });
    }
  }
  if (options_.snapshot) {
    server->Handle("GET", kSnapshotPath,
                   [this](const HttpRequest& r) { return Admin(r); });
  }
  if (options_.restore) {
    server->Handle("POST", kRestorePath,
                   [this](const HttpRequest& r) { return Admin(r); });
  }
  server->Handle("GET", "/api/v1/status", [this](const HttpRequest&) {
    return Ok(StatusToJson(options_.status()));
  });
}

HttpResponse HttpApi::GetConfigs(const HttpRequest& request) {
  const std::vector<std::string> seg = Segments(request.path);
  if (seg.size() == 1 && IsPagedList(request)) {
    // Only the page's keys are read (the names are one listing).
    absl::StatusOr<std::vector<std::string>> names =
        options_.store->ListKeyNames(seg[0]);
    if (!names.ok()) return HttpResponse::Error(names.status());
    absl::StatusOr<NamePage> page = PageNames(*names, request);
    if (!page.ok()) return HttpResponse::Error(page.status());
    absl::StatusOr<std::vector<core::KeyInfo>> keys =
        options_.store->KeyInfos(seg[0], page->names);
    if (!keys.ok()) return HttpResponse::Error(keys.status());
    return Ok(WithPaging(KeysToJson(seg[0], *keys), *page));
  }
  if (seg.size() == 1) {
    absl::StatusOr<std::vector<core::KeyInfo>> keys =
        options_.store->ListKeys(seg[0]);
    if (!keys.ok()) return HttpResponse::Error(keys.status());
    return Ok(KeysToJson(seg[0], *keys));
  }
  if (seg.size() == 2) {
    absl::StatusOr<core::Config> config = options_.store->Get(seg[0], seg[1]);
    if (!config.ok()) return HttpResponse::Error(config.status());
    return Ok(ConfigToJson(*config));
  }
  if (seg.size() == 3 && seg[2] == "history") {
    int64_t limit = kDefaultHistoryLimit;
    const std::string text = request.Query("limit");
    if (!text.empty()) {
      absl::StatusOr<int64_t> parsed = ParseNonNegative("limit", text);
      if (!parsed.ok()) return HttpResponse::Error(parsed.status());
      limit = std::min<int64_t>(*parsed, 1000);
    }
    absl::StatusOr<std::vector<core::Config>> versions =
        options_.store->History(seg[0], seg[1], static_cast<int>(limit));
    if (!versions.ok()) return HttpResponse::Error(versions.status());
    return Ok(HistoryToJson(*versions));
  }
  if (seg.size() == 3 && seg[2] == "gray") {
    absl::StatusOr<core::GrayInfo> gray = options_.gray->Get(seg[0], seg[1]);
    if (!gray.ok()) return HttpResponse::Error(gray.status());
    return Ok(GrayToJson(*gray));
  }
  return NoSuchResource(request);
}

absl::Status HttpApi::ParseWrite(const HttpRequest& request,
                                 core::WriteOp* op) const {
  const std::vector<std::string> seg = Segments(request.path);
  if (request.method == "PUT" && seg.size() == 2) {
    core::PutRequest put;
    put.ns = seg[0];
    put.key = seg[1];
    KESS_RETURN_IF_ERROR(ParsePutBody(request.body, &put));
    *op = core::WriteOp::Put(std::move(put));
  } else if (request.method == "DELETE" && seg.size() == 2) {
    core::DeleteRequest del;
    del.ns = seg[0];
    del.key = seg[1];
    const std::string expected = request.Query("expected_revision");
    if (!expected.empty()) {
      KESS_ASSIGN_OR_RETURN(del.expected_revision,
                            ParseNonNegative("expected_revision", expected));
    }
    del.author = request.Query("author");
    *op = core::WriteOp::Delete(std::move(del));
  } else if (request.method == "POST" && seg.size() == 3 &&
             seg[2] == "rollback") {
    core::RollbackRequest rollback;
    rollback.ns = seg[0];
    rollback.key = seg[1];
    KESS_RETURN_IF_ERROR(ParseRollbackBody(request.body, &rollback));
    *op = core::WriteOp::Rollback(std::move(rollback));
  } else if (request.method == "POST" && seg.size() == 3 && seg[2] == "gray") {
    core::GrayRequest gray;
    gray.ns = seg[0];
    gray.key = seg[1];
    KESS_RETURN_IF_ERROR(ParseGrayBody(request.body, &gray));
    *op = core::WriteOp::GrayStart(std::move(gray));
  } else if (request.method == "POST" && seg.size() == 4 && seg[2] == "gray" &&
             (seg[3] == "promote" || seg[3] == "abort")) {
    core::GrayEndRequest end;
    end.ns = seg[0];
    end.key = seg[1];
    KESS_RETURN_IF_ERROR(ParseGrayEndBody(request.body, &end));
    *op = core::WriteOp::GrayEnd(std::move(end), seg[3] == "promote");
  } else {
    return NoRoute(request, seg);
  }
  // Names are checked before anything is forwarded or queued.
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, op->ns()));
  return ValidateName(NameKind::kKey, op->key());
}

namespace {

// The history's author of every kind of write.
void SetAuthor(core::WriteOp* op, const std::string& author) {
  op->put.author = author;
  op->del.author = author;
  op->rollback.author = author;
  op->gray.author = author;
  op->gray_end.author = author;
}

const char* ActionOf(const core::WriteOp& op) {
  switch (op.kind) {
    case core::WriteOp::Kind::kPut:
      return "config.put";
    case core::WriteOp::Kind::kDelete:
      return "config.delete";
    case core::WriteOp::Kind::kRollback:
      return "config.rollback";
    case core::WriteOp::Kind::kGrayStart:
      return "gray.start";
    case core::WriteOp::Kind::kGrayPromote:
      return "gray.promote";
    case core::WriteOp::Kind::kGrayAbort:
      return "gray.abort";
  }
  return "config.write";
}

// What the audit log keeps of a write: digests and revisions, never the
// value. The value of a secret namespace (`secret`) leaves no digest and no
// size: an unsalted SHA-256 of a plaintext would let any reader of the log
// test guesses of it (docs/security.md, "Audit log").
std::string DetailOf(const core::WriteOp& op, bool secret) {
  std::string detail;
  if (op.kind == core::WriteOp::Kind::kPut) {
    detail = secret ? std::string("value=secret")
                    : absl::StrCat("new_sha256=", auth::Sha256Hex(op.put.value),
                                   " new_size=", op.put.value.size());
    if (op.put.expected_revision.has_value()) {
      absl::StrAppend(&detail, " expected_revision=",
                      *op.put.expected_revision);
    }
  } else if (op.kind == core::WriteOp::Kind::kGrayStart) {
    detail = absl::StrCat(
        secret ? std::string("value=secret")
               : absl::StrCat("new_sha256=", auth::Sha256Hex(op.gray.value)),
        " hosts=", op.gray.hosts.size(), " percentage=", op.gray.percentage);
  } else if (op.kind == core::WriteOp::Kind::kRollback) {
    detail = absl::StrCat("to_revision=", op.rollback.to_revision);
  } else if (op.kind == core::WriteOp::Kind::kDelete &&
             op.del.expected_revision.has_value()) {
    detail = absl::StrCat("expected_revision=", *op.del.expected_revision);
  }
  return detail;
}

}  // namespace

bool HttpApi::SecretNamespace(const std::string& ns) const {
  if (options_.store == nullptr) return false;
  absl::StatusOr<core::NamespaceSettings> settings =
      options_.store->namespace_settings().Get(ns);
  // Unknown (ZooKeeper unreachable, a bad node): taken as secret, so that
  // the audit record leaves the digest out rather than risk it.
  return !settings.ok() || settings->secret;
}

std::optional<auth::Principal> HttpApi::PrincipalOf(
    const HttpRequest& request) const {
  if (!options_.principal_of) return std::nullopt;
  return options_.principal_of(request);
}

void HttpApi::Audit(const HttpRequest& request, const std::string& action,
                    const std::string& detail,
                    const HttpResponse& response) const {
  if (options_.audit == nullptr) return;
  std::optional<auth::Principal> who = PrincipalOf(request);
  options_.audit->Record(auth::RequestRecord(
      request, who.has_value() ? who->name : "anonymous", action, detail,
      response, who.has_value() && who->via_peer));
}

HttpResponse HttpApi::RouteAudited(
    const HttpRequest& request, const std::string& action,
    const std::function<HttpResponse()>& commit) {
  bool committed_here = false;
  HttpResponse response = Route(request, [&] {
    committed_here = true;
    return commit();
  });
  if (committed_here) Audit(request, action, "", response);
  return response;
}

HttpResponse HttpApi::Write(const HttpRequest& request) {
  core::WriteOp op;
  absl::Status parsed = ParseWrite(request, &op);
  if (!parsed.ok()) return HttpResponse::Error(parsed);
  std::optional<auth::Principal> who = PrincipalOf(request);
  if (who.has_value() && who->kind != auth::PrincipalKind::kAnonymous) {
    SetAuthor(&op, who->name);
  } else if (options_.principal_of && !who.has_value()) {
    // Authentication is on but the request has no principal: never the
    // body's or query's "author" (only --insecure_dev_mode keeps those).
    SetAuthor(&op, "anonymous");
  }
  const std::string action = ActionOf(op);
  const std::string ns = op.ns();
  std::string detail;
  bool committed_here = false;
  HttpResponse response = Route(request, [&] {
    committed_here = true;
    // Whether the namespace is secret is asked before and after the commit,
    // so that a namespace made secret meanwhile leaves no digest either.
    const bool secret_before = SecretNamespace(ns);
    detail = DetailOf(op, secret_before);
    const std::string redacted = DetailOf(op, true);
    HttpResponse committed = Commit(std::move(op));
    if (!secret_before && SecretNamespace(ns)) detail = redacted;
    return committed;
  });
  // The leader records what it committed (or failed to); a follower's
  // forward is recorded by the leader, with this mandator as receiver.
  if (committed_here) {
    std::string full = detail;
    if (response.status == 200) {
      absl::StatusOr<Poco::JSON::Object::Ptr> body =
          ParseJsonObject(response.body);
      if (body.ok() && (*body)->has("revision")) {
        absl::StrAppend(&full, full.empty() ? "" : " ", "revision=",
                        (*body)->getValue<int64_t>("revision"));
      }
    }
    Audit(request, action, full, response);
  }
  return response;
}

HttpResponse HttpApi::Override(const HttpRequest& request) {
  // /api/v1/services/{svc}/instances/{id}/override
  const std::vector<std::string> seg =
      absl::StrSplit(request.path.substr(sizeof(kServicesPrefix) - 1), '/');
  if (seg.size() != 4 || seg[1] != "instances" || seg[3] != "override") {
    for (const std::string& segment : seg) {
      absl::Status valid = ValidateName(NameKind::kKey, segment);
      if (!valid.ok()) return HttpResponse::Error(valid);
    }
    return HttpResponse::Error(absl::NotFoundError(
        absl::StrCat("no such resource: ", request.method, " ", request.path)));
  }
  absl::Status valid = ValidateName(NameKind::kService, seg[0]);
  if (valid.ok()) valid = ValidateName(NameKind::kKey, seg[2]);
  if (!valid.ok()) return HttpResponse::Error(valid);
  if (request.body.size() > kMaxOverrideBodyBytes) {
    HttpResponse r =
        HttpResponse::Error(absl::ResourceExhaustedError(absl::StrCat(
            "an override body is at most ", kMaxOverrideBodyBytes, " bytes")));
    r.status = 413;
    return r;
  }
  std::optional<routes::InstanceOverride> value;
  if (request.method == "PUT") {
    absl::StatusOr<Poco::JSON::Object::Ptr> body =
        ParseJsonObject(request.body);
    if (!body.ok()) return HttpResponse::Error(body.status());
    routes::InstanceOverride o;
    try {
      if ((*body)->has("weight") && !(*body)->isNull("weight")) {
        o.weight = (*body)->getValue<int>("weight");
      }
      if ((*body)->has("disabled")) {
        o.disabled = (*body)->getValue<bool>("disabled");
      }
    } catch (const Poco::Exception& e) {
      return HttpResponse::Error(absl::InvalidArgumentError(absl::StrCat(
          "expected {\"weight\"?: 1..10000, \"disabled\"?: bool}: ",
          e.displayText())));
    }
    value = o;
  }
  bool committed_here = false;
  HttpResponse response = Route(request, [&] {
    committed_here = true;
    absl::Status done = options_.set_override(seg[0], seg[2], value);
    if (!done.ok()) return HttpResponse::Error(done);
    return Ok(absl::StrCat(
        "{\"service\":", JsonQuote(seg[0]), ",\"id\":", JsonQuote(seg[2]),
        ",\"override\":", value.has_value() ? "true" : "false", "}"));
  });
  if (committed_here) {
    Audit(request, value.has_value() ? "override.set" : "override.clear",
          value.has_value()
              ? absl::StrCat("weight=",
                             value->weight.has_value()
                                 ? absl::StrCat(*value->weight)
                                 : std::string("-"),
                             " disabled=", value->disabled ? "true" : "false")
              : std::string(),
          response);
  }
  return response;
}

HttpResponse HttpApi::Route(const HttpRequest& request,
                            const std::function<HttpResponse()>& commit) {
  if (!options_.is_main) {
    return HttpResponse::Error(absl::FailedPreconditionError(absl::StrCat(
        "datacenter ", options_.datacenter,
        " is not the main datacenter; writes are taken only by the main "
        "datacenter's leader",
        options_.main_datacenter.empty()
            ? ""
            : absl::StrCat(" (", options_.main_datacenter, ")"))));
  }
  if (options_.leads()) return commit();
  if (options_.elected()) {
    return HttpResponse::Error(absl::UnavailableError(
        "this mandator leads but has lost its ZooKeeper connection; writes "
        "are refused until it is back (nothing was written)"));
  }
  return Forward(request);
}

HttpResponse HttpApi::Admin(const HttpRequest& request) {
  if (!options_.is_main) {
    return HttpResponse::Error(absl::FailedPreconditionError(absl::StrCat(
        "datacenter ", options_.datacenter,
        " is not the main datacenter; snapshots are taken and restored by "
        "the main datacenter's leader",
        options_.main_datacenter.empty()
            ? ""
            : absl::StrCat(" (", options_.main_datacenter, ")"))));
  }
  int64_t min_revision = 0;
  if (request.path == kRestorePath) {
    const std::string text = request.Query("min_revision");
    if (!text.empty()) {
      absl::StatusOr<int64_t> parsed = ParseNonNegative("min_revision", text);
      if (!parsed.ok()) return HttpResponse::Error(parsed.status());
      min_revision = *parsed;
    }
  }
  bool committed_here = false;
  HttpResponse response = Route(request, [&] {
    committed_here = true;
    absl::StatusOr<std::string> answer =
        request.path == kRestorePath
            ? options_.restore(request.body, min_revision)
            : options_.snapshot();
    if (!answer.ok()) return HttpResponse::Error(answer.status());
    return Ok(std::move(answer).value());
  });
  if (committed_here && request.path == kRestorePath) {
    Audit(request, "admin.restore",
          absl::StrCat("snapshot_sha256=", auth::Sha256Hex(request.body),
                       " min_revision=", min_revision),
          response);
  }
  return response;
}

HttpResponse HttpApi::Commit(core::WriteOp op) {
  const bool is_delete = op.kind == core::WriteOp::Kind::kDelete ||
                         op.kind == core::WriteOp::Kind::kGrayStart;
  core::WriteReply reply = options_.submit(std::move(op));
  if (!reply.result.ok()) return HttpResponse::Error(reply.result.status());
  return Ok(CommitToJson(*reply.result, !is_delete, reply.coalesced));
}

HttpResponse HttpApi::Forward(const HttpRequest& request) {
  absl::StatusOr<std::optional<zk::MemberInfo>> leader = options_.leader();
  if (!leader.ok()) {
    return HttpResponse::Error(absl::UnavailableError(absl::StrCat(
        "cannot find the leader (ZooKeeper unreachable?); nothing was "
        "written: ",
        leader.status().message())));
  }
  if (!leader->has_value()) {
    return HttpResponse::Error(absl::UnavailableError(
        "no leader is elected in this datacenter; nothing was written, "
        "retry shortly"));
  }
  const zk::MemberInfo& info = **leader;
  auto refuse = [&info](const std::string& message) {
    HttpResponse r = HttpResponse::Error(absl::UnavailableError(message));
    if (!info.http_address().empty()) {
      r.headers.emplace_back(kLeaderHeader, info.http_address());
    }
    return r;
  };
  if (info.id() == options_.member_id) {
    return refuse(
        "this mandator is becoming or ceasing to be the leader; nothing was "
        "written, retry shortly");
  }
  if (!request.Header("x-kess-forwarded-by").empty()) {
    return refuse(absl::StrCat("this mandator is not the leader (", info.id(),
                               " is); a forwarded write is not forwarded "
                               "again, nothing was written"));
  }
  if (info.http_address().empty()) {
    return refuse(absl::StrCat("leader ", info.id(),
                               " has no HTTP address; nothing was written"));
  }
  Poco::URI uri;
  uri.setPath(request.path);
  for (const auto& [name, value] : request.query) {
    uri.addQueryParameter(name, value);
  }
  std::vector<std::pair<std::string, std::string>> headers = {
      {kForwardedByHeader, options_.member_id}};
  if (!options_.forward_authorization.empty()) {
    // This mandator authenticated the request (its session or token); the
    // leader trusts this mandator's peer credential, not the browser's
    // session, and only a peer may name the principal it acts for.
    headers.emplace_back("Authorization", options_.forward_authorization);
    // The leader runs the write as the principal this mandator
    // authenticated, and records where it came from.
    std::optional<auth::Principal> who = PrincipalOf(request);
    if (who.has_value() && who->kind != auth::PrincipalKind::kAnonymous) {
      headers.emplace_back("X-Kess-On-Behalf-Of", who->name);
    }
  }
  headers.emplace_back(kForwardedForHeader, request.remote_address);
  const std::string content_type = request.Header("content-type");
  if (!content_type.empty() && request.body.empty()) {
    headers.emplace_back("Content-Type", content_type);
  }
  absl::StatusOr<HttpReply> reply =
      HttpCall(absl::StrCat(options_.https_peers ? "https://" : "",
                            info.http_address()),
               request.method, uri.getPathAndQuery(),
               request.body, options_.forward_timeout, headers);
  if (!reply.ok()) {
    return refuse(
        absl::StrCat("leader ", info.id(), " at ", info.http_address(),
                     " is unreachable; the write may not have been applied: ",
                     reply.status().message()));
  }
  HttpResponse out;
  out.status = reply->status;
  out.content_type =
      reply->content_type.empty() ? "application/json" : reply->content_type;
  out.body = std::move(reply->body);
  out.headers.emplace_back(kForwardedToHeader, info.http_address());
  const std::string upstream_leader = reply->Header("x-kess-leader");
  if (!upstream_leader.empty()) {
    out.headers.emplace_back(kLeaderHeader, upstream_leader);
  }
  return out;
}

}  // namespace mandator
}  // namespace kess
