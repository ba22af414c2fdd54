#include "agent/check_spec.h"

#include <arpa/inet.h>

#include <vector>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "model/names.h"

namespace kess {
namespace agent {
namespace {

constexpr int kMaxDamping = 100;
constexpr size_t kMaxArgs = 64;
constexpr size_t kMaxArgBytes = 4096;

absl::Status Bad(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// Reads an optional string field; InvalidArgument if it is not a string.
absl::Status StringField(const Poco::JSON::Object::Ptr& o,
                         const std::string& name, const std::string& where,
                         std::string* out, bool* present = nullptr) {
  if (present != nullptr) *present = false;
  if (!o->has(name) || o->isNull(name)) return absl::OkStatus();
  if (!o->get(name).isString()) {
    return Bad(where, absl::StrCat("\"", name, "\" must be a string"));
  }
  *out = o->getValue<std::string>(name);
  if (present != nullptr) *present = true;
  return absl::OkStatus();
}

absl::Status IntField(const Poco::JSON::Object::Ptr& o, const std::string& name,
                      const std::string& where, int min, int max, int* out) {
  if (!o->has(name) || o->isNull(name)) return absl::OkStatus();
  const Poco::Dynamic::Var v = o->get(name);
  if (!v.isInteger()) {
    return Bad(where, absl::StrCat("\"", name, "\" must be an integer"));
  }
  int64_t n = 0;
  try {
    n = v.convert<int64_t>();
  } catch (const Poco::Exception&) {
    return Bad(where, absl::StrCat("\"", name, "\" must be an integer"));
  }
  if (n < min || n > max) {
    return Bad(where,
               absl::StrCat("\"", name, "\" ", n, " is outside ", min, "..", max));
  }
  *out = static_cast<int>(n);
  return absl::OkStatus();
}

// "10s", "500ms", "1m30s" (absl::ParseDuration), positive.
absl::Status DurationField(const Poco::JSON::Object::Ptr& o,
                           const std::string& name, const std::string& where,
                           absl::Duration* out, bool* present = nullptr) {
  std::string text;
  bool has = false;
  KESS_RETURN_IF_ERROR(StringField(o, name, where, &text, &has));
  if (present != nullptr) *present = has;
  if (!has) return absl::OkStatus();
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return Bad(where, absl::StrCat("\"", name, "\" \"", text.substr(0, 32),
                                   "\" is not a positive duration such as "
                                   "\"10s\" or \"500ms\""));
  }
  *out = d;
  return absl::OkStatus();
}

std::string Duration(absl::Duration d) {
  return JsonQuote(absl::FormatDuration(d));
}

}  // namespace

const char* CheckKindName(CheckKind kind) {
  switch (kind) {
    case CheckKind::kHttp:
      return "http";
    case CheckKind::kTcp:
      return "tcp";
    case CheckKind::kTtl:
      return "ttl";
    case CheckKind::kExec:
      return "exec";
  }
  return "http";
}

const char* CheckStatusName(CheckStatus status) {
  switch (status) {
    case CheckStatus::kPassing:
      return "passing";
    case CheckStatus::kWarning:
      return "warning";
    case CheckStatus::kCritical:
      return "critical";
  }
  return "critical";
}

absl::StatusOr<CheckStatus> ParseCheckStatus(const std::string& name) {
  if (name == "passing" || name == "pass") return CheckStatus::kPassing;
  if (name == "warning" || name == "warn") return CheckStatus::kWarning;
  if (name == "critical" || name == "fail") return CheckStatus::kCritical;
  return absl::InvalidArgumentError(
      absl::StrCat("check status \"", name.substr(0, 32),
                   "\" is not one of passing, warning, critical"));
}

absl::Status ParseIpPort(const std::string& address, std::string* ip,
                         int* port) {
  const size_t colon = address.rfind(':');
  int p = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 1 ||
      p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", address.substr(0, 64), "\" is not ip:port (port 1..65535)"));
  }
  std::string host = address.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  in_addr parsed;
  if (inet_pton(AF_INET, host.c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address.substr(0, 64),
                     "\": the host must be an IPv4 address or localhost "
                     "(checks do no DNS lookups)"));
  }
  *ip = host;
  *port = p;
  return absl::OkStatus();
}

