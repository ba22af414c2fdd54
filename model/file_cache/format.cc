#include "model/file_cache/format.h"

#include <tuple>

#include "Poco/Exception.h"
#include "Poco/JSON/Object.h"
#include "Poco/JSON/Parser.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "model/names.h"
#include "common/value_encoding.h"

namespace kess {
namespace file_cache {
namespace {

absl::Status Garbled(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("garbled cache file: ", why));
}

absl::StatusOr<Poco::Dynamic::Var> Field(const Poco::JSON::Object::Ptr& obj,
                                         const std::string& name) {
  if (!obj->has(name)) return Garbled("missing field \"" + name + "\"");
  return obj->get(name);
}

absl::StatusOr<int64_t> IntField(const Poco::JSON::Object::Ptr& obj,
                                 const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Poco::Dynamic::Var v, Field(obj, name));
  if (!v.isInteger()) return Garbled("\"" + name + "\" is not an integer");
  try {
    return v.convert<Poco::Int64>();
  } catch (const Poco::Exception& e) {
    return Garbled("\"" + name + "\": " + e.displayText());
  }
}

absl::StatusOr<std::string> StringField(const Poco::JSON::Object::Ptr& obj,
                                        const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Poco::Dynamic::Var v, Field(obj, name));
  if (!v.isString()) return Garbled("\"" + name + "\" is not a string");
  return v.extract<std::string>();
}

absl::StatusOr<bool> BoolField(const Poco::JSON::Object::Ptr& obj,
                               const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Poco::Dynamic::Var v, Field(obj, name));
  if (!v.isBoolean()) return Garbled("\"" + name + "\" is not a boolean");
  return v.extract<bool>();
}

}  // namespace

CacheKey CacheKey::Config(std::string ns, std::string key) {
  CacheKey k;
  k.type = Type::kConfig;
  k.namespace_name = std::move(ns);
  k.key = std::move(key);
  return k;
}

CacheKey CacheKey::Route(std::string service) {
  CacheKey k;
  k.type = Type::kRoute;
  k.service = std::move(service);
  return k;
}

std::string CacheKey::ToString() const {
  return type == Type::kConfig
             ? absl::StrCat("config ", namespace_name, "/", key)
             : absl::StrCat("route ", service);
}

bool CacheKey::operator<(const CacheKey& o) const {
  return std::tie(type, namespace_name, key, service) <
         std::tie(o.type, o.namespace_name, o.key, o.service);
}

bool CacheKey::operator==(const CacheKey& o) const {
  return type == o.type && namespace_name == o.namespace_name && key == o.key &&
         service == o.service;
}

absl::Status ValidateKey(const CacheKey& key) {
  if (key.type == CacheKey::Type::kConfig) {
    KESS_RETURN_IF_ERROR(
        ValidateName(NameKind::kNamespace, key.namespace_name));
    return ValidateName(NameKind::kKey, key.key);
  }
  return ValidateName(NameKind::kService, key.service);
}

std::string RelativePath(const CacheKey& key) {
  if (key.type == CacheKey::Type::kConfig) {
    return absl::StrCat("configs/", key.namespace_name, "/", key.key, ".json");
  }
  return absl::StrCat("routes/", key.service, ".json");
}

absl::StatusOr<std::string> PathFor(const std::string& cache_dir,
                                    const CacheKey& key) {
  KESS_RETURN_IF_ERROR(ValidateKey(key));
  return absl::StrCat(cache_dir, "/", RelativePath(key));
}

std::string EncodeEntry(const CacheEntry& entry) {
  const bool utf8 = IsPlainUtf8(entry.value);
  std::string out = absl::StrCat("{\"format\":", kFormatVersion);
  if (entry.key.type == CacheKey::Type::kConfig) {
    absl::StrAppend(&out, ",\"type\":\"config\",\"namespace\":",
                    JsonQuote(entry.key.namespace_name),
                    ",\"key\":", JsonQuote(entry.key.key));
  } else {
    absl::StrAppend(
        &out, ",\"type\":\"route\",\"service\":", JsonQuote(entry.key.service));
  }
  absl::StrAppend(
      &out, ",\"revision\":", entry.revision,
      ",\"absent\":", entry.absent ? "true" : "false",
      ",\"crc32\":", Crc32(entry.value),
      ",\"encoding\":", utf8 ? "\"utf8\"" : "\"base64\"", ",\"value\":",
      JsonQuote(utf8 ? entry.value : absl::Base64Escape(entry.value)),
      ",\"content_type\":", JsonQuote(entry.content_type),
      ",\"mtime_ms\":", entry.mtime_ms, ",\"written_ms\":", entry.written_ms,
      "}\n");
  return out;
}

absl::StatusOr<CacheEntry> DecodeEntry(absl::string_view text) {
  Poco::JSON::Object::Ptr obj;
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(std::string(text));
    if (v.type() != typeid(Poco::JSON::Object::Ptr)) {
      return Garbled("not a JSON object");
    }
    obj = v.extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception& e) {
    return Garbled("not JSON: " + e.displayText());
  } catch (const std::exception& e) {
    return Garbled(std::string("not JSON: ") + e.what());
  }
  KESS_ASSIGN_OR_RETURN(int64_t format, IntField(obj, "format"));
  if (format != kFormatVersion) {
    return Garbled(absl::StrCat("unknown format version ", format));
  }
  CacheEntry entry;
  KESS_ASSIGN_OR_RETURN(std::string type, StringField(obj, "type"));
  if (type == "config") {
    KESS_ASSIGN_OR_RETURN(entry.key.namespace_name,
                          StringField(obj, "namespace"));
    KESS_ASSIGN_OR_RETURN(entry.key.key, StringField(obj, "key"));
    entry.key.type = CacheKey::Type::kConfig;
  } else if (type == "route") {
    KESS_ASSIGN_OR_RETURN(entry.key.service, StringField(obj, "service"));
    entry.key.type = CacheKey::Type::kRoute;
  } else {
    return Garbled("unknown type \"" + type + "\"");
  }
  absl::Status valid = ValidateKey(entry.key);
  if (!valid.ok()) return Garbled(valid.message());

  KESS_ASSIGN_OR_RETURN(entry.revision, IntField(obj, "revision"));
  KESS_ASSIGN_OR_RETURN(entry.absent, BoolField(obj, "absent"));
  KESS_ASSIGN_OR_RETURN(int64_t crc, IntField(obj, "crc32"));
  KESS_ASSIGN_OR_RETURN(std::string encoding, StringField(obj, "encoding"));
  KESS_ASSIGN_OR_RETURN(std::string value, StringField(obj, "value"));
  if (encoding == "utf8") {
    entry.value = std::move(value);
  } else if (encoding == "base64") {
    if (!absl::Base64Unescape(value, &entry.value)) {
      return Garbled("\"value\" is not valid base64");
    }
  } else {
    return Garbled("unknown encoding \"" + encoding + "\"");
  }
  KESS_ASSIGN_OR_RETURN(entry.content_type, StringField(obj, "content_type"));
  KESS_ASSIGN_OR_RETURN(entry.mtime_ms, IntField(obj, "mtime_ms"));
  KESS_ASSIGN_OR_RETURN(entry.written_ms, IntField(obj, "written_ms"));
  const uint32_t actual = Crc32(entry.value);
  if (crc != static_cast<int64_t>(actual)) {
    return Garbled(absl::StrCat("crc32 of the value is ", actual,
                                ", the file says ", crc));
  }
  return entry;
}

}  // namespace file_cache
}  // namespace kess
