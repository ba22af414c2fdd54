#include "common/rendezvous.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kess {

uint64_t StableHash(absl::string_view data) {
  // FNV-1a with this offset basis: the standard one (14695981039346656037)
  // without its last digit. Every process and client language uses this
  // constant (sdk/stable_hash.h); changing it would remap every key.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // splitmix64 finalizer: FNV alone is weak in the high bits for short keys.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::vector<std::string> RendezvousOrder(
    absl::string_view key, const std::vector<std::string>& candidates) {
  std::set<std::string> unique(candidates.begin(), candidates.end());
  std::vector<std::pair<uint64_t, std::string>> ranked;
  for (const std::string& c : unique) {
    ranked.emplace_back(StableHash(absl::StrCat(key, "\n", c)), c);
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> order;
  for (auto& r : ranked) order.push_back(std::move(r.second));
  return order;
}

}  // namespace kess