absl::StatusOr<CheckSpec> ParseCheckSpec(const Poco::JSON::Object::Ptr& json,
                                         const std::string& default_id,
                                         const std::string& instance_address,
                                         const CheckLimits& limits) {
  CheckSpec spec;
  spec.success_before_passing = limits.default_success_before_passing;
  spec.failures_before_critical = limits.default_failures_before_critical;
  std::string where = absl::StrCat("check \"", default_id, "\"");
  bool has_id = false;
  KESS_RETURN_IF_ERROR(StringField(json, "id", where, &spec.id, &has_id));
  if (!has_id) spec.id = default_id;
  where = absl::StrCat("check \"", spec.id.substr(0, 64), "\"");
  absl::Status valid = ValidateName(NameKind::kKey, spec.id);
  if (!valid.ok()) return Bad("check id", std::string(valid.message()));

  std::string kind;
  bool has_kind = false;
  KESS_RETURN_IF_ERROR(StringField(json, "kind", where, &kind, &has_kind));
  if (!has_kind) {
    return Bad(where, "\"kind\" is missing (http, tcp, ttl or exec)");
  }
  if (kind == "http") {
    spec.kind = CheckKind::kHttp;
  } else if (kind == "tcp") {
    spec.kind = CheckKind::kTcp;
  } else if (kind == "ttl") {
    spec.kind = CheckKind::kTtl;
  } else if (kind == "exec") {
    spec.kind = CheckKind::kExec;
  } else {
    return Bad(where, absl::StrCat("unknown kind \"", kind.substr(0, 32),
                                   "\" (http, tcp, ttl or exec)"));
  }

  KESS_RETURN_IF_ERROR(
      DurationField(json, "interval", where, &spec.interval));
  KESS_RETURN_IF_ERROR(DurationField(json, "timeout", where, &spec.timeout));
  KESS_RETURN_IF_ERROR(IntField(json, "success_before_passing", where, 1,
                                kMaxDamping, &spec.success_before_passing));
  KESS_RETURN_IF_ERROR(IntField(json, "failures_before_critical", where, 1,
                                kMaxDamping, &spec.failures_before_critical));
  std::string initial;
  bool has_initial = false;
  KESS_RETURN_IF_ERROR(
      StringField(json, "status", where, &initial, &has_initial));
  if (has_initial) {
    absl::StatusOr<CheckStatus> s = ParseCheckStatus(initial);
    if (!s.ok()) return Bad(where, std::string(s.status().message()));
    spec.initial = *s;
  }
  if (spec.kind != CheckKind::kTtl) {
    if (spec.interval < limits.min_interval ||
        spec.interval > limits.max_interval) {
      return Bad(where, absl::StrCat("\"interval\" must be within ",
                                     absl::FormatDuration(limits.min_interval),
                                     "..",
                                     absl::FormatDuration(limits.max_interval)));
    }
    if (spec.timeout >= spec.interval) {
      return Bad(where, "\"timeout\" must be shorter than \"interval\"");
    }
  }

  switch (spec.kind) {
    case CheckKind::kHttp: {
      bool has_url = false;
      KESS_RETURN_IF_ERROR(StringField(json, "url", where, &spec.url, &has_url));
      if (!has_url || !absl::StartsWith(spec.url, "http://")) {
        return Bad(where,
                   "\"url\" must be http://ip:port/path (https is not "
                   "supported)");
      }
      if (spec.url.size() > 2048) return Bad(where, "\"url\" is too long");
      std::string rest = spec.url.substr(7);
      const size_t slash = rest.find('/');
      std::string authority =
          slash == std::string::npos ? rest : rest.substr(0, slash);
      spec.path = slash == std::string::npos ? "/" : rest.substr(slash);
      for (char c : spec.path) {
        if (c <= 0x20 || c >= 0x7f) {
          return Bad(where, "\"url\" path has spaces or control characters");
        }
      }
      if (authority.find(':') == std::string::npos) authority += ":80";
      absl::Status s = ParseIpPort(authority, &spec.ip, &spec.port);
      if (!s.ok()) return Bad(where, absl::StrCat("url ", s.message()));
      KESS_RETURN_IF_ERROR(IntField(json, "expect_status", where, 100, 599,
                                    &spec.expect_status));
      break;
    }
    case CheckKind::kTcp: {
      bool has_target = false;
      KESS_RETURN_IF_ERROR(
          StringField(json, "target", where, &spec.target, &has_target));
      if (!has_target) spec.target = instance_address;
      absl::Status s = ParseIpPort(spec.target, &spec.ip, &spec.port);
      if (!s.ok()) {
        return Bad(where, absl::StrCat(has_target ? "target " : "the instance's address (give \"target\") ", s.message()));
      }
      break;
    }
    case CheckKind::kTtl: {
      bool has_ttl = false;
      KESS_RETURN_IF_ERROR(DurationField(json, "ttl", where, &spec.ttl, &has_ttl));
      if (!has_ttl) return Bad(where, "\"ttl\" is missing (e.g. \"30s\")");
      if (spec.ttl < limits.min_interval || spec.ttl > limits.max_interval) {
        return Bad(where, absl::StrCat("\"ttl\" must be within ",
                                       absl::FormatDuration(limits.min_interval),
                                       "..",
                                       absl::FormatDuration(limits.max_interval)));
      }
      break;
    }
    case CheckKind::kExec: {
      if (!limits.enable_exec) {
        return absl::PermissionDeniedError(absl::StrCat(
            where,
            ": exec checks are disabled on this agent (start it with "
            "--enable_exec_checks to allow them)"));
      }
      if (!json->has("args") || json->isNull("args")) {
        return Bad(where, "\"args\" is missing (the command and its arguments)");
      }
      Poco::JSON::Array::Ptr args;
      try {
        args = json->getArray("args");
      } catch (const Poco::Exception&) {
      }
      if (args.isNull() || args->size() == 0 || args->size() > kMaxArgs) {
        return Bad(where, absl::StrCat("\"args\" must be an array of 1..",
                                       kMaxArgs, " strings"));
      }
      for (size_t i = 0; i < args->size(); ++i) {
        if (!args->get(i).isString()) {
          return Bad(where, absl::StrCat("args[", i, "] must be a string"));
        }
        std::string a = args->getElement<std::string>(i);
        if (a.size() > kMaxArgBytes || a.find('\0') != std::string::npos) {
          return Bad(where, absl::StrCat("args[", i, "] is too long or has NUL"));
        }
        spec.args.push_back(std::move(a));
      }
      if (!absl::StartsWith(spec.args[0], "/")) {
        return Bad(where, "args[0] must be an absolute path");
      }
      break;
    }
  }
  return spec;
}

