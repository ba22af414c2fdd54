#include "distributor/zk_source.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "model/names.h"
#include "glog/logging.h"
#include "common/value_encoding.h"
#include "zk_schema/codec.h"
#include "zk_schema/read_acl.h"

namespace kess {
namespace distributor {
namespace {

// Route tables are JSON (docs/route-table.md).
constexpr char kRouteContentType[] = "application/json";

absl::StatusOr<zk::StoredValue> ExtractConfigValue(absl::string_view data,
                                                   absl::string_view where) {
  KESS_ASSIGN_OR_RETURN(zk::ConfigRecord record,
                        zk::DecodeAs<zk::ConfigRecord>(data, where));
  return record.value();
}

absl::StatusOr<zk::StoredValue> ExtractRouteValue(absl::string_view data,
                                                  absl::string_view where) {
  KESS_ASSIGN_OR_RETURN(zk::RouteRecord record,
                        zk::DecodeAs<zk::RouteRecord>(data, where));
  return record.value();
}

}  // namespace

ZkSource::ZkSource(zk::ZkApi* zk, zk::Layout layout)
    : zk_(zk), layout_(std::move(layout)), store_(zk, layout_) {}

absl::StatusOr<zk::RevisionSummary> ZkSource::ReadSummary(
    zk::WatchCallback watch) {
  KESS_ASSIGN_OR_RETURN(auto summary,
                        zk::ReadRevision(*zk_, layout_, std::move(watch)));
  return summary.first;
}

absl::StatusOr<zk::ChangeRecord> ZkSource::ReadChange(int64_t revision) {
  const std::string path = layout_.ChangelogPath(revision);
  KESS_ASSIGN_OR_RETURN(zk::GetResult node, zk_->Get(path));
  return zk::DecodeAs<zk::ChangeRecord>(node.data, path);
}

absl::StatusOr<std::string> ZkSource::KeyOfChange(
    const zk::ChangeRecord& change) {
  protocol::ResourceKey key;
  switch (change.kind()) {
    case zk::CONFIG_PUT:
    case zk::CONFIG_DELETE:
      key.set_type(protocol::ResourceKey::CONFIG);
      key.set_namespace_name(change.namespace_name());
      key.set_key(change.key());
      break;
    case zk::ROUTE_PUT:
    case zk::ROUTE_DELETE:
      key.set_type(protocol::ResourceKey::ROUTE);
      key.set_service(change.service());
      break;
    case zk::GRAY_PUT:
    case zk::GRAY_DELETE: {
      key.set_type(protocol::ResourceKey::CONFIG);
      key.set_namespace_name(change.namespace_name());
      key.set_key(change.key());
      KESS_ASSIGN_OR_RETURN(std::string config, CanonicalKey(key));
      return GrayKeyOf(config);
    }
    case zk::ACL_PUT:
    case zk::ACL_DELETE:
      if (!change.namespace_name().empty()) {
        KESS_RETURN_IF_ERROR(
            ValidateName(NameKind::kNamespace, change.namespace_name()));
        return NamespaceAclKeyString(change.namespace_name());
      }
      KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, change.service()));
      return ServiceAclKeyString(change.service());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("change record ", change.revision(),
                       " has unknown kind ", static_cast<int>(change.kind())));
  }
  return CanonicalKey(key);
}

absl::StatusOr<std::string> ZkSource::PathOf(const std::string& key) const {
  if (absl::StartsWith(key, "a/n/")) {
    return layout_.NamespaceAclPath(absl::string_view(key).substr(4));
  }
  if (absl::StartsWith(key, "a/s/")) {
    return layout_.ServiceAclPath(absl::string_view(key).substr(4));
  }
  protocol::ResourceKey parsed = ParseKeyString(key);
  if (IsGrayKey(key)) {
    return layout_.GrayPath(parsed.namespace_name(), parsed.key());
  }
  if (parsed.type() == protocol::ResourceKey::ROUTE) {
    return layout_.RoutePath(parsed.service());
  }
  return layout_.ConfigPath(parsed.namespace_name(), parsed.key());
}

