#include "agent/watch_api.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/json_util.h"
#include "model/file_cache/reader.h"

namespace kess {
namespace agent {

using file_cache::CacheEntry;
using file_cache::CacheKey;

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool QueryDecode(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out->push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

// Every (name, value) of the raw query string, repeats kept, in order.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> QueryPairs(
    const std::string& raw) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view pair : absl::StrSplit(raw, '&', absl::SkipEmpty())) {
    size_t eq = pair.find('=');
    std::string k, v;
    if (!QueryDecode(pair.substr(0, eq), &k) ||
        (eq != absl::string_view::npos && !QueryDecode(pair.substr(eq + 1), &v))) {
      return absl::InvalidArgumentError("bad percent-encoding in the query");
    }
    out.emplace_back(std::move(k), std::move(v));
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseTimeout(const std::string& text) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) {
    if (seconds <= 0) return absl::InvalidArgumentError("timeout must be > 0");
    return absl::Seconds(seconds);
  }
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "timeout: expected e.g. 30s, 500ms, 5m or whole seconds, got \"" +
        text + "\"");
  }
  return d;
}

std::string KeyOnlyJson(const CacheEntry& e) {
  std::string out = "{";
  if (e.key.type == CacheKey::Type::kConfig) {
    absl::StrAppend(&out, "\"type\":\"config\",\"namespace\":",
                    JsonQuote(e.key.namespace_name),
                    ",\"key\":", JsonQuote(e.key.key));
  } else {
    absl::StrAppend(&out, "\"type\":\"route\",\"service\":",
                    JsonQuote(e.key.service));
  }
  absl::StrAppend(&out, ",\"revision\":", e.revision,
                  ",\"absent\":", e.absent ? "true" : "false", "}");
  return out;
}

std::string ChangeJson(const CacheEntry& e, bool values) {
  if (!values) return KeyOnlyJson(e);
  std::string json = file_cache::EncodeEntry(e);
  // EncodeEntry ends the object with a newline for files; trim it.
  while (!json.empty() && absl::ascii_isspace(json.back())) json.pop_back();
  return json;
}

}  // namespace

absl::StatusOr<WatchRequest> ParseWatchRequest(const HttpRequest& request,
                                               bool* values) {
  WatchRequest out;
  out.timeout = kDefaultWatchTimeout;
  *values = true;
  auto pairs = QueryPairs(request.query_string);
  if (!pairs.ok()) return pairs.status();
  for (const auto& [name, value] : *pairs) {
    if (name == "config" || name == "namespace" || name == "service") {
      for (absl::string_view item : absl::StrSplit(value, ',')) {
        std::string it(item);
        CacheKey key;
        if (name == "config") {
          size_t slash = it.find('/');
          if (slash == std::string::npos) {
            return absl::InvalidArgumentError(
                "config=\"" + it + "\": expected <namespace>/<key>");
          }
          key = CacheKey::Config(it.substr(0, slash), it.substr(slash + 1));
          KESS_RETURN_IF_ERROR(file_cache::ValidateKey(key));
          out.selection.configs.insert({key.namespace_name, key.key});
        } else if (name == "namespace") {
          // A namespace is validated through a config key in it.
          KESS_RETURN_IF_ERROR(
              file_cache::ValidateKey(CacheKey::Config(it, "k")));
          out.selection.namespaces.insert(it);
        } else {
          KESS_RETURN_IF_ERROR(file_cache::ValidateKey(CacheKey::Route(it)));
          out.selection.services.insert(it);
        }
        if (out.selection.size() > kMaxWatchSelection) {
          return absl::InvalidArgumentError(absl::StrCat(
              "more than ", kMaxWatchSelection, " entries to watch"));
        }
      }
    } else if (name == "index") {
      if (!absl::SimpleAtoi(value, &out.index)) {
        return absl::InvalidArgumentError("index: expected a number, got \"" +
                                          value + "\"");
      }
    } else if (name == "epoch") {
      out.epoch = value;
    } else if (name == "timeout") {
      KESS_ASSIGN_OR_RETURN(out.timeout, ParseTimeout(value));
    } else if (name == "values") {
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError("values: true or false");
      }
      *values = value == "true";
    } else {
      return absl::InvalidArgumentError(
          "unknown parameter \"" + name +
          "\" (config, namespace, service, index, epoch, timeout, values)");
    }
  }
  if (out.selection.empty()) {
    return absl::InvalidArgumentError(
        "nothing to watch: give config=<ns>/<key>, namespace=<ns> and/or "
        "service=<svc>");
  }
  return out;
}