std::string CheckSpecToJson(const CheckSpec& spec) {
  std::string out = absl::StrCat("{\"id\":", JsonQuote(spec.id), ",\"kind\":\"",
                                 CheckKindName(spec.kind), "\"");
  switch (spec.kind) {
    case CheckKind::kHttp:
      absl::StrAppend(&out, ",\"url\":", JsonQuote(spec.url));
      if (spec.expect_status != 0) {
        absl::StrAppend(&out, ",\"expect_status\":", spec.expect_status);
      }
      break;
    case CheckKind::kTcp:
      absl::StrAppend(&out, ",\"target\":", JsonQuote(spec.target));
      break;
    case CheckKind::kTtl:
      absl::StrAppend(&out, ",\"ttl\":", Duration(spec.ttl));
      break;
    case CheckKind::kExec: {
      std::vector<std::string> quoted;
      for (const std::string& a : spec.args) quoted.push_back(JsonQuote(a));
      absl::StrAppend(&out, ",\"args\":[", absl::StrJoin(quoted, ","), "]");
      break;
    }
  }
  if (spec.kind != CheckKind::kTtl) {
    absl::StrAppend(&out, ",\"interval\":", Duration(spec.interval),
                    ",\"timeout\":", Duration(spec.timeout));
  }
  absl::StrAppend(&out, ",\"success_before_passing\":",
                  spec.success_before_passing,
                  ",\"failures_before_critical\":",
                  spec.failures_before_critical, ",\"status\":\"",
                  CheckStatusName(spec.initial), "\"}");
  return out;
}

}  // namespace agent
}  // namespace kess
