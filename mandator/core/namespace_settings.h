// NamespaceSettings: what every value written to a namespace must be, kept
// in the namespace's node (/kess/configs/<ns>, zk::NamespaceInfo) and
// enforced by the main DC's leader before anything is written:
//
//   format       "json", "yaml", "properties" or "text" ("" = each value's
//                own content type decides which check applies). A write
//                without a content type takes the format's; one whose
//                content type names another format is refused.
//   json_schema  a JSON Schema (draft 7) that every value must satisfy
//                ("" = none). It must compile, and needs format json or
//                yaml (YAML values are checked as the JSON they denote).
//   secret       values are stored encrypted (docs/security.md, "Encrypted
//                values"): CheckValue checks the plaintext, then seals it
//                with the newest key of the namespace's key ring
//                (<secret_keys_dir>/<ns>.key, model/secrets) and returns the
//                envelope to store. A value that already is an envelope of
//                this namespace and key (a rollback, a re-encryption, a
//                restore) is opened with the ring and sealed again when its
//                key is not the newest (kept as it is otherwise); its
//                plaintext is NOT checked against the format or schema
//                again (it was when first sealed; checking it under changed
//                settings would answer questions about a plaintext the
//                writer may not read). One that does not open is refused. A namespace that is not secret refuses values
//                that start with the envelope's magic "kess:enc:", so that a
//                host can tell sealed values from plain ones.
//
// A refusal is InvalidArgument naming the value, the line and column of a
// syntax error or the JSON Pointer of each schema violation (up to 5), and
// "nothing was written". The settings are checked only where writes are
// committed (the main DC); slave DCs get the namespace node by replication
// and need them for nothing.
//
// Compiled schemas are cached per namespace with the node's bytes, so a
// write costs one ZooKeeper read of the namespace node and no
// recompilation.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "model/formats/json_schema.h"
#include "model/secrets/key_dir.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace core {

struct NamespaceSettings {
  std::string format;       // "" or a model/formats name
  std::string json_schema;  // "" or a JSON Schema document
  // As stored: who set them last, when (0 and "" when never set).
  std::string author;
  int64_t mtime_ms = 0;
  bool secret = false;  // values stored encrypted
};

class NamespaceSettingsStore {
 public:
  // `zk` must outlive the store; `acl` is the ACL of a namespace node it
  // creates, `writer_id` its Meta.writer; `secret_keys_dir` holds the key
  // rings of secret namespaces ("" = none: writes to them are refused).
  NamespaceSettingsStore(zk::ZkApi* zk, zk::Layout layout, zk::AclList acl,
                         std::string writer_id,
                         std::string secret_keys_dir = "");

  // Defaults (empty) for a namespace that has none or does not exist.
  absl::StatusOr<NamespaceSettings> Get(const std::string& ns);
  // Validates (a known format; a schema that compiles, is at most
  // formats::kMaxSchemaBytes, and comes with format json or yaml; secret
  // only when this mandator holds a usable key ring for the namespace:
  // FailedPrecondition otherwise) and writes them, creating the namespace
  // node if needed. Existing values are neither re-checked nor re-encrypted
  // (kessctl secrets reencrypt does that).
  absl::Status Set(const std::string& ns, const NamespaceSettings& settings,
                   const std::string& author);

  // What to store for a checked value.
  struct CheckedValue {
    std::string content_type;
    std::string value;  // the value itself, or its envelope (secret)
  };
  // Checks a value about to be written to ns/key with `content_type`; on
  // success returns the content type to store (the format's when
  // `content_type` is empty and the namespace declares one) and the value
  // to store (sealed in a secret namespace). FailedPrecondition when the
  // namespace is secret and this mandator has no usable key ring for it.
  absl::StatusOr<CheckedValue> CheckValue(const char* what,
                                         const std::string& ns,
                                         const std::string& key,
                                         const std::string& value,
                                         const std::string& content_type);

 private:
  struct Cached {
    std::string data;  // the namespace node's bytes these came from
    NamespaceSettings settings;
    std::shared_ptr<const formats::JsonSchema> schema;  // null: none
  };
  absl::StatusOr<Cached> Load(const std::string& ns);

  zk::ZkApi* const zk_;
  const zk::Layout layout_;
  const zk::AclList acl_;
  const std::string writer_id_;
  secrets::KeyRingDir keys_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace core
}  // namespace mandator
}  // namespace kess
