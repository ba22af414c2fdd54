// A health check of a locally registered instance, as given to the agent's
// registration API (docs/agent-api.md), parsed and validated.
//
//   {"id": "web-1-http", "kind": "http", "url": "http://127.0.0.1:8080/health",
//    "interval": "10s", "timeout": "2s", "expect_status": 200,
//    "success_before_passing": 1, "failures_before_critical": 3,
//    "status": "critical"}
//   {"kind": "tcp", "target": "127.0.0.1:5432", "interval": "10s"}
//   {"kind": "ttl", "ttl": "30s"}
//   {"kind": "exec", "args": ["/usr/lib/nagios/check_disk", "-w", "10%"]}
//
// Hosts are IPv4 literals or "localhost": checks run on one thread with
// non-blocking sockets and do no DNS lookups.
//
// Thread-safe: value types and pure functions.
#pragma once

#include <string>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace agent {

enum class CheckKind { kHttp, kTcp, kTtl, kExec };
const char* CheckKindName(CheckKind kind);  // "http", "tcp", "ttl", "exec"

// Ordered from best to worst: the worst check decides an instance.
enum class CheckStatus { kPassing = 0, kWarning = 1, kCritical = 2 };
const char* CheckStatusName(CheckStatus status);  // "passing", ...
// "passing" | "warning" | "critical" (also "pass" | "warn" | "fail").
absl::StatusOr<CheckStatus> ParseCheckStatus(const std::string& name);

struct CheckSpec {
  std::string id;  // unique on the agent; names.h kKey rules
  CheckKind kind = CheckKind::kHttp;
  absl::Duration interval = absl::Seconds(10);  // http, tcp, exec
  absl::Duration timeout = absl::Seconds(2);    // http, tcp, exec
  absl::Duration ttl;                           // ttl
  std::string url;                              // http, as given
  int expect_status = 0;  // http: 0 = any 2xx passes (429 warns)
  std::string target;     // tcp: "ip:port" (default: the instance's address)
  std::vector<std::string> args;  // exec: argv, args[0] an absolute path
  // Flap damping: consecutive results needed to change the state.
  int success_before_passing = 1;
  int failures_before_critical = 3;  // also before warning
  CheckStatus initial = CheckStatus::kCritical;

  // Derived by ParseCheckSpec: where http and tcp checks connect.
  std::string ip;  // dotted IPv4
  int port = 0;
  std::string path = "/";  // http request target
};

struct CheckLimits {
  bool enable_exec = false;  // --enable_exec_checks
  int default_success_before_passing = 1;
  int default_failures_before_critical = 3;
  absl::Duration min_interval = absl::Seconds(1);
  absl::Duration max_interval = absl::Hours(24);
};

// Parses one check object. `default_id` is used when it has no "id";
// `instance_address` is a tcp check's default target. InvalidArgument
// naming the field for an unknown kind or field type, a bad url, target or
// duration, a timeout not below the interval, an exec check while exec
// checks are disabled, ...
absl::StatusOr<CheckSpec> ParseCheckSpec(const Poco::JSON::Object::Ptr& json,
                                         const std::string& default_id,
                                         const std::string& instance_address,
                                         const CheckLimits& limits);

// The check as a JSON object in the shape ParseCheckSpec reads (durations
// as "10s"), for the state file and the GET API.
std::string CheckSpecToJson(const CheckSpec& spec);

// "a.b.c.d:port" (or "localhost:port") -> ip, port. InvalidArgument
// otherwise.
absl::Status ParseIpPort(const std::string& address, std::string* ip,
                         int* port);

}  // namespace agent
}  // namespace kess
