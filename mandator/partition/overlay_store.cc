#include "mandator/partition/overlay_store.h"

#include "zk_schema/codec.h"

namespace kess {
namespace mandator {
namespace partition {

absl::StatusOr<std::optional<zk::OverlayState>> ReadOverlay(
    zk::ZkApi& zk, const zk::Layout& layout) {
  const std::string path = layout.OverlayPath();
  absl::StatusOr<zk::GetResult> node = zk.Get(path);
  if (absl::IsNotFound(node.status())) return std::nullopt;
  KESS_RETURN_IF_ERROR(node.status());
  KESS_ASSIGN_OR_RETURN(zk::OverlayState state,
                        zk::DecodeAs<zk::OverlayState>(node->data, path));
  return state;
}

absl::Status WriteOverlay(zk::ZkApi& zk, const zk::Layout& layout,
                          const zk::OverlayState& state,
                          const std::string& fence, const zk::AclList& acl) {
  const std::string path = layout.OverlayPath();
  KESS_ASSIGN_OR_RETURN(std::optional<zk::Stat> exists, zk.Exists(path));
  zk::MultiOps ops;
  if (!fence.empty()) ops.Check(fence, zk::kAnyVersion);
  if (exists.has_value()) {
    ops.Set(path, zk::Encode(state), exists->version);
  } else {
    ops.Create(path, zk::Encode(state), zk::CreateMode::kPersistent, acl);
  }
  return zk.Multi(ops).status();
}

absl::Status ClearOverlay(zk::ZkApi& zk, const zk::Layout& layout,
                          const std::string& fence) {
  const std::string path = layout.OverlayPath();
  KESS_ASSIGN_OR_RETURN(std::optional<zk::Stat> exists, zk.Exists(path));
  if (!exists.has_value()) return absl::OkStatus();
  zk::MultiOps ops;
  if (!fence.empty()) ops.Check(fence, zk::kAnyVersion);
  ops.Delete(path, exists->version);
  return zk.Multi(ops).status();
}

}  // namespace partition
}  // namespace mandator
}  // namespace kess
