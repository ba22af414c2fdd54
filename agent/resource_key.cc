#include "agent/resource_key.h"

namespace kess {
namespace agent {

using file_cache::CacheKey;

CacheKey ToCacheKey(const protocol::ResourceKey& key) {
  return key.type() == protocol::ResourceKey::ROUTE
             ? CacheKey::Route(key.service())
             : CacheKey::Config(key.namespace_name(), key.key());
}

protocol::ResourceKey ToResourceKey(const CacheKey& key) {
  protocol::ResourceKey out;
  if (key.type == CacheKey::Type::kRoute) {
    out.set_type(protocol::ResourceKey::ROUTE);
    out.set_service(key.service);
  } else {
    out.set_type(protocol::ResourceKey::CONFIG);
    out.set_namespace_name(key.namespace_name);
    out.set_key(key.key);
  }
  return out;
}

}  // namespace agent
}  // namespace kess