std::string RenderWatchAnswer(
    const WatchAnswer& answer, bool values, const std::vector<CacheEntry>* full,
    const std::function<bool(const std::string& ns)>& show) {
  auto shown = [&show](const CacheEntry& e) {
    return show == nullptr || e.key.type != CacheKey::Type::kConfig ||
           show(e.key.namespace_name);
  };
  std::vector<std::string> changes;
  if (full != nullptr) {
    for (const CacheEntry& e : *full) {
      changes.push_back(ChangeJson(e, values && shown(e)));
    }
  }
  for (const auto& e : answer.changes) {
    changes.push_back(ChangeJson(*e, values && shown(*e)));
  }
  return absl::StrCat("{\"epoch\":", JsonQuote(answer.epoch),
                      ",\"index\":", answer.index,
                      ",\"full\":", answer.full ? "true" : "false",
                      ",\"timed_out\":", answer.timed_out ? "true" : "false",
                      ",\"changes\":[", absl::StrJoin(changes, ","), "]}\n");
}

CurrentEntries CurrentFromAgent(Agent* agent) {
  return [agent](const WatchSelection& selection) {
    file_cache::FileCacheReader reader(agent->cache_dir());
    std::vector<CacheEntry> out;
    // Keys subscribed one by one and keys held through a namespace alike.
    for (const auto& [key, revision] : agent->HeldFiles()) {
      if (!selection.Matches(key)) continue;
      absl::StatusOr<CacheEntry> entry = reader.Read(key);
      if (entry.ok()) out.push_back(*std::move(entry));
    }
    return out;
  };
}

namespace {

// One text per distinct selection (the sets are ordered).
std::string SelectionText(const WatchSelection& s) {
  std::string out;
  for (const auto& [ns, key] : s.configs) {
    absl::StrAppend(&out, "c", ns.size(), ":", ns, key.size(), ":", key);
  }
  for (const std::string& ns : s.namespaces) {
    absl::StrAppend(&out, "n", ns.size(), ":", ns);
  }
  for (const std::string& svc : s.services) {
    absl::StrAppend(&out, "s", svc.size(), ":", svc);
  }
  return out;
}

}  // namespace

FullAnswers::FullAnswers(CurrentEntries current, Options options)
    : current_(std::move(current)), options_(options) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { Run(); });
  }
}

FullAnswers::~FullAnswers() { Stop(); }

absl::Status FullAnswers::Read(const WatchSelection& selection, Done done) {
  std::string text = SelectionText(selection);
  absl::MutexLock lock(&mu_);
  if (stop_) return absl::UnavailableError("the agent is stopping");
  auto it = jobs_.find(text);
  if (it == jobs_.end()) {
    if (jobs_.size() >= options_.max_queued) {
      return absl::UnavailableError(absl::StrCat(
          jobs_.size(), " full watch answers are waiting to be read; retry"));
    }
    it = jobs_.emplace(text, Job{selection, {}}).first;
    order_.push_back(std::move(text));
  }
  it->second.done.push_back(std::move(done));
  return absl::OkStatus();
}

void FullAnswers::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    jobs_.clear();
    order_.clear();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

int64_t FullAnswers::reads() const {
  absl::MutexLock lock(&mu_);
  return reads_;
}

void FullAnswers::Run() {
  while (true) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_ || !order_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      auto it = jobs_.find(order_.front());
      order_.pop_front();
      job = std::move(it->second);
      jobs_.erase(it);
      ++reads_;
    }
    auto entries = std::make_shared<const std::vector<CacheEntry>>(
        current_(job.selection));
    for (Done& done : job.done) done(entries);
  }
}

