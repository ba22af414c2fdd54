#include "common/json_util.h"

#include <sstream>

#include "Poco/Exception.h"
#include "Poco/JSON/Parser.h"
#include "absl/strings/str_format.h"

namespace kess {

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '<':
      case '>':
      case '&':
        out += absl::StrFormat("\\u%04x", c);
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);  // UTF-8 bytes pass through
        }
    }
  }
  out += "\"";
  return out;
}

absl::StatusOr<Poco::JSON::Object::Ptr> ParseJsonObject(
    const std::string& text) {
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var v = parser.parse(text);
    if (v.type() != typeid(Poco::JSON::Object::Ptr)) {
      return absl::InvalidArgumentError("JSON body must be an object");
    }
    return v.extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError("malformed JSON: " + e.displayText());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("malformed JSON: ") +
                                      e.what());
  }
}

std::string ToJson(const Poco::JSON::Object::Ptr& object) {
  std::ostringstream out;
  object->stringify(out);
  return out.str();
}

}  // namespace kess
