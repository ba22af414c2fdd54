#include "zk_schema/gray.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/rendezvous.h"

namespace kess {
namespace zk {

uint32_t GrayBucket(absl::string_view host_id, absl::string_view ns,
                    absl::string_view key) {
  return static_cast<uint32_t>(
      StableHash(absl::StrCat(host_id, "\n", ns, "/", key)) % 100);
}

bool GraySelects(const GrayRecord& gray, absl::string_view host_id) {
  if (host_id.empty()) return false;
  if (std::find(gray.hosts().begin(), gray.hosts().end(), host_id) !=
      gray.hosts().end()) {
    return true;
  }
  return gray.percentage() > 0 &&
         GrayBucket(host_id, gray.namespace_name(), gray.key()) <
             gray.percentage();
}

}  // namespace zk
}  // namespace kess
