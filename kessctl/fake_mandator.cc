#include "kessctl/fake_mandator.h"

#include <chrono>
#include <utility>

#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/SocketAddress.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json_util.h"
#include "common/names.h"
#include "common/value_encoding.h"

namespace kess {
namespace kessctl {
namespace {

constexpr char kPrefix[] = "/api/v1/configs/";
constexpr size_t kMaxValueBytes = 16 * 1024 * 1024;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResponse NotFound(const std::string& ns, const std::string& key) {
  return HttpResponse::Error(absl::NotFoundError(
      absl::StrCat("key \"", key, "\" not found in namespace \"", ns, "\"")));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeMandator>> FakeMandator::Start(
    StatusInfo info) {
  std::unique_ptr<FakeMandator> fake(new FakeMandator(std::move(info)));
  HttpServer::Options options;
  options.registry = &fake->registry_;
  options.max_body_bytes = 24 << 20;
  options.threads = 4;
  KESS_ASSIGN_OR_RETURN(fake->server_, HttpServer::Create(options));
  fake->Register();
  KESS_RETURN_IF_ERROR(fake->server_->Start());
  return fake;
}

absl::StatusOr<std::unique_ptr<FakeMandator>> FakeMandator::Start() {
  return Start(StatusInfo());
}

FakeMandator::FakeMandator(StatusInfo info) : info_(std::move(info)) {}

FakeMandator::~FakeMandator() {
  if (server_) server_->Stop();
}

std::string FakeMandator::address() const {
  return absl::StrCat("127.0.0.1:", server_->port());
}

void FakeMandator::FailWith(absl::Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_with_ = std::move(error);
}

HttpRequest FakeMandator::last_request() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_request_;
}

int FakeMandator::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void FakeMandator::Register() {
  auto serve = [this](const HttpRequest& r) { return Serve(r); };
  server_->Handle("GET", "/api/v1/status", serve);
  server_->Handle("GET", "/api/v1/configs", serve);
  for (const char* method : {"GET", "PUT", "DELETE", "POST"}) {
    server_->HandlePrefix(method, kPrefix, serve);
  }
}

HttpResponse FakeMandator::Serve(const HttpRequest& r) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_request_ = r;
    ++requests_;
    if (!fail_with_.ok()) return HttpResponse::Error(fail_with_);
  }
  if (r.path == "/api/v1/status") return Status();
  if (r.path == "/api/v1/configs") return ListNamespaces();
  std::vector<std::string> parts =
      absl::StrSplit(r.path.substr(sizeof(kPrefix) - 1), '/');
  const std::string& ns = parts[0];
  absl::Status valid = ValidateName(NameKind::kNamespace, ns);
  if (valid.ok() && parts.size() > 1) {
    valid = ValidateName(NameKind::kKey, parts[1]);
  }
  if (!valid.ok()) return HttpResponse::Error(valid);
  const std::string op =
      absl::StrCat(r.method, " ", parts.size() > 2 ? parts[2] : "");
  if (parts.size() == 1 && r.method == "GET") return ListKeys(ns);
  if (parts.size() == 2 && r.method == "GET") return Get(ns, parts[1]);
  if (parts.size() == 2 && r.method == "PUT") return Put(r, ns, parts[1]);
  if (parts.size() == 2 && r.method == "DELETE") return Delete(r, ns, parts[1]);
  if (parts.size() == 3 && op == "GET history")
    return GetHistory(r, ns, parts[1]);
  if (parts.size() == 3 && op == "POST rollback")
    return Rollback(r, ns, parts[1]);
  if (parts.size() == 3 && op == "POST gray") return StartGray(r, ns, parts[1]);
  if (parts.size() == 3 && op == "GET gray") return GetGray(ns, parts[1]);
  if (parts.size() == 4 && op == "POST gray" &&
      (parts[3] == "promote" || parts[3] == "abort")) {
    return FinishGray(r, ns, parts[1], parts[3] == "promote");
  }
  return HttpResponse::Error(absl::NotFoundError("no route for " + r.path));
}

HttpResponse FakeMandator::Status() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t revision = info_.revision >= 0 ? info_.revision : revision_;
  const int64_t main =
      info_.main_revision >= 0 ? info_.main_revision : revision;
  return HttpResponse::Json(
      200, absl::StrCat(
               "{\"datacenter\":", JsonQuote(info_.datacenter),
               ",\"is_main\":", info_.is_main ? "true" : "false",
               ",\"member_id\":", JsonQuote(info_.member_id),
               ",\"leader\":{\"id\":", JsonQuote(info_.leader_id),
               ",\"http_address\":",
               JsonQuote(info_.leader_address.empty() ? address()
                                                      : info_.leader_address),
               "},\"is_leader\":", info_.is_leader ? "true" : "false",
               ",\"revision\":", revision, ",\"main_revision\":", main,
               ",\"replication_lag_revisions\":", info_.lag_revisions,
               ",\"replication_lag_seconds\":", info_.lag_seconds,
               ",\"zookeeper\":\"connected\"}"));
}

