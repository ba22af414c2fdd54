// The one validator for every name that enters kess: namespaces, config keys,
// service names, DC names, host ids. Used at every entry point (HTTP API,
// kessctl, transport handlers, agent subscription API, SDK) so that a name
// can never escape the ZooKeeper subtree or the agent's file-cache directory
// (invariant 13 of docs/design.md).
//
// Charset: ASCII letters, digits, '.', '_', '-'. Must start with a letter or
// digit; may not be "." or "..", and may not contain "..". Length 1..128
// (kMaxNameLength). Names are case-sensitive.
//
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {

inline constexpr size_t kMaxNameLength = 128;

enum class NameKind { kNamespace, kKey, kService, kDatacenter, kHost };

// "namespace", "key", ... for error messages.
const char* NameKindToString(NameKind kind);

// OK, or InvalidArgument saying which rule `name` broke, e.g.
//   key "a/b" is invalid: character '/' at offset 1 is not allowed
//   (allowed: A-Z a-z 0-9 . _ -)
absl::Status ValidateName(NameKind kind, absl::string_view name);

}  // namespace kess
