// What one DC's ZooKeeper holds, read directly (not through a mandator), to
// compare the main DC with a slave DC, or a DC with itself before and after.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace testing {

struct DcSnapshot {
  int64_t revision = 0;         // /kess/revision
  int64_t oldest_retained = 0;  // oldest change record kept
  // "ns/key" -> the record and the complete value (chunks loaded).
  std::map<std::string, mandator::core::Config> configs;
  // revision -> the ChangeRecord node's bytes, every record present.
  std::map<int64_t, std::string> changelog;
};

// Reads the revision, every config and every change record of the tree
// `layout` in `zk` (user "reader" is enough). Not atomic: read it while
// nothing writes.
absl::StatusOr<DcSnapshot> ReadDc(zk::ZkApi& zk, const zk::Layout& layout);

// The slave DC holds what main holds: the same revision; the same configs,
// each with the same record (revision, version, content type, meta, value
// size and CRC-32; the value's body is compared as bytes, since chunk-set
// names differ between DCs) and value; and, for every change record both
// hold, the same bytes; the slave's change log has no gap.
::testing::AssertionResult SameData(const DcSnapshot& main,
                                    const DcSnapshot& slave);

// Every node of the tree except the ephemeral members and election nodes:
// path -> (data version, data). Equal before and after = nothing written.
using NodeMap = std::map<std::string, std::pair<int, std::string>>;
absl::StatusOr<NodeMap> ReadTree(zk::ZkApi& zk, const zk::Layout& layout);
::testing::AssertionResult SameTree(const NodeMap& before,
                                    const NodeMap& after);

}  // namespace testing
}  // namespace kess
