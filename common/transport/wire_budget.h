// A cheap pre-scan of serialized protobuf bytes that refuses input whose
// parse would cost far more memory than its size: millions of empty
// repeated sub-messages ("0a 00" repeated) take 2 bytes each on the wire but
// a heap object each once parsed, so a 16 MiB frame becomes ~1 GiB.
//
// The scan walks the wire format with CodedInputStream (no allocation),
// following the message type's descriptor into sub-messages, and counts
// every element a parse would allocate: each sub-message (singular or
// repeated), each repeated scalar or string element, and each unknown
// field. It stops at the first element over the budget.
//
// Thread-safety: thread-safe (pure function).
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "google/protobuf/descriptor.h"

namespace kess {
namespace transport {

struct WireBudget {
  // Elements (see above) allowed in the whole message, nested ones included.
  size_t max_elements = 1 << 20;
  // Sub-message nesting allowed (the top-level message is depth 0).
  int max_depth = 16;
};

// OK if `bytes` is within `budget` as a `type` message. ResourceExhausted
// when over the element or depth budget; InvalidArgument if the bytes are
// not well-formed wire format (a parse would fail too). A sub-message field
// whose bytes do not scan as a message is refused the same way.
absl::Status CheckWireBudget(absl::string_view bytes,
                             const google::protobuf::Descriptor& type,
                             const WireBudget& budget);

}  // namespace transport
}  // namespace kess
