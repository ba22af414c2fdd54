#include "mandator/config_json.h"

#include <sstream>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "common/value_encoding.h"

namespace kess {
namespace mandator {
namespace {

// Reads an optional string field.
absl::Status OptionalString(const Poco::JSON::Object::Ptr& object,
                            const std::string& name, std::string* out) {
  if (!object->has(name) || object->isNull(name)) return absl::OkStatus();
  Poco::Dynamic::Var v = object->get(name);
  if (!v.isString()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", name, "\" must be a string"));
  }
  *out = v.extract<std::string>();
  return absl::OkStatus();
}

absl::Status OptionalRevision(const Poco::JSON::Object::Ptr& object,
                              const std::string& name,
                              std::optional<int64_t>* out) {
  if (!object->has(name) || object->isNull(name)) return absl::OkStatus();
  Poco::Dynamic::Var v = object->get(name);
  if (!v.isInteger()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", name, "\" must be an integer"));
  }
  int64_t value = 0;
  try {
    value = v.convert<Poco::Int64>();
  } catch (const Poco::Exception&) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", name, "\" is out of range"));
  }
  if (value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", name, "\" must be >= 0, not ", value));
  }
  *out = value;
  return absl::OkStatus();
}

std::string ConfigFields(const core::Config& config) {
  const zk::ConfigRecord& r = config.record;
  const char* encoding = EncodingFor(config.value);
  return absl::StrCat(
      "{\"namespace\":", JsonQuote(r.namespace_name()),
      ",\"key\":", JsonQuote(r.key()), ",\"revision\":", r.revision(),
      ",\"version\":", r.version(),
      ",\"value\":", JsonQuote(EncodeValue(config.value, encoding)),
      ",\"encoding\":\"", encoding,
      "\",\"content_type\":", JsonQuote(r.content_type()),
      ",\"size\":", config.value.size(), ",\"crc32\":", r.value().crc32(),
      ",\"author\":", JsonQuote(r.meta().author()),
      ",\"comment\":", JsonQuote(r.meta().comment()),
      ",\"mtime_ms\":", r.meta().mtime_ms(), "}");
}

}  // namespace

absl::Status ParsePutBody(const std::string& body, core::PutRequest* request) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object, ParseJsonObject(body));
  if (!object->has("value") || !object->get("value").isString()) {
    return absl::InvalidArgumentError(
        "field \"value\" is required and must be a string");
  }
  std::string value = object->get("value").extract<std::string>();
  std::string encoding = "utf8";
  KESS_RETURN_IF_ERROR(OptionalString(object, "encoding", &encoding));
  KESS_ASSIGN_OR_RETURN(request->value, DecodeValue(value, encoding));
  KESS_RETURN_IF_ERROR(
      OptionalString(object, "content_type", &request->content_type));
  KESS_RETURN_IF_ERROR(OptionalString(object, "author", &request->author));
  KESS_RETURN_IF_ERROR(OptionalString(object, "comment", &request->comment));
  return OptionalRevision(object, "expected_revision",
                          &request->expected_revision);
}

absl::Status ParseRollbackBody(const std::string& body,
                               core::RollbackRequest* request) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object, ParseJsonObject(body));
  std::optional<int64_t> to;
  KESS_RETURN_IF_ERROR(OptionalRevision(object, "to_revision", &to));
  if (!to.has_value()) {
    return absl::InvalidArgumentError(
        "field \"to_revision\" is required (an integer)");
  }
  request->to_revision = *to;
  KESS_RETURN_IF_ERROR(OptionalString(object, "author", &request->author));
  KESS_RETURN_IF_ERROR(OptionalString(object, "comment", &request->comment));
  return OptionalRevision(object, "expected_revision",
                          &request->expected_revision);
}

