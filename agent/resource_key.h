// Conversions between the wire's protocol::ResourceKey and the file cache's
// CacheKey. Neither validates: callers run file_cache::ValidateKey on
// anything that came from the network.
//
// Thread-safe: pure functions.
#pragma once

#include "model/file_cache/format.h"
#include "model/protocol/distribution.pb.h"

namespace kess {
namespace agent {

file_cache::CacheKey ToCacheKey(const protocol::ResourceKey& key);
protocol::ResourceKey ToResourceKey(const file_cache::CacheKey& key);

}  // namespace agent
}  // namespace kess
