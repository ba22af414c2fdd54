#include "mandator/core/namespace_settings.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "model/formats/format.h"
#include "model/names.h"
#include "model/secrets/envelope.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/codec.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

constexpr size_t kMaxViolationsShown = 5;

std::string Name(const std::string& ns, const std::string& key) {
  return absl::StrCat(ns, "/", key);
}

}  // namespace

NamespaceSettingsStore::NamespaceSettingsStore(zk::ZkApi* zk,
                                               zk::Layout layout,
                                               zk::AclList acl,
                                               std::string writer_id,
                                               std::string secret_keys_dir)
    : zk_(zk),
      layout_(std::move(layout)),
      acl_(std::move(acl)),
      writer_id_(std::move(writer_id)),
      keys_(std::move(secret_keys_dir)) {}

absl::StatusOr<NamespaceSettingsStore::Cached> NamespaceSettingsStore::Load(
    const std::string& ns) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  KESS_ASSIGN_OR_RETURN(std::string path, layout_.NamespacePath(ns));
  absl::StatusOr<zk::GetResult> node = zk_->Get(path);
  if (absl::IsNotFound(node.status())) return Cached{};
  if (!node.ok()) return node.status();
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(ns);
    if (it != cache_.end() && it->second.data == node->data) return it->second;
  }
  KESS_ASSIGN_OR_RETURN(zk::NamespaceInfo info,
                        zk::DecodeAs<zk::NamespaceInfo>(node->data, path));
  Cached cached;
  cached.data = node->data;
  cached.settings.format = info.format();
  cached.settings.json_schema = info.json_schema();
  cached.settings.secret = info.secret();
  cached.settings.author = info.meta().author();
  cached.settings.mtime_ms = info.meta().mtime_ms();
  if (!info.json_schema().empty()) {
    absl::StatusOr<std::unique_ptr<formats::JsonSchema>> schema =
        formats::JsonSchema::Compile(info.json_schema());
    if (!schema.ok()) {
      // Set() never stores such a schema; a node written by another tool
      // is reported rather than silently ignored.
      return absl::FailedPreconditionError(absl::StrCat(
          "the JSON Schema of namespace ", ns,
          " does not compile; fix it with PUT /api/v1/namespaces/", ns,
          "/settings: ", schema.status().message()));
    }
    cached.schema = std::move(schema).value();
  }
  absl::MutexLock lock(&mu_);
  cache_[ns] = cached;
  return cached;
}

absl::StatusOr<NamespaceSettings> NamespaceSettingsStore::Get(
    const std::string& ns) {
  KESS_ASSIGN_OR_RETURN(Cached cached, Load(ns));
  return cached.settings;
}

absl::Status NamespaceSettingsStore::Set(const std::string& ns,
                                         const NamespaceSettings& settings,
                                         const std::string& author) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  std::optional<formats::Format> format;
  if (!settings.format.empty()) {
    KESS_ASSIGN_OR_RETURN(format, formats::ParseFormat(settings.format));
  }
  if (!settings.json_schema.empty()) {
    // Tied to a format, so that no value escapes the schema by its content
    // type.
    if (!format.has_value() || (*format != formats::Format::kJson &&
                                *format != formats::Format::kYaml)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a JSON Schema needs the namespace's format to be json or yaml; "
          "namespace ", ns, " would declare ",
          format.has_value() ? formats::FormatName(*format) : "none"));
    }
    absl::StatusOr<std::unique_ptr<formats::JsonSchema>> schema =
        formats::JsonSchema::Compile(settings.json_schema);
    if (!schema.ok()) return schema.status();
  }
  if (settings.secret) {
    absl::StatusOr<std::shared_ptr<const secrets::KeyRing>> ring =
        keys_.Get(ns);
    if (!ring.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "namespace ", ns, " cannot be made secret: this mandator has no "
          "usable key ring for it (", ring.status().message(),
          "); install <secret_keys_dir>/", ns,
          ".key (kessctl secrets keygen) on every mandator of the main DC "
          "first"));
    }
  }
  KESS_ASSIGN_OR_RETURN(std::string path, layout_.NamespacePath(ns));
  // Bounded: a concurrent first write of the namespace or another Set
  // makes the compare-and-set fail; read again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<zk::GetResult> node = zk_->Get(path);
    if (!node.ok() && !absl::IsNotFound(node.status())) return node.status();
    zk::NamespaceInfo info;
    if (node.ok()) {
      KESS_RETURN_IF_ERROR(zk::Decode(node->data, path, &info));
    }
    info.set_namespace_name(ns);
    info.set_format(format.has_value()
                        ? std::string(formats::FormatName(*format))
                        : "");
    info.set_json_schema(settings.json_schema);
    info.set_secret(settings.secret);
    *info.mutable_meta() = zk::MakeMeta(author, writer_id_, absl::Now());
    const std::string data = zk::Encode(info);
    absl::Status written;
    if (node.ok()) {
      written = zk_->Set(path, data, node->stat.version).status();
    } else {
      written = zk_->Create(path, data, zk::CreateMode::kPersistent, acl_)
                    .status();
    }
    if (written.ok()) return absl::OkStatus();
    if (!absl::IsAborted(written) && !absl::IsAlreadyExists(written)) {
      return written;
    }
  }
  return absl::AbortedError(absl::StrCat(
      "the settings of namespace ", ns,
      " kept changing under this write; nothing was written, try again"));
}

