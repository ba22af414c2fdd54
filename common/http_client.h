// One HTTP/1.1 request with a timeout (Poco HTTPClientSession): what a
// mandator uses to forward a write to its leader, what the SDK uses to post
// its subscriptions to the agent, what kessctl sends to mandators, and the
// one HTTP client of the tests and benchmarks (no other Poco client session
// anywhere).
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

// Why a call got no reply, for callers that fail over between servers.
struct HttpFailure {
  // The whole request was handed to the connection: a write may have been
  // applied although no answer came. False when the connection failed
  // (refused, unreachable, connect timeout) or the request could not be
  // written.
  bool sent = false;
  // Short and lower case: "connection refused", "timed out after 5s", or
  // the socket library's text.
  std::string reason;
};

// Sends `method` `uri` (path and query, already encoded) to `address`
// ("host:port", "[v6]:port", or "unix:<path>" for a unix-domain socket). InvalidArgument for a malformed address,
// Unavailable if the connection fails, DeadlineExceeded if the answer does
// not arrive within `timeout` (each of connect, send and receive). Any HTTP
// status is a reply, not an error. A JSON content type is set when `body`
// is not empty. When there is no reply and `failure` is not null, it says
// whether the request left and why it failed.
absl::StatusOr<HttpReply> HttpCall(
    const std::string& address, const std::string& method,
    const std::string& uri, const std::string& body = "",
    absl::Duration timeout = absl::Seconds(10),
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    HttpFailure* failure = nullptr);

}  // namespace kess
