// libFuzzer target for route deltas (scripts/fuzz.sh; CI replay:
// :route_delta_fuzz_test): agents and distributors apply deltas they did
// not compute, to tables they hold. The input is a delta's JSON, or (after
// a NUL byte) a delta and a base table's JSON. Properties: parse errors are
// InvalidArgument; an accepted delta is valid and its JSON parses back to
// an equal delta; applied to a table, the structured and the text appliers
// agree (both refuse, or both give the same table, whose JSON has the
// CRC-32 the text applier was told), and refusals are FailedPrecondition,
// InvalidArgument or (text, a wrong CRC-32) DataLoss.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/fuzz_check.h"
#include "common/value_encoding.h"
#include "model/route_delta.h"
#include "model/route_table.h"

namespace {

kess::RouteTable DefaultBase(const kess::RouteDelta& delta) {
  kess::RouteTable t;
  t.service = delta.service;
  t.revision = delta.base_revision;
  for (const char* id : {"a", "b", "c"}) {
    kess::RouteInstance in;
    in.id = id;
    in.host = "h";
    in.address = "127.0.0.1:80";
    in.datacenter = "dc1";
    t.instances.push_back(in);
  }
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string delta_text = input.substr(0, nul);
  absl::StatusOr<kess::RouteDelta> delta = kess::RouteDeltaFromJson(delta_text);
  if (!delta.ok()) {
    FUZZ_CHECK(delta.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(kess::ValidateRouteDelta(*delta).ok());
  absl::StatusOr<kess::RouteDelta> again =
      kess::RouteDeltaFromJson(kess::RouteDeltaToJson(*delta));
  FUZZ_CHECK(again.ok() && *again == *delta);

  kess::RouteTable base = DefaultBase(*delta);
  if (nul != std::string::npos) {
    absl::StatusOr<kess::RouteTable> given =
        kess::RouteTableFromJson(input.substr(nul + 1));
    if (!given.ok()) return 0;
    base = *std::move(given);
  }
  absl::StatusOr<kess::RouteTable> applied =
      kess::ApplyRouteDelta(base, *delta);
  const std::string base_json = kess::RouteTableToJson(base);
  if (!applied.ok()) {
    FUZZ_CHECK(applied.status().code() ==
                   absl::StatusCode::kFailedPrecondition ||
               applied.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!kess::ApplyRouteDeltaToJson(base_json, *delta, 0).ok());
    return 0;
  }
  const std::string want = kess::RouteTableToJson(*applied);
  absl::StatusOr<std::string> text =
      kess::ApplyRouteDeltaToJson(base_json, *delta, kess::Crc32(want));
  FUZZ_CHECK(text.ok() && *text == want);
  absl::StatusOr<std::string> wrong =
      kess::ApplyRouteDeltaToJson(base_json, *delta, kess::Crc32(want) ^ 1);
  FUZZ_CHECK(wrong.status().code() == absl::StatusCode::kDataLoss);
  return 0;
}