absl::StatusOr<NamespaceSettingsStore::CheckedValue>
NamespaceSettingsStore::CheckValue(const char* what, const std::string& ns,
                                   const std::string& key,
                                   const std::string& input,
                                   const std::string& content_type) {
  KESS_ASSIGN_OR_RETURN(Cached cached, Load(ns));
  // In a secret namespace the checks below run on the plaintext of a new
  // value, not on that of an envelope written back (see check_content).
  std::shared_ptr<const secrets::KeyRing> ring;
  std::string opened;
  std::optional<uint32_t> sealed_by;  // the key id of an envelope written
  const bool envelope = secrets::LooksLikeEnvelope(input);
  if (!cached.settings.secret && envelope) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " of ", Name(ns, key), " starts with \"kess:enc:\", which "
        "marks encrypted values, but namespace ", ns, " is not secret; "
        "nothing was written"));
  }
  if (cached.settings.secret) {
    absl::StatusOr<std::shared_ptr<const secrets::KeyRing>> loaded =
        keys_.Get(ns);
    if (!loaded.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "namespace ", ns, " is secret, but this mandator has no usable "
          "key ring for it: ", loaded.status().message(),
          "; nothing was written"));
    }
    ring = *std::move(loaded);
    if (envelope) {
      absl::StatusOr<secrets::Envelope> parsed =
          secrets::ParseEnvelope(input);
      absl::StatusOr<std::string> plain =
          parsed.ok() ? secrets::Open(*ring, ns, key, input)
                      : absl::StatusOr<std::string>(parsed.status());
      if (!plain.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " of ", Name(ns, key), " is an encrypted value that does "
            "not open with the key ring of namespace ", ns, ": ",
            plain.status().message(), "; nothing was written"));
      }
      opened = *std::move(plain);
      sealed_by = parsed->key_id;
    }
  }
  // An envelope that opens under (ns, key) was checked when it was first
  // sealed. Its plaintext is not checked again: against settings changed
  // since (a new schema with a pattern), a refusal or an acceptance would
  // tell the writer one bit of a plaintext it may not read. Only its
  // content type is checked, which does not depend on the plaintext.
  const bool check_content = !sealed_by.has_value();
  const std::string& value = sealed_by.has_value() ? opened : input;
  std::string effective = content_type;
  formats::Format format = formats::FormatFromContentType(content_type);
  if (!cached.settings.format.empty()) {
    KESS_ASSIGN_OR_RETURN(formats::Format declared,
                          formats::ParseFormat(cached.settings.format));
    if (content_type.empty()) {
      effective = std::string(formats::FormatContentType(declared));
    } else if (format != declared) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " of ", Name(ns, key), " has content_type ", content_type,
          ", but namespace ", ns, " holds ", formats::FormatName(declared),
          " values (send content_type ",
          formats::FormatContentType(declared),
          " or none); nothing was written"));
    }
    format = declared;
  }
  if (std::optional<formats::SyntaxError> error =
          check_content ? formats::CheckSyntax(format, value)
                        : std::nullopt) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " of ", Name(ns, key), " is not valid ",
        formats::FormatName(format), ": ", error->ToString(),
        "; nothing was written"));
  }
  if (check_content && cached.schema != nullptr &&
      (format == formats::Format::kJson || format == formats::Format::kYaml)) {
    KESS_ASSIGN_OR_RETURN(
        std::vector<formats::SchemaViolation> violations,
        cached.schema->Validate(format, value, kMaxViolationsShown));
    if (!violations.empty()) {
      std::string list;
      for (const formats::SchemaViolation& v : violations) {
        absl::StrAppend(&list, list.empty() ? "" : "; ", v.path, ": ",
                        v.message);
      }
      return absl::InvalidArgumentError(absl::StrCat(
          what, " of ", Name(ns, key), " does not satisfy the JSON Schema of "
          "namespace ", ns, ": ", list, "; nothing was written"));
    }
  }
  CheckedValue out;
  out.content_type = std::move(effective);
  if (!cached.settings.secret) {
    out.value = input;
  } else if (sealed_by.has_value() && *sealed_by == ring->newest().id) {
    out.value = input;  // already sealed by the newest key
  } else {
    absl::StatusOr<std::string> sealed =
        secrets::Seal(ring->newest(), ns, key, value);
    if (!sealed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " of ", Name(ns, key), " cannot be encrypted: ",
          sealed.status().message(), "; nothing was written"));
    }
    out.value = *std::move(sealed);
  }
  if (out.value.size() > zk::kMaxValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " of ", Name(ns, key), " has ", out.value.size(),
        " bytes encrypted, above the limit of ", zk::kMaxValueBytes,
        " bytes; nothing was written"));
  }
  return out;
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