namespace {

// `keep` (may be null) is owned by the route.
void Register(http::EventHttpServer* server, WatchRegistry* registry,
              FullAnswers* full, std::shared_ptr<FullAnswers> keep,
              ValueGate gate) {
  server->HandleAsync(
      "GET", "/v1/watch",
      [registry, full, keep, gate](const HttpRequest& request,
                                   http::HttpResponder reply) {
        bool values = true;
        absl::StatusOr<WatchRequest> parsed =
            ParseWatchRequest(request, &values);
        if (!parsed.ok()) {
          reply.Send(HttpResponse::Error(parsed.status()));
          return;
        }
        WatchSelection selection = parsed->selection;
        std::function<bool(const std::string&)> show;
        if (gate != nullptr) {
          show = [gate, peer = request.peer](const std::string& ns) {
            return gate(peer, ns);
          };
        }
        auto answered = [reply, values, full, show,
                         selection = std::move(selection)](WatchAnswer a) {
          auto send_response = [reply](const WatchAnswer& a, HttpResponse r) {
            r.headers.emplace_back("X-Kess-Epoch", a.epoch);
            r.headers.emplace_back("X-Kess-Index", std::to_string(a.index));
            reply.Send(std::move(r));
          };
          auto send = [send_response](const WatchAnswer& a, std::string body) {
            send_response(a, HttpResponse::Json(200, std::move(body)));
          };
          if (a.full) {
            // Read and rendered off the loop thread.
            absl::Status queued = full->Read(
                selection, [send, values, a, show](FullAnswers::Entries now) {
                  send(a, RenderWatchAnswer(a, values, now.get(), show));
                });
            if (!queued.ok()) reply.Send(HttpResponse::Error(queued));
            return;
          }
          if (a.without_values && values) {
            // A catch-up: the registry keeps no values; read the changed
            // keys' files (at least as new as the versions listed) off the
            // loop thread too.
            WatchSelection changed;
            for (const auto& e : a.changes) {
              if (e->key.type == CacheKey::Type::kRoute) {
                changed.services.insert(e->key.service);
              } else {
                changed.configs.insert({e->key.namespace_name, e->key.key});
              }
            }
            absl::Status queued = full->Read(
                changed, [send, a, show](FullAnswers::Entries now) mutable {
                  std::map<CacheKey, const CacheEntry*> read;
                  for (const CacheEntry& e : *now) {
                    auto [it, added] = read.emplace(e.key, &e);
                    if (!added && e.revision > it->second->revision) {
                      it->second = &e;
                    }
                  }
                  // A key no longer held (unsubscribed since) is left out.
                  std::vector<std::shared_ptr<const CacheEntry>> changes;
                  for (const auto& change : a.changes) {
                    auto it = read.find(change->key);
                    if (it != read.end() &&
                        it->second->revision >= change->revision) {
                      changes.push_back(
                          std::make_shared<const CacheEntry>(*it->second));
                    }
                  }
                  a.changes = std::move(changes);
                  send(a, RenderWatchAnswer(a, true, nullptr, show));
                });
            if (!queued.ok()) reply.Send(HttpResponse::Error(queued));
            return;
          }
          bool every_value_shown = true;
          if (values && show != nullptr) {
            for (const auto& e : a.changes) {
              if (e->key.type == CacheKey::Type::kConfig &&
                  !show(e->key.namespace_name)) {
                every_value_shown = false;
                break;
              }
            }
          }
          if (!every_value_shown) {
            send(a, RenderWatchAnswer(a, values, nullptr, show));
            return;
          }
          if (a.memo != nullptr) {
            // Every waiter woken by one change gets the same body: rendered
            // by the first, shared (not copied) by the others.
            std::shared_ptr<const std::string> body;
            {
              absl::MutexLock lock(&a.memo->mu);
              std::shared_ptr<const std::string>& slot =
                  a.memo->bodies[values ? 1 : 0];
              if (slot == nullptr) {
                slot = std::make_shared<const std::string>(
                    RenderWatchAnswer(a, values, nullptr));
              }
              body = slot;
            }
            send_response(a, HttpResponse::SharedJson(200, std::move(body)));
            return;
          }
          send(a, RenderWatchAnswer(a, values, nullptr));
        };
        absl::StatusOr<uint64_t> id =
            registry->Watch(*std::move(parsed), std::move(answered));
        if (!id.ok()) {
          reply.Send(HttpResponse::Error(id.status()));
          return;
        }
        if (*id != 0) {
          reply.OnCancel([registry, id = *id] { registry->Cancel(id); });
        }
      });
}

}  // namespace

void RegisterWatchApi(http::EventHttpServer* server, WatchRegistry* registry,
                      FullAnswers* full, ValueGate gate) {
  Register(server, registry, full, nullptr, std::move(gate));
}

void RegisterWatchApi(http::EventHttpServer* server, WatchRegistry* registry,
                      CurrentEntries current) {
  auto full = std::make_shared<FullAnswers>(std::move(current),
                                            FullAnswers::Options());
  FullAnswers* f = full.get();
  Register(server, registry, f, std::move(full), nullptr);
}

}  // namespace agent
}  // namespace kess
