// libFuzzer target for the HTTP API's JSON request bodies (scripts/fuzz.sh;
// CI replay: :config_json_fuzz_test). The input is given to ParsePutBody,
// ParseRollbackBody and ParseNonNegative. Properties: errors are
// InvalidArgument (never an exception, never a crash); an accepted PUT body
// gives a request that, written back as a body the way a client would
// (EncodingFor/EncodeValue + JsonQuote), parses to the same request; an
// accepted revision or count is >= 0.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/fuzz_check.h"
#include "common/json_util.h"
#include "common/value_encoding.h"
#include "mandator/config_json.h"

namespace {

using kess::mandator::core::PutRequest;

std::string PutBodyFor(const PutRequest& r) {
  const char* encoding = kess::EncodingFor(r.value);
  std::string body = absl::StrCat(
      "{\"value\":", kess::JsonQuote(kess::EncodeValue(r.value, encoding)),
      ",\"encoding\":\"", encoding,
      "\",\"content_type\":", kess::JsonQuote(r.content_type),
      ",\"author\":", kess::JsonQuote(r.author),
      ",\"comment\":", kess::JsonQuote(r.comment));
  if (r.expected_revision.has_value()) {
    absl::StrAppend(&body, ",\"expected_revision\":", *r.expected_revision);
  }
  return body + "}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  PutRequest put;
  absl::Status status = kess::mandator::ParsePutBody(text, &put);
  if (status.ok()) {
    FUZZ_CHECK(!put.expected_revision.has_value() ||
               *put.expected_revision >= 0);
    PutRequest again;
    FUZZ_CHECK(kess::mandator::ParsePutBody(PutBodyFor(put), &again).ok());
    FUZZ_CHECK(again.value == put.value);
    FUZZ_CHECK(again.content_type == put.content_type);
    FUZZ_CHECK(again.author == put.author);
    FUZZ_CHECK(again.comment == put.comment);
    FUZZ_CHECK(again.expected_revision == put.expected_revision);
  } else {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  }

  kess::mandator::core::RollbackRequest rollback;
  status = kess::mandator::ParseRollbackBody(text, &rollback);
  if (status.ok()) {
    FUZZ_CHECK(rollback.to_revision >= 0);
  } else {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  }

  absl::StatusOr<int64_t> n = kess::mandator::ParseNonNegative("limit", text);
  FUZZ_CHECK(!n.ok() || *n >= 0);
  return 0;
}
