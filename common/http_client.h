// One HTTP/1.1 request with a timeout (Poco HTTPClientSession): what a
// mandator uses to forward a write to its leader, what the SDK uses to post
// its subscriptions to the agent, and the one HTTP client of the tests and
// benchmarks (no other Poco client session anywhere).
//
// Thread-safe: each call uses its own connection.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::map<std::string, std::string> headers;  // names lower-cased

  std::string Header(const std::string& lower_name) const;
};

// Sends `method` `uri` (path and query, already encoded) to `address`
// ("host:port"). Unavailable if the connection fails, DeadlineExceeded if
// the answer does not arrive within `timeout`. Any HTTP status is a reply,
// not an error.
absl::StatusOr<HttpReply> HttpCall(
    const std::string& address, const std::string& method,
    const std::string& uri, const std::string& body = "",
    absl::Duration timeout = absl::Seconds(10),
    const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace kess
