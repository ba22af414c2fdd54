#include "zk_schema/members.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "zk_schema/codec.h"

namespace kess {
namespace zk {

absl::StatusOr<std::vector<MemberInfo>> ListMembers(ZkApi& zk,
                                                    const Layout& layout,
                                                    MemberRole role) {
  KESS_ASSIGN_OR_RETURN(std::string dir, layout.MembersDir(role));
  absl::StatusOr<ChildrenResult> children = zk.GetChildren(dir);
  if (absl::IsNotFound(children.status())) return std::vector<MemberInfo>();
  KESS_RETURN_IF_ERROR(children.status());
  std::vector<GetRequest> requests;
  for (const std::string& child : children->children) {
    requests.push_back({absl::StrCat(dir, "/", child), nullptr});
  }
  std::vector<absl::StatusOr<GetResult>> nodes =
      zk.GetMany(std::move(requests));
  std::vector<MemberInfo> members;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (absl::IsNotFound(nodes[i].status())) continue;  // left meanwhile
    KESS_RETURN_IF_ERROR(nodes[i].status());
    const std::string path = absl::StrCat(dir, "/", children->children[i]);
    absl::StatusOr<MemberInfo> member =
        DecodeAs<MemberInfo>(nodes[i]->data, path);
    if (member.ok()) members.push_back(*std::move(member));
  }
  return members;
}

}  // namespace zk
}  // namespace kess
