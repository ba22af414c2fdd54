// Building kess.Update and Subscribe/Pull answer payloads from pre-encoded
// resources, without copying them into protobuf objects: the messages'
// `updates` field (number 3 in UpdatePush and SubscribeResponse alike) is
// appended as raw length-delimited bytes after a serialized header message
// (revision, stale, rejected keys), which protobuf parses like any other
// field order.
//
// Splitting. No payload exceeds `max_payload_bytes` (so no frame exceeds
// the transport's limit); and the payloads of one answer or one push batch
// together stay within `budget_bytes` (so one request cannot fill an
// agent's bounded send queue and get it dropped). At least one resource is
// always packed. Resources that do not fit the budget are "deferred": the
// agent gets them from its next pull.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "distributor/resource.h"

namespace kess {
namespace distributor {

struct Packed {
  std::vector<std::string> payloads;  // the first one starts with first_header
  size_t packed = 0;                  // resources packed
  size_t deferred = 0;                // resources left out (budget)
  size_t too_large = 0;               // resources larger than one payload
};

// `first_header` starts the first payload, `header` every later one (both
// serialized messages without field 3). Items are packed in order.
Packed PackResources(const std::string& first_header, const std::string& header,
                     const std::vector<ItemPtr>& items,
                     size_t max_payload_bytes, size_t budget_bytes);

// Bytes that `item` adds to a payload (tag, length, resource).
size_t EncodedFieldSize(const Item& item);

// The most bytes AppendVarintField adds: pack with max_payload_bytes less
// this when a field may be appended afterwards.
inline constexpr size_t kMaxVarintFieldBytes = 11;
// Appends varint field `field_number` = `value` to a serialized message
// (a scalar field that appears last wins, so this also overrides one set in
// the header).
void AppendVarintField(int field_number, uint64_t value, std::string* payload);

// Marks what `packed` left out for its budget on its last payload: the
// SubscribeResponse's `deferred` (field 6) when the answer is one payload,
// else the last UpdatePush's (field 4), so that an agent asks for the next
// page after it has everything of this one. Nothing when none was deferred.
void MarkDeferred(Packed* packed, bool first_is_response);

}  // namespace distributor
}  // namespace kess
