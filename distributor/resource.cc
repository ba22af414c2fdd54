#include "distributor/resource.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "model/names.h"

namespace kess {
namespace distributor {

absl::StatusOr<std::string> CanonicalKey(const protocol::ResourceKey& key) {
  switch (key.type()) {
    case protocol::ResourceKey::CONFIG:
      KESS_RETURN_IF_ERROR(
          ValidateName(NameKind::kNamespace, key.namespace_name()));
      KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, key.key()));
      return ConfigKeyString(key.namespace_name(), key.key());
    case protocol::ResourceKey::ROUTE:
      KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, key.service()));
      return RouteKeyString(key.service());
    case protocol::ResourceKey::NAMESPACE:
      KESS_RETURN_IF_ERROR(
          ValidateName(NameKind::kNamespace, key.namespace_name()));
      return NamespaceKeyString(key.namespace_name());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown resource type ", static_cast<int>(key.type())));
  }
}

std::string ConfigKeyString(absl::string_view ns, absl::string_view key) {
  return absl::StrCat("c/", ns, "/", key);
}

std::string RouteKeyString(absl::string_view service) {
  return absl::StrCat("r/", service);
}

std::string GrayKeyString(absl::string_view ns, absl::string_view key) {
  return absl::StrCat("g/", ns, "/", key);
}

std::string GrayKeyOf(absl::string_view config_key) {
  if (!absl::ConsumePrefix(&config_key, "c/")) return "";
  return absl::StrCat("g/", config_key);
}

std::string ConfigKeyOfGray(absl::string_view gray_key) {
  if (!absl::ConsumePrefix(&gray_key, "g/")) return "";
  return absl::StrCat("c/", gray_key);
}

bool IsGrayKey(absl::string_view key) { return absl::StartsWith(key, "g/"); }

std::string NamespaceKeyString(absl::string_view ns) {
  return absl::StrCat("n/", ns);
}

std::string NamespaceOfConfigKey(absl::string_view config_key) {
  if (!absl::ConsumePrefix(&config_key, "c/")) return "";
  const size_t slash = config_key.find('/');
  if (slash == absl::string_view::npos) return "";
  return std::string(config_key.substr(0, slash));
}

std::string NamespaceOfKey(absl::string_view key) {
  if (!absl::ConsumePrefix(&key, "n/")) return "";
  return std::string(key);
}

std::string NamespaceAclKeyString(absl::string_view ns) {
  return absl::StrCat("a/n/", ns);
}

std::string ServiceAclKeyString(absl::string_view service) {
  return absl::StrCat("a/s/", service);
}

std::string AclKeyOf(absl::string_view key) {
  if (key.size() < 3 || key[1] != '/') return "";
  switch (key[0]) {
    case 'c': {
      key.remove_prefix(2);
      const size_t slash = key.find('/');
      if (slash == absl::string_view::npos) return "";
      return absl::StrCat("a/n/", key.substr(0, slash));
    }
    case 'n':
      return absl::StrCat("a/n/", key.substr(2));
    case 'r':
      return absl::StrCat("a/s/", key.substr(2));
    default:
      return "";
  }
}

bool IsAclKey(absl::string_view key) { return absl::StartsWith(key, "a/"); }

ItemPtr Restamp(const ItemPtr& item, int64_t revision) {
  if (item == nullptr || revision <= item->revision) return item;
  protocol::Resource resource;
  if (!resource.ParseFromString(item->wire)) return item;
  resource.set_revision(revision);
  auto copy = std::make_shared<Item>(*item);
  copy->revision = revision;
  copy->wire = resource.SerializeAsString();
  return copy;
}

ItemPtr MakeDenied(const std::string& key, int64_t revision) {
  protocol::Resource resource;
  *resource.mutable_key() = ParseKeyString(key);
  resource.set_revision(revision);
  resource.set_absent(true);
  resource.set_denied(true);
  auto item = std::make_shared<Item>();
  item->key = key;
  item->revision = revision;
  item->absent = true;
  item->wire = resource.SerializeAsString();
  return item;
}

protocol::ResourceKey ParseKeyString(absl::string_view key) {
  protocol::ResourceKey out;
  if (absl::ConsumePrefix(&key, "c/") || absl::ConsumePrefix(&key, "g/")) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(key, absl::MaxSplits('/', 1));
    out.set_type(protocol::ResourceKey::CONFIG);
    out.set_namespace_name(parts.first);
    out.set_key(parts.second);
  } else if (absl::ConsumePrefix(&key, "r/")) {
    out.set_type(protocol::ResourceKey::ROUTE);
    out.set_service(std::string(key));
  } else if (absl::ConsumePrefix(&key, "n/")) {
    out.set_type(protocol::ResourceKey::NAMESPACE);
    out.set_namespace_name(std::string(key));
  }
  return out;
}

absl::StatusOr<ItemPtr> MakeItem(const protocol::Resource& resource) {
  KESS_ASSIGN_OR_RETURN(std::string key, CanonicalKey(resource.key()));
  auto item = std::make_shared<Item>();
  item->key = std::move(key);
  item->revision = resource.revision();
  item->absent = resource.absent();
  item->crc32 = resource.crc32();
  item->value_size = resource.value().size();
  item->wire = resource.SerializeAsString();
  return ItemPtr(std::move(item));
}

ItemPtr MakeAbsent(const std::string& key, int64_t revision) {
  protocol::Resource resource;
  *resource.mutable_key() = ParseKeyString(key);
  resource.set_revision(revision);
  resource.set_absent(true);
  auto item = std::make_shared<Item>();
  item->key = key;
  item->revision = revision;
  item->absent = true;
  item->wire = resource.SerializeAsString();
  return item;
}

bool SameVersion(const Item& a, const Item& b) {
  return a.revision == b.revision && a.absent == b.absent &&
         a.crc32 == b.crc32 && a.value_size == b.value_size;
}

}  // namespace distributor
}  // namespace kess
