// Small JSON helpers shared by the HTTP APIs. For building or parsing whole
// documents use Poco::JSON (Object, Array, Parser) directly.
#pragma once

#include <string>

#include "Poco/JSON/Object.h"
#include "common/status.h"

namespace kess {

// `s` as a JSON string literal, quotes included ("a\"b" -> "\"a\\\"b\"").
// Control characters and '<', '>', '&' are \u-escaped, so the result is safe
// to embed in HTML too; other bytes (UTF-8) pass through unchanged.
std::string JsonQuote(const std::string& s);

// Parses `text` as a JSON object. InvalidArgument with the parser's message
// (and position) when it is not valid JSON or not an object.
absl::StatusOr<Poco::JSON::Object::Ptr> ParseJsonObject(const std::string& text);

// Poco::JSON::Object -> compact JSON text.
std::string ToJson(const Poco::JSON::Object::Ptr& object);

}  // namespace kess
