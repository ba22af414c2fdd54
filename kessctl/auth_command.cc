#include "kessctl/auth_command.h"

#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>

#include "Poco/JSON/Array.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/json_util.h"
#include "kessctl/command_errors.h"

namespace kess {
namespace kessctl {
namespace {

using Object = Poco::JSON::Object::Ptr;

std::vector<std::string> Strings(const Object& o, const std::string& field) {
  std::vector<std::string> out;
  Poco::JSON::Array::Ptr a = o->getArray(field);
  for (size_t i = 0; a && i < a->size(); ++i) {
    out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
  }
  return out;
}

std::string Scope(const Object& o) {
  std::string role = o->optValue<std::string>("role", "");
  std::vector<std::string> ns = Strings(o, "namespaces");
  if (!ns.empty()) absl::StrAppend(&role, " of ", absl::StrJoin(ns, ","));
  return role;
}

std::string When(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

// Calls and prints: the raw answer (json) or `text` of the parsed one.
int Call(const Client& client, const Options& options, const Io& io,
         const std::string& what, const HttpCall& call,
         const std::function<void(const Object&)>& text) {
  absl::StatusOr<std::string> raw = client.Call(call);
  if (!raw.ok()) return Fail(io, what, raw.status());
  if (options.output == "json") {
    *io.out << *raw << "\n";
    return kExitOk;
  }
  absl::StatusOr<Object> answer = ParseJsonObject(*raw);
  if (!answer.ok()) return Fail(io, what, answer.status());
  text(*answer);
  return kExitOk;
}

// {"name","role","namespaces"?,"password"?} as JSON.
std::string GrantJson(const std::string& name, const Options& options,
                      const std::string* password) {
  std::vector<std::string> ns;
  for (const std::string& n : options.namespaces) ns.push_back(JsonQuote(n));
  std::string json = absl::StrCat("{\"name\":", JsonQuote(name),
                                  ",\"role\":", JsonQuote(options.role),
                                  ",\"namespaces\":[", absl::StrJoin(ns, ","),
                                  "]");
  if (password != nullptr) {
    absl::StrAppend(&json, ",\"password\":", JsonQuote(*password));
  }
  return json + "}";
}

// The password from --file (or stdin for "-" or no --file), one line.
absl::StatusOr<std::string> ReadPassword(const Options& options,
                                         const Io& io) {
  std::string text;
  if (options.file.empty() || options.file == "-") {
    std::getline(*io.in, text);
  } else {
    std::ifstream in(options.file);
    if (!in) {
      return absl::NotFoundError("cannot read the password file " +
                                 options.file);
    }
    std::getline(in, text);
  }
  text = std::string(absl::StripAsciiWhitespace(text));
  if (text.empty()) return absl::InvalidArgumentError("the password is empty");
  return text;
}

int Token(const std::vector<std::string>& args, const Options& options,
          const Io& io, const Client& client) {
  const std::string verb = args.empty() ? "" : args[0];
  if (verb == "list" && args.size() == 1) {
    return Call(client, options, io, "token list",
                {"GET", "/api/v1/auth/tokens", {}, ""}, [&](const Object& a) {
                  Poco::JSON::Array::Ptr list = a->getArray("tokens");
                  for (size_t i = 0; list && i < list->size(); ++i) {
                    Object t = list->getObject(static_cast<unsigned>(i));
                    *io.out << t->optValue<std::string>("id", "") << "  "
                            << t->optValue<std::string>("name", "") << "  "
                            << Scope(t) << "  created "
                            << When(t->optValue<Poco::Int64>("created_ms", 0))
                            << " by "
                            << t->optValue<std::string>("created_by", "")
                            << "\n";
                  }
                });
  }
  if (verb == "create" && args.size() == 2) {
    if (options.role.empty()) {
      return UsageError(io, "token create needs --role=viewer|publisher|admin");
    }
    return Call(client, options, io, "token create",
                {"POST", "/api/v1/auth/tokens", {},
                 GrantJson(args[1], options, nullptr)},
                [&](const Object& a) {
                  Object t = a->getObject("token");
                  *io.err << "token " << t->optValue<std::string>("id", "")
                          << " (" << t->optValue<std::string>("name", "")
                          << ", " << Scope(t)
                          << ") created; its value is shown only now:\n";
                  *io.out << a->optValue<std::string>("bearer", "") << "\n";
                });
  }
  if (verb == "revoke" && args.size() == 2) {
    return Call(client, options, io, "token revoke",
                {"DELETE", "/api/v1/auth/tokens/" + args[1], {}, ""},
                [&](const Object&) {
                  *io.out << "revoked " << args[1] << "\n";
                });
  }
  return UsageError(io,
                    "usage: kessctl token list | token create <name> "
                    "--role=viewer|publisher|admin [--namespaces=a,b] | "
                    "token revoke <id>");
}

int User(const std::vector<std::string>& args, const Options& options,
         const Io& io, const Client& client) {
  const std::string verb = args.empty() ? "" : args[0];
  if (verb == "list" && args.size() == 1) {
    return Call(client, options, io, "user list",
                {"GET", "/api/v1/auth/users", {}, ""}, [&](const Object& a) {
                  Poco::JSON::Array::Ptr list = a->getArray("users");
                  for (size_t i = 0; list && i < list->size(); ++i) {
                    Object u = list->getObject(static_cast<unsigned>(i));
                    *io.out << u->optValue<std::string>("name", "") << "  "
                            << Scope(u) << "  created "
                            << When(u->optValue<Poco::Int64>("created_ms", 0))
                            << " by "
                            << u->optValue<std::string>("created_by", "")
                            << "\n";
                  }
                });
  }
  if ((verb == "create" || verb == "passwd") && args.size() == 2) {
    if (verb == "create" && options.role.empty()) {
      return UsageError(io, "user create needs --role=viewer|publisher|admin");
    }
    absl::StatusOr<std::string> password = ReadPassword(options, io);
    if (!password.ok()) return Fail(io, "user " + verb, password.status());
    if (verb == "create") {
      return Call(client, options, io, "user create",
                  {"POST", "/api/v1/auth/users", {},
                   GrantJson(args[1], options, &*password)},
                  [&](const Object&) {
                    *io.out << "created user " << args[1] << "\n";
                  });
    }
    return Call(client, options, io, "user passwd",
                {"PUT", "/api/v1/auth/users/" + args[1] + "/password", {},
                 absl::StrCat("{\"password\":", JsonQuote(*password), "}")},
                [&](const Object&) {
                  *io.out << "password of " << args[1] << " set\n";
                });
  }
  if (verb == "delete" && args.size() == 2) {
    return Call(client, options, io, "user delete",
                {"DELETE", "/api/v1/auth/users/" + args[1], {}, ""},
                [&](const Object&) {
                  *io.out << "deleted user " << args[1] << "\n";
                });
  }
  return UsageError(io,
                    "usage: kessctl user list | user create <name> "
                    "--role=... [--namespaces=...] [--file=<password file>] "
                    "| user passwd <name> [--file=...] | user delete <name>");
}

int Audit(const std::vector<std::string>& args, const Options& options,
          const Io& io, const Client& client) {
  if (!args.empty()) {
    return UsageError(io,
                      "usage: kessctl audit [--who=] [--what=] [--since=] "
                      "[--refused] [--limit=N] [--cursor=]");
  }
  HttpCall call{"GET", "/api/v1/audit", {}, ""};
  if (!options.who.empty()) call.query["who"] = options.who;
  if (!options.what.empty()) call.query["what"] = options.what;
  if (!options.since.empty()) call.query["since"] = options.since;
  if (options.refused) call.query["refused"] = "1";
  if (!options.cursor.empty()) call.query["cursor"] = options.cursor;
  call.query["limit"] = absl::StrCat(options.limit);
  return Call(client, options, io, "audit", call, [&](const Object& a) {
    Poco::JSON::Array::Ptr list = a->getArray("records");
    for (size_t i = 0; list && i < list->size(); ++i) {
      Object r = list->getObject(static_cast<unsigned>(i));
      const std::string who = r->optValue<std::string>("who", "");
      *io.out << When(r->optValue<Poco::Int64>("time_ms", 0)) << "  "
              << (who.empty() ? "(unauthenticated)" : who) << "  "
              << r->optValue<std::string>("action", "") << "  "
              << r->optValue<std::string>("what", "") << "  "
              << r->optValue<int>("http_status", 0) << "  from "
              << r->optValue<std::string>("client", "") << " via "
              << r->optValue<std::string>("datacenter", "") << "/"
              << r->optValue<std::string>("mandator", "");
      const std::string detail = r->optValue<std::string>("detail", "");
      if (!detail.empty()) *io.out << "  " << detail;
      const Poco::Int64 suppressed = r->optValue<Poco::Int64>("suppressed", 0);
      if (suppressed > 0) {
        *io.out << "  (+" << suppressed << " refused not recorded)";
      }
      *io.out << "\n";
    }
    const std::string next = a->optValue<std::string>("next_cursor", "");
    if (!next.empty()) *io.err << "more: --cursor=" << next << "\n";
  });
}

}  // namespace

int RunAuth(const std::string& command, const std::vector<std::string>& args,
            const Options& options, const Io& io, const Client& client) {
  if (command == "token") return Token(args, options, io, client);
  if (command == "user") return User(args, options, io, client);
  return Audit(args, options, io, client);
}

}  // namespace kessctl
}  // namespace kess
