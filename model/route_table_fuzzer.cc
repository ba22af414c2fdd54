// libFuzzer target for RouteTableFromJson (scripts/fuzz.sh; CI replay:
// :route_table_fuzz_test): agents and SDKs parse route tables they did not
// write. Properties: errors are InvalidArgument; an accepted table has
// instances that pass ValidateRouteInstance, sorted by unique id, with
// weights in range; RouteTableToJson of it parses back to an equal table
// and is a fixed point (same bytes the second time).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/fuzz_check.h"
#include "model/names.h"
#include "model/route_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<kess::RouteTable> table = kess::RouteTableFromJson(text);
  if (!table.ok()) {
    FUZZ_CHECK(table.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(kess::ValidateName(kess::NameKind::kService, table->service).ok());
  for (size_t i = 0; i < table->instances.size(); ++i) {
    const kess::RouteInstance& instance = table->instances[i];
    FUZZ_CHECK(kess::ValidateRouteInstance(instance).ok());
    FUZZ_CHECK(instance.weight >= 1 &&
               instance.weight <= kess::kMaxInstanceWeight);
    if (i > 0) FUZZ_CHECK(table->instances[i - 1].id < instance.id);
  }
  const std::string json = kess::RouteTableToJson(*table);
  absl::StatusOr<kess::RouteTable> again = kess::RouteTableFromJson(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *table);
  FUZZ_CHECK(kess::RouteTableToJson(*again) == json);
  return 0;
}
