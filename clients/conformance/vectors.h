// The conformance vectors of every kess client: input files in the file
// cache format (route tables, config files) and the answers the C++ SDK
// gives for them (HRW picks, local-first eligibility, weighted-random
// shares, state tiers, failover, config reading and the last good value).
// README.md describes every file; a client in another language runs them
// from that description alone.
//
// GenerateVectors() computes every file with the real SDK code
// (//sdk:load_balancer, //sdk:failure_tracker, //sdk:config_client,
// //sdk:discovery, //model/file_cache:format); generate_vectors.cc writes
// them to clients/conformance/vectors/, and vectors_up_to_date_test checks
// that the checked-in files equal a fresh run.
//
// Thread-safety: GenerateVectors uses temp directories of its own and no
// global state; call it from one thread at a time.
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace kess {
namespace clients {
namespace conformance {

// Path relative to the vectors directory -> file content. Deterministic:
// two calls give the same bytes. Includes "MANIFEST" (every other path,
// one a line, sorted).
absl::StatusOr<std::map<std::string, std::string>> GenerateVectors();

// The reason class (README.md 2.1) of a status returned by
// file_cache::FileCacheReader::Read or ConfigClient::Get for a rejected
// file: "not_json", "missing_field", "wrong_type", "unknown_format",
// "unknown_type", "unknown_encoding", "bad_base64", "crc_mismatch",
// "key_mismatch" or "invalid_name". Internal for a status that is none of
// these.
absl::StatusOr<std::string> ReasonClassOf(const absl::Status& status);

}  // namespace conformance
}  // namespace clients
}  // namespace kess
