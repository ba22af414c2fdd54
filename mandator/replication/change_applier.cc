#include "mandator/replication/change_applier.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "mandator/replication/main_side.h"
#include "zk_schema/codec.h"

namespace kess {
namespace mandator {
namespace replication {

absl::StatusOr<RecordKind> CheckChange(const zk::Layout& layout,
                                       const zk::ChangeRecord& change,
                                       int64_t revision) {
  const std::string where = layout.ChangelogPath(revision);
  if (change.revision() != revision) {
    return absl::DataLossError(
        absl::StrCat(where, " holds revision ", change.revision()));
  }
  RecordKind kind;
  absl::StatusOr<std::string> expected;
  switch (change.kind()) {
    case zk::CONFIG_PUT:
    case zk::CONFIG_DELETE:
      kind = RecordKind::kConfig;
      expected = layout.ConfigPath(change.namespace_name(), change.key());
      break;
    case zk::ROUTE_PUT:
    case zk::ROUTE_DELETE:
      kind = RecordKind::kRoute;
      expected = layout.RoutePath(change.service());
      break;
    case zk::GRAY_PUT:
    case zk::GRAY_DELETE:
      kind = RecordKind::kGray;
      expected = layout.GrayPath(change.namespace_name(), change.key());
      break;
    case zk::ACL_PUT:
    case zk::ACL_DELETE:
      kind = RecordKind::kAcl;
      expected = !change.namespace_name().empty()
                     ? layout.NamespaceAclPath(change.namespace_name())
                     : layout.ServiceAclPath(change.service());
      break;
    default:
      return absl::DataLossError(
          absl::StrCat(where, ": unknown change kind ", change.kind()));
  }
  if (!expected.ok() || *expected != change.path()) {
    return absl::DataLossError(absl::StrCat(
        where, " names path \"", change.path().substr(0, 200),
        "\", which is not the record of its ",
        zk::ChangeKind_Name(change.kind()), " change",
        expected.ok() ? "" : absl::StrCat(": ", expected.status().message())));
  }
  return kind;
}

ChangeApplier::ChangeApplier(zk::ZkApi* main, RecordSync* sync,
                             zk::Layout layout)
    : main_(main), sync_(sync), layout_(std::move(layout)) {}

absl::StatusOr<zk::ChangeRecord> ParseChange(const zk::Layout& layout,
                                             int64_t revision,
                                             absl::string_view data) {
  const std::string path = layout.ChangelogPath(revision);
  KESS_ASSIGN_OR_RETURN(zk::ChangeRecord change,
                        FromMain(zk::DecodeAs<zk::ChangeRecord>(data, path)));
  KESS_RETURN_IF_ERROR(
      FromMain(CheckChange(layout, change, revision).status()));
  return change;
}

absl::StatusOr<zk::ChangeRecord> ChangeApplier::ReadChange(int64_t revision) {
  KESS_ASSIGN_OR_RETURN(zk::GetResult node,
                        FromMain(main_->Get(layout_.ChangelogPath(revision))));
  return ParseChange(layout_, revision, node.data);
}

absl::Status ChangeApplier::Apply(int64_t revision, LocalHead* head,
                                  bool* wrote_record) {
  KESS_ASSIGN_OR_RETURN(zk::ChangeRecord change, ReadChange(revision));
  KESS_ASSIGN_OR_RETURN(RecordKind kind,
                        CheckChange(layout_, change, revision));
  KESS_ASSIGN_OR_RETURN(RecordSync::Plan plan,
                        sync_->PlanCopy(kind, change.path()));
  const bool changed = plan.changed;
  KESS_RETURN_IF_ERROR(sync_->Commit(std::move(plan), &change, head));
  if (wrote_record != nullptr) *wrote_record = changed;
  return absl::OkStatus();
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
