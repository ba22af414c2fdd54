// The HTTP client kessctl uses to talk to mandators (docs/http-api.md).
//
//   Client::Options options;
//   options.addresses = {"127.0.0.1:7101", "127.0.0.1:7102"};
//   auto client = Client::Create(options);
//   absl::StatusOr<std::string> body = (*client)->Call({"GET",
//   "/api/v1/configs"});
//
// Failover: Call() tries the addresses in order. An address that cannot be
// reached (connection refused, connect/send timeout) is skipped for the next.
// A read (GET) that was sent but got no answer also moves on; a write that
// was sent but got no answer does NOT, because it may have been applied —
// the caller gets Unavailable saying so. An HTTP answer, success or error,
// is final.
//
// Answers map to absl::Status by HTTP status (the body's message kept):
//   400, 413 -> InvalidArgument      401 -> Unauthenticated
//   403 -> PermissionDenied          404 -> NotFound
//   409 -> the body's code (Aborted, FailedPrecondition, AlreadyExists),
//          Aborted when it names another one
//   429 -> ResourceExhausted         503 -> Unavailable
//   504 -> DeadlineExceeded          others -> Internal
// and ExitCodeFor() turns a Status into kessctl's exit code.
//
// Thread-safety: a Client holds no mutable state; Call() and Send() may run
// concurrently from several threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace kessctl {

// kessctl's exit codes (also in --help and README.md).
enum ExitCode {
  kExitOk = 0,
  kExitUsage = 1,        // bad command line; nothing was sent
  kExitNotFound = 2,     // 404
  kExitConflict = 3,     // 409: compare-and-set lost, or not writable here
  kExitInvalid = 4,      // 400/413, or a name rejected before sending
  kExitUnavailable = 5,  // no mandator reachable, 503, 504
  kExitAuth = 6,         // 401/403
  kExitServer = 7,       // any other error (500, 429, malformed answer)
};

// The exit code for a Status produced by Client (or by local validation of
// names and values, which use InvalidArgument like the server).
ExitCode ExitCodeFor(const absl::Status& status);

struct HttpCall {
  std::string method;  // "GET", "PUT", "DELETE", "POST"
  std::string path;    // "/api/v1/configs/ns/key"; names need no escaping
  std::map<std::string, std::string> query;
  std::string body;  // JSON; sent with Content-Type application/json if set
};

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::string leader;  // X-Kess-Leader header, if any
};

class Client {
 public:
  struct Options {
    // "host:port", "[v6]:port" or "http://host:port" (HTTP), or
    // "https://host:port" (HTTPS, verified against HttpCall's default CA:
    // kessctl's --ca); at least one.
    std::vector<std::string> addresses;
    // Connect, send and receive, per attempt.
    absl::Duration timeout = absl::Seconds(5);
    std::string token;  // sent as "Authorization: Bearer <token>" if set
  };

  // InvalidArgument for an empty list, a malformed address or timeout <= 0.
  static absl::StatusOr<std::unique_ptr<Client>> Create(Options options);

  // The addresses as given, normalised to "host:port".
  const std::vector<std::string>& addresses() const { return addresses_; }

  // Runs `call` with failover (see above). On a 2xx answer: its body.
  // Otherwise the mapped error, or Unavailable
  //   "no mandator reachable at A (connection refused), B (...)"
  // when none answered.
  absl::StatusOr<std::string> Call(const HttpCall& call) const;

  // One attempt at one address (from addresses()), no failover. OK with any
  // HTTP answer; Unavailable with the reason ("connection refused") when
  // there was none.
  absl::StatusOr<HttpAnswer> Send(const std::string& address,
                                  const HttpCall& call) const;

  // OK for 2xx; otherwise the Status the answer maps to (see above), with
  // the server's message, e.g. Aborted("key ... expected revision 3, ...").
  static absl::Status StatusFromAnswer(const HttpAnswer& answer);

 private:
  struct Attempt;
  Client(Options options, std::vector<std::string> addresses);
  Attempt Try(const std::string& address, const HttpCall& call) const;

  Options options_;
  std::vector<std::string> addresses_;
};

}  // namespace kessctl
}  // namespace kess
