// ReadAccess: may this connection read this key? The read ACLs of
// namespaces and services (zk_schema/read_acl.h) are held in the DataSet as
// items "a/n/<ns>" and "a/s/<service>" (loaded and followed like every
// record); this decides per key and reader (docs/security.md, "Read
// rights").
//
//  - Not enforcing (no authenticated principals on the transport, e.g.
//    plaintext development mode): everyone reads everything, as before read
//    rights existed; the daemon logs that ACLs are not enforceable.
//  - A key whose namespace or service has a live ACL: the reader must be
//    allowed by it; a connection without a principal (anonymous) never is.
//  - No ACL: allowed, unless default_deny (--acl_default_deny).
//
// Revisions: a version made visible to a reader by an ACL change is served
// at the ACL change's revision when that is newer than the version's own
// (Stamp), and a refusal drops a copy the agent holds with a tombstone at
// the ACL's revision (resource.h MakeDenied). So grants and revocations
// both move every affected host forward, and every distributor of every DC
// answers a host the same (the ACL items are replicated data).
//
// Cost: one DataSet lookup per key (Rule), then per reader one hash lookup
// for an exact host or identity, a prefix compare per "prefix*" pattern,
// and a bounded glob per other pattern (read_acl.h).
//
// Thread-safety: immutable after construction; the DataSet is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "distributor/data_set.h"
#include "distributor/resource.h"
#include "zk_schema/read_acl.h"

namespace kess {
namespace distributor {

struct ReadAccessOptions {
  // Decide at all: the transport proves who each connection is.
  bool enforce = false;
  // A namespace or service without an ACL is readable by nobody (but
  // readers its own ACL allows).
  bool default_deny = false;
};

// The ACL governing one key, looked up once per key per answer or change.
struct ReadRule {
  ItemPtr acl;              // the live ACL item, or nullptr
  bool restricted = false;  // some reader may be refused this key
};

class ReadAccess {
 public:
  // `data` must outlive this.
  ReadAccess(const DataSet* data, ReadAccessOptions options);

  bool enforce() const { return options_.enforce; }
  bool default_deny() const { return options_.default_deny; }

  // The rule for a config ("c/"), namespace ("n/") or route ("r/") key.
  ReadRule RuleFor(const std::string& key) const;
  // The rule an ACL item (live, or a tombstone) sets for its keys.
  ReadRule RuleOf(const ItemPtr& acl_item) const;
  // `reader`: the connection's principal; nullopt = anonymous.
  bool Allows(const ReadRule& rule,
              const std::optional<zk::Reader>& reader) const;
  // The revision a version of a key under `rule` is served at, at least:
  // the ACL's (0 without one).
  static int64_t Stamp(const ReadRule& rule) {
    return rule.acl != nullptr ? rule.acl->revision : 0;
  }

 private:
  const DataSet* const data_;
  const ReadAccessOptions options_;
};

// "config", "route" or "namespace" (the {kind} of
// kess_distributor_read_denied_total) for a canonical key.
const char* AccessKindOf(const std::string& key);

}  // namespace distributor
}  // namespace kess