absl::StatusOr<ItemPtr> ZkSource::ReadAclItem(const std::string& key,
                                              const std::string& path) {
  absl::StatusOr<zk::GetResult> node = zk_->Get(path);
  if (absl::IsNotFound(node.status())) return ItemPtr(nullptr);
  KESS_RETURN_IF_ERROR(node.status());
  KESS_ASSIGN_OR_RETURN(zk::ReadAclRecord record,
                        zk::DecodeAs<zk::ReadAclRecord>(node->data, path));
  auto item = std::make_shared<Item>();
  item->key = key;
  item->revision = record.revision();
  item->crc32 = Crc32(node->data);
  item->value_size = node->data.size();
  absl::StatusOr<zk::CompiledReadAcl> compiled =
      zk::CompiledReadAcl::Compile(record);
  if (!compiled.ok()) {
    // The mandator validates every ACL it writes; one that does not compile
    // here (a newer syntax?) allows nobody rather than everybody.
    LOG(ERROR) << "read ACL " << path << " does not compile; it allows "
               << "nobody until it is fixed: " << compiled.status();
    compiled = zk::CompiledReadAcl::Compile(zk::ReadAclRecord());
  }
  item->acl = std::make_shared<const zk::CompiledReadAcl>(*std::move(compiled));
  return ItemPtr(std::move(item));
}

absl::StatusOr<ItemPtr> ZkSource::ReadItem(const std::string& key) {
  KESS_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  if (IsAclKey(key)) return ReadAclItem(key, path);
  protocol::Resource resource;
  *resource.mutable_key() = ParseKeyString(key);
  const bool is_route = resource.key().type() == protocol::ResourceKey::ROUTE;
  const bool is_gray = IsGrayKey(key);
  absl::StatusOr<zk::ChunkedValueStore::ReadResult> read =
      store_.ReadRecord(path, [&path, is_route, is_gray](
                                  absl::string_view data)
                                  -> absl::StatusOr<zk::StoredValue> {
        if (is_gray) {
          KESS_ASSIGN_OR_RETURN(zk::GrayRecord record,
                                zk::DecodeAs<zk::GrayRecord>(data, path));
          return record.value();
        }
        return is_route ? ExtractRouteValue(data, path)
                        : ExtractConfigValue(data, path);
      });
  if (absl::IsNotFound(read.status())) {
    // The record is gone. (ReadRecord maps a vanished chunk of a record that
    // still exists to DataLoss or a retry, so NotFound is the record.)
    absl::StatusOr<std::optional<zk::Stat>> exists = zk_->Exists(path);
    KESS_RETURN_IF_ERROR(exists.status());
    if (!exists->has_value()) return ItemPtr(nullptr);
    return read.status();
  }
  KESS_RETURN_IF_ERROR(read.status());
  if (is_gray) {
    KESS_ASSIGN_OR_RETURN(zk::GrayRecord record,
                          zk::DecodeAs<zk::GrayRecord>(read->record, path));
    resource.set_revision(record.revision());
    resource.set_crc32(record.value().crc32());
    resource.set_content_type(record.content_type());
    resource.set_mtime_ms(record.meta().mtime_ms());
    resource.set_value(std::move(read->value));
    KESS_ASSIGN_OR_RETURN(ItemPtr made, MakeItem(resource));
    auto item = std::make_shared<Item>(*made);
    item->key = key;
    record.clear_value();
    item->gray = std::make_shared<const zk::GrayRecord>(std::move(record));
    return ItemPtr(std::move(item));
  }
  if (is_route) {
    KESS_ASSIGN_OR_RETURN(zk::RouteRecord record,
                          zk::DecodeAs<zk::RouteRecord>(read->record, path));
    resource.set_revision(record.revision());
    resource.set_crc32(record.value().crc32());
    resource.set_content_type(kRouteContentType);
    resource.set_mtime_ms(record.meta().mtime_ms());
  } else {
    KESS_ASSIGN_OR_RETURN(zk::ConfigRecord record,
                          zk::DecodeAs<zk::ConfigRecord>(read->record, path));
    resource.set_revision(record.revision());
    resource.set_crc32(record.value().crc32());
    resource.set_content_type(record.content_type());
    resource.set_mtime_ms(record.meta().mtime_ms());
  }
  resource.set_value(std::move(read->value));
  return MakeItem(resource);
}

