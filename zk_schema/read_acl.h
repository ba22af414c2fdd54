// Read ACLs: who may read the configs of a namespace or the route table of
// a service (ReadAclRecord, schema.proto; docs/security.md, "Read rights").
// The mandator validates an ACL before it stores it; the distributor
// compiles every stored ACL once and asks Allows() per subscribed key and
// connection (and caches the answer per connection).
//
// An ACL lists
//  - host patterns: host ids (model/names.h kHost) with the wildcards '*'
//    (any run of characters, also none) and '?' (one character), e.g.
//    "web-*", "db-0?", "*"; they match readers of kind "host" only;
//  - identities: "<kind>/<name>" of any principal kind, exact, e.g.
//    "service/billing", "operator/alice", "host/web-1".
// A reader is allowed iff some entry matches it. An empty ACL allows
// nobody (a namespace locked down).
//
// Limits (hostile input): at most kMaxReadAclEntries entries, each at most
// kMaxNameLength + 16 characters, of the name charset plus '*' and '?' (for
// patterns) or one '/' (identities); at most kMaxPatternStars '*' per
// pattern. Matching costs O(length of pattern x length of host id) at
// worst, both bounded; exact and "prefix*" patterns (the common case) are
// one hash lookup or a short prefix scan.
//
// Thread-safe: CompiledReadAcl is immutable after Compile; the functions
// are pure.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "common/status.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace zk {

inline constexpr size_t kMaxReadAclEntries = 1000;
inline constexpr size_t kMaxPatternStars = 8;

// The authenticated reader of a connection: its principal's kind ("host",
// "service", "operator", ...) and name (host id, service, ...). Built by
// the distributor from the transport's principal; never from a name the
// client merely claims.
struct Reader {
  std::string kind;
  std::string name;
};

// OK iff `pattern` is a valid host pattern (see above).
absl::Status ValidateHostPattern(absl::string_view pattern);
// OK iff `identity` is "<kind>/<name>" with a known kind and a valid name.
absl::Status ValidateIdentity(absl::string_view identity);
// Both lists of `record` (count, each entry); the names it is for are the
// caller's to check.
absl::Status ValidateReadAcl(const ReadAclRecord& record);

// '*' and '?' glob match of `text` against `pattern`.
bool GlobMatch(absl::string_view pattern, absl::string_view text);

class CompiledReadAcl {
 public:
  // InvalidArgument for an entry ValidateReadAcl refuses.
  static absl::StatusOr<CompiledReadAcl> Compile(const ReadAclRecord& record);

  bool Allows(const Reader& reader) const;

 private:
  bool any_host_ = false;                         // pattern "*"
  absl::flat_hash_set<std::string> exact_hosts_;  // no wildcard
  std::vector<std::string> prefixes_;             // "web-*" -> "web-"
  std::vector<std::string> globs_;                // every other pattern
  absl::flat_hash_set<std::string> identities_;   // "kind/name"
};

}  // namespace zk
}  // namespace kess
