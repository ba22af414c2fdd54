#include "mandator/config_json.h"

#include <sstream>

#include "Poco/Base64Decoder.h"
#include "Poco/Base64Encoder.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"

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

std::string ConfigFields(const Config& config) {
  const zk::ConfigRecord& r = config.record;
  const bool utf8 = IsValidUtf8(config.value);
  return absl::StrCat(
      "{\"namespace\":", JsonQuote(r.namespace_name()),
      ",\"key\":", JsonQuote(r.key()), ",\"revision\":", r.revision(),
      ",\"version\":", r.version(), ",\"value\":",
      JsonQuote(utf8 ? config.value : Base64Encode(config.value)),
      ",\"encoding\":\"", utf8 ? "utf8" : "base64",
      "\",\"content_type\":", JsonQuote(r.content_type()),
      ",\"size\":", config.value.size(), ",\"crc32\":", r.value().crc32(),
      ",\"author\":", JsonQuote(r.meta().author()),
      ",\"comment\":", JsonQuote(r.meta().comment()),
      ",\"mtime_ms\":", r.meta().mtime_ms(), "}");
}

}  // namespace

absl::Status ParsePutBody(const std::string& body, PutRequest* request) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object, ParseJsonObject(body));
  if (!object->has("value") || !object->get("value").isString()) {
    return absl::InvalidArgumentError(
        "field \"value\" is required and must be a string");
  }
  std::string value = object->get("value").extract<std::string>();
  std::string encoding = "utf8";
  KESS_RETURN_IF_ERROR(OptionalString(object, "encoding", &encoding));
  if (encoding == "base64") {
    KESS_ASSIGN_OR_RETURN(value, Base64Decode(value));
  } else if (encoding != "utf8") {
    return absl::InvalidArgumentError(absl::StrCat(
        "encoding must be \"utf8\" or \"base64\", not \"", encoding, "\""));
  }
  request->value = std::move(value);
  KESS_RETURN_IF_ERROR(
      OptionalString(object, "content_type", &request->content_type));
  KESS_RETURN_IF_ERROR(OptionalString(object, "author", &request->author));
  KESS_RETURN_IF_ERROR(OptionalString(object, "comment", &request->comment));
  return OptionalRevision(object, "expected_revision",
                          &request->expected_revision);
}

absl::Status ParseRollbackBody(const std::string& body,
                               RollbackRequest* request) {
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

std::string ConfigToJson(const Config& config) { return ConfigFields(config); }

std::string KeysToJson(const std::string& ns,
                       const std::vector<KeyInfo>& keys) {
  std::vector<std::string> items;
  for (const KeyInfo& k : keys) {
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

std::string HistoryToJson(const std::vector<Config>& versions) {
  std::vector<std::string> items;
  for (const Config& c : versions) items.push_back(ConfigFields(c));
  return absl::StrCat("{\"versions\":[", absl::StrJoin(items, ","), "]}");
}

std::string CommitToJson(const CommitResult& result, bool with_version,
                         bool coalesced) {
  return absl::StrCat(
      "{\"revision\":", result.revision,
      with_version ? absl::StrCat(",\"version\":", result.version) : "",
      coalesced ? ",\"coalesced\":true" : "", "}");
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= s.size()) return false;
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values above U+10FFFF are invalid.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
        (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string Base64Encode(absl::string_view data) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.rdbuf()->setLineLength(0);
  encoder.write(data.data(), static_cast<std::streamsize>(data.size()));
  encoder.close();
  return out.str();
}

absl::StatusOr<std::string> Base64Decode(absl::string_view text) {
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!ok) {
      return absl::InvalidArgumentError(
          "value is not valid base64 (allowed: A-Z a-z 0-9 + / =)");
    }
  }
  try {
    std::istringstream in{std::string(text)};
    Poco::Base64Decoder decoder(in);
    std::string out;
    char buf[64 * 1024];
    while (decoder) {
      decoder.read(buf, sizeof(buf));
      out.append(buf, static_cast<size_t>(decoder.gcount()));
    }
    return out;
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError("value is not valid base64: " +
                                      e.displayText());
  }
}

}  // namespace mandator
}  // namespace kess