absl::StatusOr<std::vector<ItemPtr>> ZkSource::LoadAll(int threads) {
  // 1. List every record (sequentially; a handful of GetChildren calls).
  std::vector<std::string> keys;
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult namespaces,
                        zk_->GetChildren(layout_.ConfigsDir()));
  for (const std::string& ns : namespaces.children) {
    if (!ValidateName(NameKind::kNamespace, ns).ok()) {
      LOG(WARNING) << "skipping namespace node with an invalid name: " << ns;
      continue;
    }
    KESS_ASSIGN_OR_RETURN(std::string ns_path, layout_.NamespacePath(ns));
    absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(ns_path);
    if (absl::IsNotFound(children.status())) continue;  // deleted meanwhile
    KESS_RETURN_IF_ERROR(children.status());
    for (const std::string& key : children->children) {
      if (!ValidateName(NameKind::kKey, key).ok()) {
        LOG(WARNING) << "skipping config node with an invalid name: " << ns
                     << "/" << key;
        continue;
      }
      keys.push_back(ConfigKeyString(ns, key));
    }
  }
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult services,
                        zk_->GetChildren(layout_.RoutesDir()));
  for (const std::string& service : services.children) {
    if (!ValidateName(NameKind::kService, service).ok()) {
      LOG(WARNING) << "skipping route node with an invalid name: " << service;
      continue;
    }
    keys.push_back(RouteKeyString(service));
  }
  absl::StatusOr<zk::ChildrenResult> gray_ns =
      zk_->GetChildren(layout_.GrayDir());
  if (!absl::IsNotFound(gray_ns.status())) {
    KESS_RETURN_IF_ERROR(gray_ns.status());
    for (const std::string& ns : gray_ns->children) {
      absl::StatusOr<std::string> dir = layout_.GrayNamespaceDir(ns);
      if (!dir.ok()) continue;
      absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(*dir);
      if (absl::IsNotFound(children.status())) continue;
      KESS_RETURN_IF_ERROR(children.status());
      for (const std::string& key : children->children) {
        if (!ValidateName(NameKind::kKey, key).ok()) continue;
        keys.push_back(GrayKeyString(ns, key));
      }
    }
  }

  for (const bool namespaces : {true, false}) {
    absl::StatusOr<zk::ChildrenResult> acls = zk_->GetChildren(
        namespaces ? layout_.NamespaceAclsDir() : layout_.ServiceAclsDir());
    if (absl::IsNotFound(acls.status())) continue;  // a tree before ACLs
    KESS_RETURN_IF_ERROR(acls.status());
    for (const std::string& name : acls->children) {
      if (!ValidateName(namespaces ? NameKind::kNamespace : NameKind::kService,
                        name)
               .ok()) {
        continue;
      }
      keys.push_back(namespaces ? NamespaceAclKeyString(name)
                                : ServiceAclKeyString(name));
    }
  }

  // 2. Read the records with a few threads (the synchronous client has one
  // request in flight per calling thread).
  std::vector<ItemPtr> items(keys.size());
  std::atomic<size_t> next{0};
  absl::Mutex error_mu;
  absl::Status error;
  auto work = [&] {
    while (true) {
      {
        absl::MutexLock lock(&error_mu);
        if (!error.ok()) return;
      }
      const size_t i = next.fetch_add(1);
      if (i >= keys.size()) return;
      absl::StatusOr<ItemPtr> item = ReadItem(keys[i]);
      if (!item.ok()) {
        absl::MutexLock lock(&error_mu);
        if (error.ok()) error = item.status();
        return;
      }
      items[i] = *std::move(item);
    }
  };
  const int n = std::max(1, std::min<int>(threads, keys.size() / 64 + 1));
  std::vector<std::thread> workers;
  for (int i = 1; i < n; ++i) workers.emplace_back(work);
  work();
  for (std::thread& t : workers) t.join();
  KESS_RETURN_IF_ERROR(error);
  items.erase(std::remove(items.begin(), items.end(), nullptr), items.end());
  return items;
}

}  // namespace distributor
}  // namespace kess
