// Status and StatusOr for all of kess: Abseil's, from Debian's libabsl-dev.
//
// Every fallible operation returns absl::Status or absl::StatusOr<T>; Poco
// exceptions, errno values and ZooKeeper return codes are converted at the
// boundary where they arise. The two macros below are the only helpers we add.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KESS_STATUS_CONCAT_INNER_(x, y) x##y
#define KESS_STATUS_CONCAT_(x, y) KESS_STATUS_CONCAT_INNER_(x, y)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define KESS_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    ::absl::Status kess_status_ = (expr);          \
    if (!kess_status_.ok()) return kess_status_;   \
  } while (0)

// `lhs` = value of `rexpr` (an absl::StatusOr<T>), or returns its status.
#define KESS_ASSIGN_OR_RETURN(lhs, rexpr)                                     \
  KESS_ASSIGN_OR_RETURN_IMPL_(KESS_STATUS_CONCAT_(kess_statusor_, __LINE__), \
                              lhs, rexpr)
#define KESS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

namespace kess {

// errno -> Status with `context` prefixed ("open /x: No such file").
absl::Status ErrnoToStatus(int err, const std::string& context);

}  // namespace kess
