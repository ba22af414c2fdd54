#include "mandator/snapshot.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "Poco/JSON/Stringifier.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "glog/logging.h"
#include "mandator/config_json.h"
#include "model/route_table.h"

namespace kess {
namespace mandator {
namespace {

// One key: its versions, oldest first (the newest is the current value).
struct KeyVersions {
  std::string ns;
  std::string key;
  std::vector<core::Config> versions;
};

struct Contents {
  int64_t revision = 0;
  std::vector<KeyVersions> configs;
  std::vector<core::GrayInfo> gray;
  routes::RouteTables routes;
  routes::Overrides overrides;
};

std::string Stringify(const Poco::Dynamic::Var& value) {
  std::ostringstream out;
  Poco::JSON::Stringifier::stringify(value, out);
  return out.str();
}

absl::StatusOr<Poco::JSON::Array::Ptr> ArrayField(
    const Poco::JSON::Object::Ptr& object, const std::string& name) {
  if (!object->has(name) || object->isNull(name)) {
    return Poco::JSON::Array::Ptr(new Poco::JSON::Array());
  }
  Poco::JSON::Array::Ptr array = object->getArray(name);
  if (array.isNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot: \"", name, "\" is not an array"));
  }
  return array;
}

absl::StatusOr<std::string> StringField(const Poco::JSON::Object::Ptr& object,
                                        const std::string& name,
                                        const char* where) {
  if (object.isNull() || !object->has(name) ||
      !object->get(name).isString()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot: ", where, " without a string \"", name, "\""));
  }
  return object->getValue<std::string>(name);
}

}  // namespace

std::string RestoreResultToJson(const RestoreResult& r) {
  return absl::StrCat("{\"restored\":{\"first_revision\":", r.first_revision,
                      ",\"revision\":", r.revision, ",\"configs\":", r.configs,
                      ",\"versions\":", r.versions, ",\"gray\":", r.gray,
                      ",\"routes\":", r.routes, ",\"overrides\":", r.overrides,
                      "}}");
}

