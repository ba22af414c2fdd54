#include "clients/conformance/json_writer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/json_util.h"

namespace kess {
namespace clients {
namespace conformance {

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Int(int64_t i) {
  JsonValue v;
  v.kind_ = Kind::kInt;
  v.int_ = i;
  return v;
}

JsonValue JsonValue::Double(double d) {
  JsonValue v;
  v.kind_ = Kind::kDouble;
  v.double_ = d;
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array() {
  JsonValue v;
  v.kind_ = Kind::kArray;
  return v;
}

JsonValue JsonValue::Object() {
  JsonValue v;
  v.kind_ = Kind::kObject;
  return v;
}

JsonValue& JsonValue::Push(JsonValue v) {
  items_.emplace_back("", std::move(v));
  return items_.back().second;
}

JsonValue& JsonValue::Set(const std::string& key, JsonValue v) {
  items_.emplace_back(key, std::move(v));
  return items_.back().second;
}

bool JsonValue::IsScalar() const {
  return kind_ != Kind::kArray && kind_ != Kind::kObject;
}

bool JsonValue::IsFlat() const {
  for (const auto& item : items_) {
    if (!item.second.IsScalar()) return false;
  }
  return true;
}

namespace {

std::string FormatDouble(double d) {
  if (!std::isfinite(d)) return "null";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  // Keep it a JSON number that reads back as a double in every language.
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

void JsonValue::PrintTo(std::string* out, int indent) const {
  switch (kind_) {
    case Kind::kNull:
      out->append("null");
      return;
    case Kind::kBool:
      out->append(bool_ ? "true" : "false");
      return;
    case Kind::kInt:
      absl::StrAppend(out, int_);
      return;
    case Kind::kDouble:
      out->append(FormatDouble(double_));
      return;
    case Kind::kString:
      out->append(JsonQuote(string_));
      return;
    case Kind::kArray:
    case Kind::kObject:
      break;
  }
  const bool object = kind_ == Kind::kObject;
  const char open = object ? '{' : '[';
  const char close = object ? '}' : ']';
  if (items_.empty()) {
    out->push_back(open);
    out->push_back(close);
    return;
  }
  if (IsFlat()) {
    out->push_back(open);
    for (size_t i = 0; i < items_.size(); ++i) {
      if (i > 0) out->append(", ");
      if (object) absl::StrAppend(out, JsonQuote(items_[i].first), ": ");
      items_[i].second.PrintTo(out, indent);
    }
    out->push_back(close);
    return;
  }
  const std::string pad(indent + 2, ' ');
  out->push_back(open);
  out->push_back('\n');
  for (size_t i = 0; i < items_.size(); ++i) {
    out->append(pad);
    if (object) absl::StrAppend(out, JsonQuote(items_[i].first), ": ");
    items_[i].second.PrintTo(out, indent + 2);
    if (i + 1 < items_.size()) out->push_back(',');
    out->push_back('\n');
  }
  out->append(std::string(indent, ' '));
  out->push_back(close);
}

std::string JsonValue::Print() const {
  std::string out;
  PrintTo(&out, 0);
  out.push_back('\n');
  return out;
}

}  // namespace conformance
}  // namespace clients
}  // namespace kess
