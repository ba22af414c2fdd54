// JsonValue: a small ordered JSON document model and its printer, for the
// vector files. Object keys keep insertion order and the printer's layout
// is fixed (two-space indent; arrays of scalars and objects that hold only
// scalars on one line), so the same vectors always give the same bytes and
// a change to the SDK shows up as a readable diff.
//
// Thread-safety: value type; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kess {
namespace clients {
namespace conformance {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

  JsonValue() = default;  // null
  static JsonValue Bool(bool b);
  static JsonValue Int(int64_t i);
  // Printed with up to 17 significant digits (shortest that round-trips).
  static JsonValue Double(double d);
  static JsonValue String(std::string s);
  static JsonValue Array();
  static JsonValue Object();

  // Array: appends. REQUIRES: kind() == kArray.
  JsonValue& Push(JsonValue v);
  // Object: adds a member (keys are not deduplicated). REQUIRES: kObject.
  JsonValue& Set(const std::string& key, JsonValue v);

  Kind kind() const { return kind_; }
  size_t size() const { return items_.size(); }

  // The document as text, ending with a newline.
  std::string Print() const;

 private:
  void PrintTo(std::string* out, int indent) const;
  bool IsScalar() const;
  bool IsFlat() const;  // an array or object holding only scalars

  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<std::pair<std::string, JsonValue>> items_;  // key "" in arrays
};

}  // namespace conformance
}  // namespace clients
}  // namespace kess