absl::Status ParseGrayBody(const std::string& body,
                           core::GrayRequest* request) {
  core::PutRequest put;
  KESS_RETURN_IF_ERROR(ParsePutBody(body, &put));
  request->value = std::move(put.value);
  request->content_type = std::move(put.content_type);
  request->expected_revision = put.expected_revision;
  request->author = std::move(put.author);
  request->comment = std::move(put.comment);
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object, ParseJsonObject(body));
  if (object->has("hosts") && !object->isNull("hosts")) {
    Poco::JSON::Array::Ptr hosts = object->getArray("hosts");
    if (hosts.isNull()) {
      return absl::InvalidArgumentError(
          "field \"hosts\" must be an array of host ids");
    }
    for (size_t i = 0; i < hosts->size(); ++i) {
      Poco::Dynamic::Var v = hosts->get(i);
      if (!v.isString()) {
        return absl::InvalidArgumentError(
            "field \"hosts\" must be an array of host ids (strings)");
      }
      request->hosts.push_back(v.extract<std::string>());
    }
  }
  std::optional<int64_t> percentage;
  KESS_RETURN_IF_ERROR(OptionalRevision(object, "percentage", &percentage));
  if (percentage.has_value()) {
    if (*percentage > 100) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field \"percentage\" must be 0..100, not ", *percentage));
    }
    request->percentage = static_cast<uint32_t>(*percentage);
  }
  return absl::OkStatus();
}

absl::Status ParseGrayEndBody(const std::string& body,
                              core::GrayEndRequest* request) {
  if (body.empty()) return absl::OkStatus();
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object, ParseJsonObject(body));
  KESS_RETURN_IF_ERROR(OptionalString(object, "author", &request->author));
  return OptionalString(object, "comment", &request->comment);
}

std::string GrayToJson(const core::GrayInfo& gray) {
  const zk::GrayRecord& r = gray.record;
  const char* encoding = EncodingFor(gray.value);
  std::vector<std::string> hosts;
  for (const std::string& h : r.hosts()) hosts.push_back(JsonQuote(h));
  return absl::StrCat(
      "{\"namespace\":", JsonQuote(r.namespace_name()),
      ",\"key\":", JsonQuote(r.key()),
      ",\"active\":", gray.active ? "true" : "false",
      ",\"revision\":", r.revision(), ",\"base_revision\":", r.base_revision(),
      ",\"config_revision\":", gray.config_revision, ",\"hosts\":[",
      absl::StrJoin(hosts, ","), "],\"percentage\":", r.percentage(),
      ",\"value\":", JsonQuote(EncodeValue(gray.value, encoding)),
      ",\"encoding\":\"", encoding,
      "\",\"content_type\":", JsonQuote(r.content_type()),
      ",\"size\":", gray.value.size(), ",\"crc32\":", r.value().crc32(),
      ",\"author\":", JsonQuote(r.meta().author()),
      ",\"comment\":", JsonQuote(r.meta().comment()),
      ",\"mtime_ms\":", r.meta().mtime_ms(), "}");
}

absl::StatusOr<int64_t> ParseNonNegative(absl::string_view name,
                                         absl::string_view text) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name,
                     " must be a non-negative integer, not \"", text, "\""));
  }
  return value;
}

std::string ConfigToJson(const core::Config& config) {
  return ConfigFields(config);
}

std::string KeysToJson(const std::string& ns,
                       const std::vector<core::KeyInfo>& keys) {
  std::vector<std::string> items;
  for (const core::KeyInfo& k : keys) {
    items.push_back(absl::StrCat(
        "{\"key\":", JsonQuote(k.key), ",\"revision\":", k.revision,
        ",\"version\":", k.version, ",\"size\":", k.size, "}"));
  }
  return absl::StrCat("{\"namespace\":", JsonQuote(ns), ",\"keys\":[",
                      absl::StrJoin(items, ","), "]}");
}

std::string NamespacesToJson(const std::vector<std::string>& namespaces) {
  std::vector<std::string> items;
  for (const std::string& ns : namespaces) items.push_back(JsonQuote(ns));
  return absl::StrCat("{\"namespaces\":[", absl::StrJoin(items, ","), "]}");
}

std::string HistoryToJson(const std::vector<core::Config>& versions) {
  std::vector<std::string> items;
  for (const core::Config& c : versions) items.push_back(ConfigFields(c));
  return absl::StrCat("{\"versions\":[", absl::StrJoin(items, ","), "]}");
}

std::string CommitToJson(const core::CommitResult& result, bool with_version,
                         bool coalesced) {
  return absl::StrCat(
      "{\"revision\":", result.revision,
      with_version ? absl::StrCat(",\"version\":", result.version) : "",
      coalesced ? ",\"coalesced\":true" : "", "}");
}

}  // namespace mandator
}  // namespace kess