HttpResponse FakeMandator::ListNamespaces() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [ns, keys] : data_) names.push_back(JsonQuote(ns));
  return HttpResponse::Json(
      200, absl::StrCat("{\"namespaces\":[", absl::StrJoin(names, ","), "]}"));
}

HttpResponse FakeMandator::ListKeys(const std::string& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> keys;
  auto it = data_.find(ns);
  if (it != data_.end()) {
    for (const auto& [key, history] : it->second) {
      const Version& v = history.back();
      keys.push_back(absl::StrCat(
          "{\"key\":", JsonQuote(key), ",\"revision\":", v.revision,
          ",\"version\":", v.version, ",\"size\":", v.value.size(), "}"));
    }
  }
  return HttpResponse::Json(
      200, absl::StrCat("{\"namespace\":", JsonQuote(ns), ",\"keys\":[",
                        absl::StrJoin(keys, ","), "]}"));
}

namespace {

std::string ConfigObject(const std::string& ns, const std::string& key,
                         const std::string& value, int64_t revision,
                         int64_t version, const std::string& content_type,
                         const std::string& author, const std::string& comment,
                         int64_t mtime_ms) {
  const char* encoding = EncodingFor(value);
  return absl::StrCat(
      "{\"namespace\":", JsonQuote(ns), ",\"key\":", JsonQuote(key),
      ",\"revision\":", revision, ",\"version\":", version,
      ",\"value\":", JsonQuote(EncodeValue(value, encoding)),
      ",\"encoding\":", JsonQuote(encoding),
      ",\"content_type\":", JsonQuote(content_type), ",\"size\":", value.size(),
      ",\"crc32\":0,\"author\":", JsonQuote(author),
      ",\"comment\":", JsonQuote(comment), ",\"mtime_ms\":", mtime_ms, "}");
}

}  // namespace

HttpResponse FakeMandator::Get(const std::string& ns, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto n = data_.find(ns);
  if (n == data_.end() || !n->second.count(key)) return NotFound(ns, key);
  const Version& v = n->second[key].back();
  return HttpResponse::Json(
      200, ConfigObject(ns, key, v.value, v.revision, v.version, v.content_type,
                        v.author, v.comment, v.mtime_ms));
}

HttpResponse FakeMandator::Put(const HttpRequest& r, const std::string& ns,
                               const std::string& key) {
  auto body = ParseJsonObject(r.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  const Poco::JSON::Object::Ptr& o = *body;
  if (!o->has("value")) {
    return HttpResponse::Error(absl::InvalidArgumentError("missing \"value\""));
  }
  auto value = DecodeValue(o->getValue<std::string>("value"),
                           o->optValue<std::string>("encoding", "utf8"));
  if (!value.ok()) return HttpResponse::Error(value.status());
  if (value->size() > kMaxValueBytes) {
    return HttpResponse::Error(absl::InvalidArgumentError(
        absl::StrCat("value of ", value->size(), " bytes exceeds the limit of ",
                     kMaxValueBytes, " bytes")));
  }
  Version v;
  v.value = *std::move(value);
  v.content_type = o->optValue<std::string>("content_type", "text/plain");
  v.author = o->optValue<std::string>("author", "");
  v.comment = o->optValue<std::string>("comment", "");
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status gray = NoGray(ns, key); !gray.ok()) {
    return HttpResponse::Error(gray);
  }
  return Write(ns, key, std::move(v),
               o->optValue<Poco::Int64>("expected_revision", -1));
}

