// Which hosts a gray release (GrayRecord, schema.proto) selects, and when
// it is active. Used by the mandator (status, validation) and the
// distributor (which version a connection gets); one definition so that
// every distributor of every DC picks the same hosts.
//
// A host is selected iff its host id is in `hosts`, or
//   StableHash(host_id + "\n" + ns + "/" + key) % 100 < percentage
// (common/rendezvous.h StableHash: FNV-1a + mixer, the same in every build).
// The hash includes the config name, so different keys select different
// hosts for the same percentage; a larger percentage selects a superset.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace zk {

// 0..99 for this host and config.
uint32_t GrayBucket(absl::string_view host_id, absl::string_view ns,
                    absl::string_view key);

bool GraySelects(const GrayRecord& gray, absl::string_view host_id);

// Active: its revision is newer than the config's (`config_revision`, 0 if
// the config does not exist). An inactive record is left over from a
// promote or abort whose GRAY_DELETE has not been committed yet.
inline bool GrayActive(const GrayRecord& gray, int64_t config_revision) {
  return gray.revision() > config_revision;
}

}  // namespace zk
}  // namespace kess
