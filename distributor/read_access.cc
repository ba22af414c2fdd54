#include "distributor/read_access.h"

namespace kess {
namespace distributor {

ReadAccess::ReadAccess(const DataSet* data, ReadAccessOptions options)
    : data_(data), options_(options) {}

ReadRule ReadAccess::RuleOf(const ItemPtr& acl_item) const {
  ReadRule rule;
  if (!options_.enforce) return rule;
  if (acl_item != nullptr && !acl_item->absent && acl_item->acl != nullptr) {
    rule.acl = acl_item;
    rule.restricted = true;
    return rule;
  }
  rule.restricted = options_.default_deny;
  return rule;
}

ReadRule ReadAccess::RuleFor(const std::string& key) const {
  if (!options_.enforce) return ReadRule();
  const std::string acl_key = AclKeyOf(key);
  if (acl_key.empty()) return ReadRule();
  return RuleOf(data_->Find(acl_key));
}

bool ReadAccess::Allows(const ReadRule& rule,
                        const std::optional<zk::Reader>& reader) const {
  if (!rule.restricted) return true;
  if (!reader.has_value() || rule.acl == nullptr) return false;
  return rule.acl->acl->Allows(*reader);
}

const char* AccessKindOf(const std::string& key) {
  if (key.size() >= 2 && key[1] == '/') {
    if (key[0] == 'r') return "route";
    if (key[0] == 'n') return "namespace";
  }
  return "config";
}

}  // namespace distributor
}  // namespace kess
