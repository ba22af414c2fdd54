// What the distributor holds per key: one version of one resource, already
// serialized for the wire, plus the few fields the distributor compares.
//
// Keys. A protocol::ResourceKey is identified internally by a canonical
// string, "c/<namespace>/<key>" for configs, "r/<service>" for route
// tables and "n/<namespace>" for a whole namespace (subscriptions only). Names are validated with model/names.h before they become keys,
// and valid names contain no '/', so the string is unambiguous.
//
// Thread-safety: an Item is immutable once built and shared between threads
// through ItemPtr; the functions are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "model/protocol/distribution.pb.h"
#include "model/route_delta.h"
#include "common/status.h"
#include "zk_schema/read_acl.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace distributor {

struct Item {
  std::string key;       // canonical, see above
  int64_t revision = 0;  // the record's global revision (or the delete's)
  bool absent = false;   // deleted (a tombstone) or never existed
  uint32_t crc32 = 0;    // of the value
  uint64_t value_size = 0;
  std::string wire;  // the serialized protocol::Resource
  // Gray items only (key "g/<ns>/<key>"): the gray release's selector
  // (zk_schema/gray.h; its value cleared). `wire` is then the gray version
  // as a Resource of config <ns>/<key>, at the gray revision.
  std::shared_ptr<const zk::GrayRecord> gray;
  // Route tables only: this version as route deltas against earlier
  // versions of the table, newest base first (route_deltas.h). A
  // connection that takes deltas and holds `base_revision` is sent `item`
  // (its `wire`: the Resource with route_delta and no value) instead.
  struct Delta {
    int64_t base_revision = 0;
    std::shared_ptr<const RouteDelta> delta;
    std::shared_ptr<const Item> item;
  };
  std::vector<Delta> deltas;
  // Read-ACL items only (keys "a/n/<ns>", "a/s/<service>"): the compiled
  // ACL (zk_schema/read_acl.h); null for a tombstone. `wire` is empty:
  // never sent.
  std::shared_ptr<const zk::CompiledReadAcl> acl;
};
using ItemPtr = std::shared_ptr<const Item>;

// The canonical key of `key`, or InvalidArgument naming the invalid name
// (or an unknown type).
absl::StatusOr<std::string> CanonicalKey(const protocol::ResourceKey& key);
// REQUIRES: valid names (not checked here).
std::string ConfigKeyString(absl::string_view ns, absl::string_view key);
std::string RouteKeyString(absl::string_view service);
// "g/<ns>/<key>": the gray release of config <ns>/<key> (never subscribed
// to; served in place of "c/<ns>/<key>" to the hosts it selects).
std::string GrayKeyString(absl::string_view ns, absl::string_view key);
// The gray key of a config key ("c/ns/k" -> "g/ns/k"); "" for others.
std::string GrayKeyOf(absl::string_view config_key);
// The config key of a gray key ("g/ns/k" -> "c/ns/k"); "" for others.
std::string ConfigKeyOfGray(absl::string_view gray_key);
bool IsGrayKey(absl::string_view key);
// "n/<ns>": a namespace subscription (every "c/<ns>/*" key, also later
// ones). Never a DataSet key.
std::string NamespaceKeyString(absl::string_view ns);
// The namespace of a config key ("c/ns/k" -> "ns"); "" for others.
std::string NamespaceOfConfigKey(absl::string_view config_key);
// The namespace of a namespace key ("n/ns" -> "ns"); "" for others.
std::string NamespaceOfKey(absl::string_view key);

// "a/n/<ns>" and "a/s/<service>": the read ACL of a namespace or service
// (never subscribed to; consulted for every "c/<ns>/*", "n/<ns>" and
// "r/<service>" key).
std::string NamespaceAclKeyString(absl::string_view ns);
std::string ServiceAclKeyString(absl::string_view service);
// The ACL key that governs `key` ("c/ns/k" and "n/ns" -> "a/n/ns",
// "r/svc" -> "a/s/svc"); "" for others.
std::string AclKeyOf(absl::string_view key);
bool IsAclKey(absl::string_view key);

// `item` (a config or route version) as served at `revision` instead of
// its own: the version a reader gets when a read-ACL change at `revision`
// made it visible (subscription_hub.h, "Read rights").
ItemPtr Restamp(const ItemPtr& item, int64_t revision);
// A "denied" answer for `key`: absent, Resource.denied set, at `revision`.
ItemPtr MakeDenied(const std::string& key, int64_t revision);

// The ResourceKey of a canonical key (inverse of CanonicalKey).
protocol::ResourceKey ParseKeyString(absl::string_view key);

// An Item for `resource` (its key must be valid: it is canonicalised here).
absl::StatusOr<ItemPtr> MakeItem(const protocol::Resource& resource);
// A tombstone / "does not exist" answer for `key` at `revision`.
ItemPtr MakeAbsent(const std::string& key, int64_t revision);

// True when `a` and `b` describe the same version (revision, presence,
// checksum and size).
bool SameVersion(const Item& a, const Item& b);

}  // namespace distributor
}  // namespace kess
