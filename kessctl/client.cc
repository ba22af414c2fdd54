#include "kessctl/client.h"

#include <istream>
#include <ostream>
#include <utility>

#include "Poco/URI.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/json_util.h"

namespace kess {
namespace kessctl {
namespace {

// "host:port" / "[v6]:port" -> host and port; false when malformed.
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string h = address.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  }
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p <= 0 || p > 65535) {
    return false;
  }
  *host = h;
  *port = p;
  return true;
}

absl::StatusCode CodeFromName(const std::string& name) {
  if (name == "FAILED_PRECONDITION")
    return absl::StatusCode::kFailedPrecondition;
  if (name == "ALREADY_EXISTS") return absl::StatusCode::kAlreadyExists;
  return absl::StatusCode::kAborted;
}

absl::StatusCode CodeForHttpStatus(int http_status, const std::string& name) {
  switch (http_status) {
    case 400:
    case 413:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return CodeFromName(name);
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

ExitCode ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return kExitConflict;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitAuth;
    default:
      return kExitServer;
  }
}

// The outcome of one attempt. `answer` is meaningful when `answered`;
// otherwise `reason` says why, and `sent` whether the request left in full
// (then a write may have been applied).
struct Client::Attempt {
  bool answered = false;
  bool sent = false;
  HttpAnswer answer;
  std::string reason;
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(Options options) {
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("timeout must be positive, got ",
                     absl::FormatDuration(options.timeout)));
  }
  std::vector<std::string> addresses;
  for (std::string a : options.addresses) {
    a = std::string(absl::StripAsciiWhitespace(a));
    if (a.empty()) continue;
    // https:// is kept (HttpCall verifies the server with the CA bundle,
    // SetDefaultHttpsCaFile: kessctl's --ca); http:// and none are HTTP.
    std::string scheme;
    if (absl::StartsWith(a, "https://")) {
      scheme = "https://";
      a = a.substr(8);
    } else if (absl::StartsWith(a, "http://")) {
      a = a.substr(7);
    }
    if (!a.empty() && a.back() == '/') a.pop_back();
    std::string host;
    int port;
    if (!SplitHostPort(a, &host, &port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("mandator address \"", a, "\" is not host:port"));
    }
    addresses.push_back(scheme + a);
  }
  if (addresses.empty()) {
    return absl::InvalidArgumentError("no mandator address given");
  }
  return std::unique_ptr<Client>(
      new Client(std::move(options), std::move(addresses)));
}

Client::Client(Options options, std::vector<std::string> addresses)
    : options_(std::move(options)), addresses_(std::move(addresses)) {}

Client::Attempt Client::Try(const std::string& address,
                            const HttpCall& call) const {
  Poco::URI uri;
  uri.setPath(call.path);
  for (const auto& [name, value] : call.query)
    uri.addQueryParameter(name, value);
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Accept", "application/json"}};
  if (!options_.token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + options_.token);
  }
  HttpFailure failure;
  absl::StatusOr<HttpReply> reply =
      kess::HttpCall(address, call.method, uri.getPathAndQuery(), call.body,
                     options_.timeout, headers, &failure);
  Attempt attempt;
  if (!reply.ok()) {
    attempt.sent = failure.sent;
    attempt.reason = failure.reason;
    return attempt;
  }
  attempt.sent = true;
  attempt.answered = true;
  attempt.answer.status = reply->status;
  attempt.answer.body = std::move(reply->body);
  attempt.answer.leader = reply->Header("x-kess-leader");
  return attempt;
}

absl::StatusOr<HttpAnswer> Client::Send(const std::string& address,
                                        const HttpCall& call) const {
  Attempt attempt = Try(address, call);
  if (!attempt.answered) {
    return absl::UnavailableError(attempt.reason);
  }
  return std::move(attempt.answer);
}

absl::StatusOr<std::string> Client::Call(const HttpCall& call) const {
  std::vector<std::string> failures;
  for (const std::string& address : addresses_) {
    Attempt attempt = Try(address, call);
    if (attempt.answered) {
      absl::Status status = StatusFromAnswer(attempt.answer);
      if (!status.ok()) return status;
      return std::move(attempt.answer.body);
    }
    if (attempt.sent && call.method != "GET") {
      return absl::UnavailableError(absl::StrCat(
          "sent to ", address, " but got no answer (", attempt.reason,
          "); it may or may not have been applied, check before retrying"));
    }
    failures.push_back(absl::StrCat(address, " (", attempt.reason, ")"));
  }
  return absl::UnavailableError(
      absl::StrCat("no mandator reachable at ", absl::StrJoin(failures, ", ")));
}

absl::Status Client::StatusFromAnswer(const HttpAnswer& answer) {
  if (answer.status >= 200 && answer.status < 300) return absl::OkStatus();
  std::string code_name;
  std::string message;
  auto body = ParseJsonObject(answer.body);
  if (body.ok() && (*body)->isObject("error")) {
    Poco::JSON::Object::Ptr error = (*body)->getObject("error");
    code_name = error->optValue<std::string>("code", "");
    message = error->optValue<std::string>("message", "");
  }
  if (message.empty()) {
    message =
        std::string(absl::StripAsciiWhitespace(answer.body.substr(0, 200)));
  }
  if (message.empty()) message = absl::StrCat("HTTP ", answer.status);
  if (!answer.leader.empty()) {
    absl::StrAppend(&message, " (leader: ", answer.leader, ")");
  }
  return absl::Status(CodeForHttpStatus(answer.status, code_name), message);
}

}  // namespace kessctl
}  // namespace kess
