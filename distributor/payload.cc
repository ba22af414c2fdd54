#include "distributor/payload.h"

#include "glog/logging.h"

namespace kess {
namespace distributor {
namespace {

// Field 3, wire type 2 (length-delimited).
constexpr char kUpdatesTag = (3 << 3) | 2;

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace

void AppendVarintField(int field_number, uint64_t value,
                       std::string* payload) {
  AppendVarint(static_cast<uint64_t>(field_number) << 3, payload);
  AppendVarint(value, payload);
}

void MarkDeferred(Packed* packed, bool first_is_response) {
  if (packed->deferred == 0 || packed->payloads.empty()) return;
  constexpr int kResponseDeferred = 6;  // SubscribeResponse.deferred
  constexpr int kPushDeferred = 4;      // UpdatePush.deferred
  const bool response = first_is_response && packed->payloads.size() == 1;
  AppendVarintField(response ? kResponseDeferred : kPushDeferred,
                    packed->deferred, &packed->payloads.back());
}

size_t EncodedFieldSize(const Item& item) {
  return 1 + VarintSize(item.wire.size()) + item.wire.size();
}

Packed PackResources(const std::string& first_header, const std::string& header,
                     const std::vector<ItemPtr>& items,
                     size_t max_payload_bytes, size_t budget_bytes) {
  Packed out;
  out.payloads.push_back(first_header);
  size_t total = first_header.size();
  for (const ItemPtr& item : items) {
    const size_t field = EncodedFieldSize(*item);
    if (header.size() + field > max_payload_bytes) {
      LOG_EVERY_N(ERROR, 100) << "distributor: resource " << item->key
                              << " at revision " << item->revision << " ("
                              << field << " bytes) exceeds one frame; skipped";
      ++out.too_large;
      continue;
    }
    std::string* current = &out.payloads.back();
    if (current->size() + field > max_payload_bytes) {
      if (out.packed > 0 && total + header.size() + field > budget_bytes) {
        ++out.deferred;
        continue;
      }
      out.payloads.push_back(header);
      total += header.size();
      current = &out.payloads.back();
    } else if (out.packed > 0 && total + field > budget_bytes) {
      ++out.deferred;
      continue;
    }
    current->push_back(kUpdatesTag);
    AppendVarint(item->wire.size(), current);
    current->append(item->wire);
    total += field;
    ++out.packed;
  }
  return out;
}

}  // namespace distributor
}  // namespace kess