Snapshots::Snapshots(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::string> Snapshots::Take() {
  routes::RouteStore route_store(options_.zk, options_.routes);
  for (int attempt = 0; attempt < std::max(1, options_.attempts); ++attempt) {
    Contents c;
    KESS_ASSIGN_OR_RETURN(c.revision, options_.configs->Revision());
    KESS_ASSIGN_OR_RETURN(std::vector<std::string> namespaces,
                          options_.configs->ListNamespaces());
    for (const std::string& ns : namespaces) {
      absl::StatusOr<std::vector<core::KeyInfo>> keys =
          options_.configs->ListKeys(ns);
      if (absl::IsNotFound(keys.status())) continue;  // deleted meanwhile
      KESS_RETURN_IF_ERROR(keys.status());
      for (const core::KeyInfo& info : *keys) {
        KeyVersions kv{ns, info.key, {}};
        absl::StatusOr<std::vector<core::Config>> history =
            options_.configs->History(ns, info.key, options_.history_limit);
        if (history.ok()) kv.versions = std::move(history).value();
        std::reverse(kv.versions.begin(), kv.versions.end());
        if (kv.versions.empty() ||
            kv.versions.back().record.revision() != info.revision) {
          // No history node for the current version (a history limit of
          // 0 never happens, but a key written before history existed
          // might): the current value ends the sequence.
          absl::StatusOr<core::Config> current =
              options_.configs->Get(ns, info.key);
          if (absl::IsNotFound(current.status())) continue;
          KESS_RETURN_IF_ERROR(current.status());
          kv.versions.push_back(std::move(current).value());
        }
        absl::StatusOr<core::GrayInfo> gray =
            options_.gray->Get(ns, info.key);
        if (gray.ok() && gray->active) {
          c.gray.push_back(std::move(gray).value());
        } else if (!gray.ok() && !absl::IsNotFound(gray.status())) {
          return gray.status();
        }
        c.configs.push_back(std::move(kv));
      }
    }
    KESS_ASSIGN_OR_RETURN(c.routes, route_store.LoadAll());
    KESS_ASSIGN_OR_RETURN(c.overrides, options_.overrides->Current());
    KESS_ASSIGN_OR_RETURN(int64_t after, options_.configs->Revision());
    if (after != c.revision) {
      LOG(INFO) << "snapshot: revision moved from " << c.revision << " to "
                << after << " during the read; reading again";
      continue;
    }

    std::string json = absl::StrCat(
        "{\"kess_snapshot\":", kSnapshotFormat, ",\"revision\":", c.revision,
        ",\"datacenter\":", JsonQuote(options_.datacenter),
        ",\"taken_ms\":", absl::ToUnixMillis(absl::Now()), ",\"configs\":[");
    for (size_t i = 0; i < c.configs.size(); ++i) {
      const KeyVersions& kv = c.configs[i];
      absl::StrAppend(&json, i ? "," : "",
                      "{\"namespace\":", JsonQuote(kv.ns),
                      ",\"key\":", JsonQuote(kv.key), ",\"versions\":[");
      for (size_t v = 0; v < kv.versions.size(); ++v) {
        absl::StrAppend(&json, v ? "," : "", ConfigToJson(kv.versions[v]));
      }
      json += "]}";
    }
    json += "],\"gray\":[";
    for (size_t i = 0; i < c.gray.size(); ++i) {
      absl::StrAppend(&json, i ? "," : "", GrayToJson(c.gray[i]));
    }
    json += "],\"routes\":[";
    bool first = true;
    for (const auto& [service, table] : c.routes) {
      absl::StrAppend(&json, first ? "" : ",",
                      "{\"service\":", JsonQuote(service),
                      ",\"table\":", JsonQuote(RouteTableToJson(table)), "}");
      first = false;
    }
    json += "],\"overrides\":[";
    first = true;
    for (const auto& [service, instances] : c.overrides) {
      if (instances.empty()) continue;
      absl::StrAppend(
          &json, first ? "" : ",", "{\"service\":", JsonQuote(service),
          ",\"overrides\":", JsonQuote(routes::OverridesToJson(instances)),
          "}");
      first = false;
    }
    json += "]}";
    LOG(INFO) << "snapshot at revision " << c.revision << ": "
              << c.configs.size() << " configs, " << c.gray.size()
              << " gray releases, " << c.routes.size() << " route tables";
    return json;
  }
  return absl::UnavailableError(absl::StrCat(
      "the tree changed during each of ", options_.attempts,
      " reads (commits kept arriving); nothing was saved, try again"));
}

absl::StatusOr<std::string> Snapshots::RestoreToJson(
    const std::string& document, int64_t min_revision) {
  KESS_ASSIGN_OR_RETURN(RestoreResult restored,
                        Restore(document, min_revision));
  return RestoreResultToJson(restored);
}

absl::StatusOr<RestoreResult> Snapshots::Restore(const std::string& document,
                                                 int64_t min_revision) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr doc, ParseJsonObject(document));
  int64_t revision = 0;
  try {
    if (!doc->has("kess_snapshot") ||
        doc->getValue<int>("kess_snapshot") != kSnapshotFormat) {
      return absl::InvalidArgumentError(absl::StrCat(
          "not a kess snapshot of format ", kSnapshotFormat,
          " (\"kess_snapshot\": ", kSnapshotFormat, " missing)"));
    }
    revision = doc->getValue<int64_t>("revision");
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot: ", e.displayText()));
  }
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Array::Ptr configs,
                        ArrayField(doc, "configs"));
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Array::Ptr grays, ArrayField(doc, "gray"));
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Array::Ptr tables,
                        ArrayField(doc, "routes"));
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Array::Ptr overrides,
                        ArrayField(doc, "overrides"));

  // Parse everything before writing anything.
  std::vector<core::PutRequest> puts;
  std::set<std::pair<std::string, std::string>> keys;
  for (size_t i = 0; i < configs->size(); ++i) {
    Poco::JSON::Object::Ptr entry = configs->getObject(i);
    KESS_ASSIGN_OR_RETURN(std::string ns,
                          StringField(entry, "namespace", "a config"));
    KESS_ASSIGN_OR_RETURN(std::string key, StringField(entry, "key", "a config"));
    KESS_ASSIGN_OR_RETURN(Poco::JSON::Array::Ptr versions,
                          ArrayField(entry, "versions"));
    if (versions->size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot: config ", ns, "/", key, " has no versions"));
    }
    keys.insert({ns, key});
    for (size_t v = 0; v < versions->size(); ++v) {
      core::PutRequest put;
      put.ns = ns;
      put.key = key;
      absl::Status parsed = ParsePutBody(Stringify(versions->get(v)), &put);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "snapshot: config ", ns, "/", key, ": ", parsed.message()));
      }
      puts.push_back(std::move(put));
    }
  }
  std::vector<core::GrayRequest> gray_requests;
  for (size_t i = 0; i < grays->size(); ++i) {
    Poco::JSON::Object::Ptr entry = grays->getObject(i);
    core::GrayRequest gray;
    KESS_ASSIGN_OR_RETURN(gray.ns,
                          StringField(entry, "namespace", "a gray release"));
    KESS_ASSIGN_OR_RETURN(gray.key, StringField(entry, "key", "a gray release"));
    absl::Status parsed = ParseGrayBody(Stringify(grays->get(i)), &gray);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "snapshot: gray release of ", gray.ns, "/", gray.key, ": ",
          parsed.message()));
    }
    gray_requests.push_back(std::move(gray));
  }
  routes::RouteTables snapshot_tables;
  for (size_t i = 0; i < tables->size(); ++i) {
    KESS_ASSIGN_OR_RETURN(std::string json,
                          StringField(tables->getObject(i), "table",
                                      "a route table"));
    absl::StatusOr<RouteTable> table = RouteTableFromJson(json);
    if (!table.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("snapshot: route table: ", table.status().message()));
    }
    snapshot_tables[table->service] = std::move(table).value();
  }
  routes::Overrides snapshot_overrides;
  for (size_t i = 0; i < overrides->size(); ++i) {
    Poco::JSON::Object::Ptr entry = overrides->getObject(i);
    KESS_ASSIGN_OR_RETURN(std::string service,
                          StringField(entry, "service", "an override"));
    KESS_ASSIGN_OR_RETURN(std::string json,
                          StringField(entry, "overrides", "an override"));
    absl::StatusOr<std::map<std::string, routes::InstanceOverride>> parsed =
        routes::OverridesFromJson(json);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "snapshot: overrides of ", service, ": ", parsed.status().message()));
    }
    snapshot_overrides[service] = std::move(parsed).value();
  }

  // Only into an empty tree.
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> namespaces,
                        options_.configs->ListNamespaces());
  for (const std::string& ns : namespaces) {
    absl::StatusOr<std::vector<core::KeyInfo>> present =
        options_.configs->ListKeys(ns);
    if (absl::IsNotFound(present.status())) continue;
    KESS_RETURN_IF_ERROR(present.status());
    if (!present->empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the tree is not empty (namespace ", ns, " holds ", present->size(),
          " configs); a snapshot is restored only into an empty ensemble, "
          "nothing was written"));
    }
  }
  KESS_ASSIGN_OR_RETURN(routes::Overrides present_overrides,
                        options_.overrides->Current());
  for (const auto& [service, instances] : present_overrides) {
    if (!instances.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the tree is not empty (overrides of ", service,
          "); a snapshot is restored only into an empty ensemble, nothing "
          "was written"));
    }
  }

  KESS_ASSIGN_OR_RETURN(int64_t current, options_.configs->Revision());
  const int64_t floor = std::max({revision, min_revision, current});
  routes::RouteStore route_store(options_.zk, options_.routes);
  KESS_ASSIGN_OR_RETURN(routes::RouteTables live, route_store.LoadAll());
  options_.configs->RaiseMinRevision(floor + 1);
  route_store.RaiseMinRevision(floor + 1);
  LOG(INFO) << "restore: snapshot at revision " << revision << ", "
            << puts.size() << " config versions, " << gray_requests.size()
            << " gray releases, " << snapshot_tables.size()
            << " route tables; committing above revision " << floor;

  RestoreResult result;
  result.configs = static_cast<int>(keys.size());
  auto note = [&result](int64_t committed) {
    if (result.first_revision == 0) result.first_revision = committed;
    result.revision = std::max(result.revision, committed);
  };
  const std::string fence = options_.fence ? options_.fence() : "";
  for (const core::PutRequest& put : puts) {
    absl::StatusOr<core::CommitResult> done =
        options_.configs->Put(put, fence);
    if (!done.ok()) {
      return absl::Status(done.status().code(),
                          absl::StrCat("restore of config ", put.ns, "/",
                                       put.key, ": ", done.status().message()));
    }
    note(done->revision);
    ++result.versions;
  }
  for (const core::GrayRequest& gray : gray_requests) {
    absl::StatusOr<core::CommitResult> done =
        options_.gray->Start(gray, fence);
    if (!done.ok()) {
      return absl::Status(
          done.status().code(),
          absl::StrCat("restore of the gray release of ", gray.ns, "/",
                       gray.key, ": ", done.status().message()));
    }
    note(done->revision);
    ++result.gray;
  }
  // The tables rebuilt since the leader started are newer than the
  // snapshot's: committed again as they are, above the floor, so that hosts
  // holding an older table at a higher revision take them.
  for (const auto& [service, table] : live) snapshot_tables[service] = table;
  for (const auto& [service, table] : snapshot_tables) {
    absl::StatusOr<int64_t> done = route_store.Put(table, fence);
    if (!done.ok()) {
      return absl::Status(done.status().code(),
                          absl::StrCat("restore of route table ", service,
                                       ": ", done.status().message()));
    }
    note(*done);
    ++result.routes;
  }
  for (const auto& [service, instances] : snapshot_overrides) {
    for (const auto& [id, value] : instances) {
      KESS_RETURN_IF_ERROR(options_.overrides->Set(service, id, value, fence));
      ++result.overrides;
    }
  }
  KESS_ASSIGN_OR_RETURN(result.revision, options_.configs->Revision());
  LOG(INFO) << "restore: done, revisions " << result.first_revision << ".."
            << result.revision;
  return result;
}

}  // namespace mandator
}  // namespace kess