HttpResponse FakeMandator::Write(const std::string& ns, const std::string& key,
                                 Version v, int64_t expected_revision) {
  History* history = nullptr;
  auto n = data_.find(ns);
  if (n != data_.end() && n->second.count(key)) history = &n->second[key];
  const int64_t current = history ? history->back().revision : 0;
  if (expected_revision >= 0 && expected_revision != current) {
    return HttpResponse::Error(absl::AbortedError(absl::StrCat(
        "compare-and-set failed for ", ns, "/", key, ": expected revision ",
        expected_revision, ", current revision ", current)));
  }
  if (!history) history = &data_[ns][key];
  v.revision = ++revision_;
  v.version = history->empty() ? 1 : history->back().version + 1;
  v.mtime_ms = NowMillis();
  history->push_back(std::move(v));
  return HttpResponse::Json(
      200, absl::StrCat("{\"revision\":", history->back().revision,
                        ",\"version\":", history->back().version, "}"));
}

HttpResponse FakeMandator::Delete(const HttpRequest& r, const std::string& ns,
                                  const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto n = data_.find(ns);
  if (n == data_.end() || !n->second.count(key)) return NotFound(ns, key);
  if (absl::Status gray = NoGray(ns, key); !gray.ok()) {
    return HttpResponse::Error(gray);
  }
  const int64_t current = n->second[key].back().revision;
  int64_t expected = -1;
  if (!r.Query("expected_revision").empty() &&
      !absl::SimpleAtoi(r.Query("expected_revision"), &expected)) {
    return HttpResponse::Error(
        absl::InvalidArgumentError("expected_revision is not a number"));
  }
  if (expected >= 0 && expected != current) {
    return HttpResponse::Error(absl::AbortedError(absl::StrCat(
        "compare-and-set failed for ", ns, "/", key, ": expected revision ",
        expected, ", current revision ", current)));
  }
  n->second.erase(key);
  if (n->second.empty()) data_.erase(n);
  return HttpResponse::Json(200,
                            absl::StrCat("{\"revision\":", ++revision_, "}"));
}

HttpResponse FakeMandator::GetHistory(const HttpRequest& r,
                                      const std::string& ns,
                                      const std::string& key) {
  int limit = 10;
  if (!absl::SimpleAtoi(r.Query("limit", "10"), &limit) || limit <= 0) {
    return HttpResponse::Error(
        absl::InvalidArgumentError("limit must be a positive number"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto n = data_.find(ns);
  if (n == data_.end() || !n->second.count(key)) return NotFound(ns, key);
  const History& history = n->second[key];
  std::vector<std::string> versions;
  for (auto it = history.rbegin();
       it != history.rend() && static_cast<int>(versions.size()) < limit;
       ++it) {
    versions.push_back(ConfigObject(ns, key, it->value, it->revision,
                                    it->version, it->content_type, it->author,
                                    it->comment, it->mtime_ms));
  }
  return HttpResponse::Json(
      200, absl::StrCat("{\"versions\":[", absl::StrJoin(versions, ","), "]}"));
}

HttpResponse FakeMandator::Rollback(const HttpRequest& r, const std::string& ns,
                                    const std::string& key) {
  auto body = ParseJsonObject(r.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  const int64_t to = (*body)->optValue<Poco::Int64>("to_revision", 0);
  std::lock_guard<std::mutex> lock(mu_);
  auto n = data_.find(ns);
  if (n == data_.end() || !n->second.count(key)) return NotFound(ns, key);
  if (absl::Status gray = NoGray(ns, key); !gray.ok()) {
    return HttpResponse::Error(gray);
  }
  for (const Version& old : n->second[key]) {
    if (old.revision != to) continue;
    Version v = old;
    v.author = (*body)->optValue<std::string>("author", "");
    v.comment = absl::StrCat("rollback to revision ", to);
    return Write(ns, key, std::move(v),
                 (*body)->optValue<Poco::Int64>("expected_revision", -1));
  }
  return HttpResponse::Error(absl::NotFoundError(
      absl::StrCat("revision ", to, " of ", ns, "/", key, " not found")));
}

absl::Status FakeMandator::NoGray(const std::string& ns,
                                  const std::string& key) const {
  if (!gray_.count(absl::StrCat(ns, "/", key))) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("a gray release of ", ns, "/", key,
                   " is active: promote or abort it first"));
}

HttpResponse FakeMandator::StartGray(const HttpRequest& r,
                                     const std::string& ns,
                                     const std::string& key) {
  auto body = ParseJsonObject(r.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  const Poco::JSON::Object::Ptr& o = *body;
  if (!o->has("value")) {
    return HttpResponse::Error(absl::InvalidArgumentError("missing \"value\""));
  }
  auto value = DecodeValue(o->getValue<std::string>("value"),
                           o->optValue<std::string>("encoding", "utf8"));
  if (!value.ok()) return HttpResponse::Error(value.status());
  Gray g;
  g.v.value = *std::move(value);
  g.v.content_type = o->optValue<std::string>("content_type", "text/plain");
  g.v.author = o->optValue<std::string>("author", "");
  g.v.comment = o->optValue<std::string>("comment", "");
  g.percentage = o->optValue<Poco::Int64>("percentage", 0);
  if (Poco::JSON::Array::Ptr hosts = o->getArray("hosts")) {
    for (size_t i = 0; i < hosts->size(); ++i) {
      g.hosts.push_back(hosts->getElement<std::string>(i));
    }
  }
  if (g.percentage < 0 || g.percentage > 100) {
    return HttpResponse::Error(absl::InvalidArgumentError(absl::StrCat(
        "field \"percentage\" must be 0..100, not ", g.percentage)));
  }
  if (g.hosts.empty() && g.percentage == 0) {
    return HttpResponse::Error(absl::InvalidArgumentError(
        "a gray release needs hosts or a percentage above 0"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto n = data_.find(ns);
  if (n == data_.end() || !n->second.count(key)) return NotFound(ns, key);
  if (absl::Status gray = NoGray(ns, key); !gray.ok()) {
    return HttpResponse::Error(gray);
  }
  const int64_t current = n->second[key].back().revision;
  const int64_t expected = o->optValue<Poco::Int64>("expected_revision", -1);
  if (expected >= 0 && expected != current) {
    return HttpResponse::Error(absl::AbortedError(absl::StrCat(
        "compare-and-set failed for ", ns, "/", key, ": expected revision ",
        expected, ", current revision ", current)));
  }
  g.base_revision = current;
  g.v.revision = ++revision_;
  g.v.mtime_ms = NowMillis();
  const int64_t revision = g.v.revision;
  gray_[absl::StrCat(ns, "/", key)] = std::move(g);
  return HttpResponse::Json(200, absl::StrCat("{\"revision\":", revision, "}"));
}

HttpResponse FakeMandator::GetGray(const std::string& ns,
                                   const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = gray_.find(absl::StrCat(ns, "/", key));
  if (it == gray_.end()) {
    return HttpResponse::Error(absl::NotFoundError(
        absl::StrCat("no gray release of ", ns, "/", key)));
  }
  const Gray& g = it->second;
  const int64_t config_revision = data_[ns][key].back().revision;
  std::vector<std::string> hosts;
  for (const std::string& h : g.hosts) hosts.push_back(JsonQuote(h));
  const char* encoding = EncodingFor(g.v.value);
  return HttpResponse::Json(
      200,
      absl::StrCat(
          "{\"namespace\":", JsonQuote(ns), ",\"key\":", JsonQuote(key),
          ",\"active\":true,\"revision\":", g.v.revision,
          ",\"base_revision\":", g.base_revision,
          ",\"config_revision\":", config_revision, ",\"hosts\":[",
          absl::StrJoin(hosts, ","), "],\"percentage\":", g.percentage,
          ",\"value\":", JsonQuote(EncodeValue(g.v.value, encoding)),
          ",\"encoding\":", JsonQuote(encoding),
          ",\"content_type\":", JsonQuote(g.v.content_type),
          ",\"size\":", g.v.value.size(),
          ",\"crc32\":0,\"author\":", JsonQuote(g.v.author),
          ",\"comment\":", JsonQuote(g.v.comment),
          ",\"mtime_ms\":", g.v.mtime_ms, "}"));
}

HttpResponse FakeMandator::FinishGray(const HttpRequest& r,
                                      const std::string& ns,
                                      const std::string& key, bool promote) {
  Poco::JSON::Object::Ptr o;
  if (!r.body.empty()) {
    auto body = ParseJsonObject(r.body);
    if (!body.ok()) return HttpResponse::Error(body.status());
    o = *body;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = gray_.find(absl::StrCat(ns, "/", key));
  if (it == gray_.end()) {
    return HttpResponse::Error(absl::FailedPreconditionError(
        absl::StrCat("no active gray release of ", ns, "/", key)));
  }
  Version v = promote ? it->second.v : data_[ns][key].back();
  v.author = o ? o->optValue<std::string>("author", "") : "";
  v.comment = o ? o->optValue<std::string>("comment", "") : "";
  gray_.erase(it);
  return Write(ns, key, std::move(v), -1);
}

std::string RefusingAddress() {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
  const int port = socket.address().port();
  socket.close();
  return absl::StrCat("127.0.0.1:", port);
}

}  // namespace kessctl
}  // namespace kess
