#include "mandator/kessctl/commands.h"

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/json_util.h"
#include "common/names.h"
#include "common/status.h"
#include "mandator/kessctl/client.h"
#include "mandator/kessctl/status_command.h"
#include "mandator/kessctl/table.h"
#include "mandator/kessctl/value_codec.h"

namespace kess {
namespace kessctl {
namespace {

// Same limit as the server (docs/http-api.md); checked before sending so a
// huge upload is not cut off mid-body by the server's 413.
constexpr size_t kMaxValueBytes = 16 * 1024 * 1024;

using Args = std::vector<std::string>;

struct Context {
  const Options& options;
  const Io& io;
  const Client& client;
  bool json() const { return options.output == "json"; }
};

int UsageError(const Io& io, const std::string& message) {
  *io.err << "kessctl: " << message << "\nRun 'kessctl --help' for usage.\n";
  return kExitUsage;
}

// Prints "kessctl: <what>: <message>" plus a hint where one is obvious.
int Fail(const Io& io, const std::string& what, const absl::Status& status) {
  std::string hint;
  if (absl::StartsWith(status.message(), "no mandator reachable")) {
    hint = " (set --mandators or KESS_MANDATORS)";
  } else if (status.code() == absl::StatusCode::kUnauthenticated) {
    hint = " (set --token or KESS_TOKEN)";
  }
  *io.err << "kessctl: " << what << ": " << status.message() << hint << "\n";
  return ExitCodeFor(status);
}

std::string ConfigPath(const std::string& ns, const std::string& key) {
  return absl::StrCat("/api/v1/configs/", ns, key.empty() ? "" : "/", key);
}

absl::Status ValidateNames(const std::string& ns, const std::string& key) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  return ValidateName(NameKind::kKey, key);
}

// The call's answer parsed as a JSON object.
absl::StatusOr<Poco::JSON::Object::Ptr> CallJson(const Context& ctx,
                                                 const HttpCall& call,
                                                 std::string* raw) {
  KESS_ASSIGN_OR_RETURN(*raw, ctx.client.Call(call));
  auto object = ParseJsonObject(*raw);
  if (!object.ok()) {
    return absl::InternalError(
        absl::StrCat("malformed answer: ", object.status().message()));
  }
  return object;
}

int64_t Int(const Poco::JSON::Object::Ptr& o, const std::string& name) {
  return o->optValue<Poco::Int64>(name, 0);
}

std::string Str(const Poco::JSON::Object::Ptr& o, const std::string& name) {
  return o->optValue<std::string>(name, "");
}

std::string FormatMillis(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

// One line for a table cell: control characters become spaces.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s.empty() ? "-" : s;
}

// The value for `config put`: the third argument, "-" for stdin, or --file.
absl::StatusOr<std::string> ReadValue(const Context& ctx, const Args& args) {
  const bool positional = args.size() == 3;
  if (positional == !ctx.options.file.empty()) {
    return absl::FailedPreconditionError(
        "config put takes the value as an argument, '-' (stdin) or --file=F");
  }
  std::istream* in = ctx.io.in;
  std::ifstream file;
  if (!positional) {
    file.open(ctx.options.file, std::ios::binary);
    if (!file) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", ctx.options.file));
    }
    in = &file;
  } else if (args[2] != "-") {
    return args[2];
  }
  std::string value((std::istreambuf_iterator<char>(*in)),
                    std::istreambuf_iterator<char>());
  if (in->bad()) {
    return absl::FailedPreconditionError("reading the value failed");
  }
  return value;
}

int ConfigPut(const Context& ctx, const Args& args) {
  if (args.size() < 2 || args.size() > 3) {
    return UsageError(
        ctx.io, "usage: kessctl config put <ns> <key> <value>|-|--file=F");
  }
  const std::string what = absl::StrCat("put ", args[0], "/", args[1]);
  absl::Status valid = ValidateNames(args[0], args[1]);
  if (!valid.ok()) return Fail(ctx.io, what, valid);
  absl::StatusOr<std::string> value = ReadValue(ctx, args);
  if (!value.ok())
    return UsageError(ctx.io, std::string(value.status().message()));
  if (value->size() > kMaxValueBytes) {
    return Fail(ctx.io, what,
                absl::InvalidArgumentError(absl::StrCat(
                    "value of ", value->size(), " bytes exceeds the limit of ",
                    kMaxValueBytes, " bytes")));
  }
  const char* encoding = EncodingFor(*value);
  std::string body =
      absl::StrCat("{\"value\":", JsonQuote(EncodeValue(*value, encoding)),
                   ",\"encoding\":", JsonQuote(encoding));
  const Options& o = ctx.options;
  if (!o.content_type.empty()) {
    absl::StrAppend(&body, ",\"content_type\":", JsonQuote(o.content_type));
  }
  if (o.expected_revision >= 0) {
    absl::StrAppend(&body, ",\"expected_revision\":", o.expected_revision);
  }
  if (!o.author.empty()) {
    absl::StrAppend(&body, ",\"author\":", JsonQuote(o.author));
  }
  if (!o.comment.empty()) {
    absl::StrAppend(&body, ",\"comment\":", JsonQuote(o.comment));
  }
  body += "}";
  std::string raw;
  auto answer =
      CallJson(ctx, {"PUT", ConfigPath(args[0], args[1]), {}, body}, &raw);
  if (!answer.ok()) return Fail(ctx.io, what, answer.status());
  if (ctx.json()) {
    *ctx.io.out << raw << "\n";
  } else {
    *ctx.io.out << args[0] << "/" << args[1] << ": revision "
                << Int(*answer, "revision") << ", version "
                << Int(*answer, "version") << "\n";
  }
  return kExitOk;
}

int ConfigGet(const Context& ctx, const Args& args) {
  if (args.size() != 2) {
    return UsageError(ctx.io, "usage: kessctl config get <ns> <key>");
  }
  const std::string what = absl::StrCat("get ", args[0], "/", args[1]);
  absl::Status valid = ValidateNames(args[0], args[1]);
  if (!valid.ok()) return Fail(ctx.io, what, valid);
  std::string raw;
  auto answer =
      CallJson(ctx, {"GET", ConfigPath(args[0], args[1]), {}, ""}, &raw);
  if (!answer.ok()) return Fail(ctx.io, what, answer.status());
  const Poco::JSON::Object::Ptr& o = *answer;
  if (ctx.options.show_meta) {
    *ctx.io.err << args[0] << "/" << args[1] << ": revision "
                << Int(o, "revision") << ", version " << Int(o, "version")
                << ", " << Int(o, "size") << " bytes, "
                << OneLine(Str(o, "content_type")) << ", by "
                << OneLine(Str(o, "author")) << " at "
                << FormatMillis(Int(o, "mtime_ms")) << "\n";
  }
  if (ctx.json()) {
    *ctx.io.out << raw << "\n";
    return kExitOk;
  }
  absl::StatusOr<std::string> value =
      DecodeValue(Str(o, "value"), Str(o, "encoding"));
  if (!value.ok()) {
    return Fail(ctx.io, what,
                absl::InternalError(absl::StrCat("malformed answer: ",
                                                 value.status().message())));
  }
  ctx.io.out->write(value->data(), static_cast<std::streamsize>(value->size()));
  ctx.io.out->flush();
  return kExitOk;
}

int ConfigDelete(const Context& ctx, const Args& args) {
  if (args.size() != 2) {
    return UsageError(ctx.io, "usage: kessctl config delete <ns> <key>");
  }
  const std::string what = absl::StrCat("delete ", args[0], "/", args[1]);
  absl::Status valid = ValidateNames(args[0], args[1]);
  if (!valid.ok()) return Fail(ctx.io, what, valid);
  HttpCall call{"DELETE", ConfigPath(args[0], args[1]), {}, ""};
  if (ctx.options.expected_revision >= 0) {
    call.query["expected_revision"] =
        absl::StrCat(ctx.options.expected_revision);
  }
  std::string raw;
  auto answer = CallJson(ctx, call, &raw);
  if (!answer.ok()) return Fail(ctx.io, what, answer.status());
  if (ctx.json()) {
    *ctx.io.out << raw << "\n";
  } else {
    *ctx.io.out << args[0] << "/" << args[1] << ": deleted at revision "
                << Int(*answer, "revision") << "\n";
  }
  return kExitOk;
}

int ConfigList(const Context& ctx, const Args& args) {
  if (args.size() > 1) {
    return UsageError(ctx.io, "usage: kessctl config list [<ns>]");
  }
  const std::string ns = args.empty() ? "" : args[0];
  const std::string what = ns.empty() ? "list" : "list " + ns;
  if (!ns.empty()) {
    absl::Status valid = ValidateName(NameKind::kNamespace, ns);
    if (!valid.ok()) return Fail(ctx.io, what, valid);
  }
  std::string raw;
  auto answer = CallJson(
      ctx, {"GET", ns.empty() ? "/api/v1/configs" : ConfigPath(ns, ""), {}, ""},
      &raw);
  if (!answer.ok()) return Fail(ctx.io, what, answer.status());
  if (ctx.json()) {
    *ctx.io.out << raw << "\n";
    return kExitOk;
  }
  if (ns.empty()) {
    Poco::JSON::Array::Ptr names = (*answer)->getArray("namespaces");
    for (size_t i = 0; names && i < names->size(); ++i) {
      *ctx.io.out << names->getElement<std::string>(i) << "\n";
    }
    return kExitOk;
  }
  Table table({"KEY", "REVISION", "VERSION", "SIZE"});
  Poco::JSON::Array::Ptr keys = (*answer)->getArray("keys");
  for (size_t i = 0; keys && i < keys->size(); ++i) {
    Poco::JSON::Object::Ptr k = keys->getObject(i);
    if (!k) continue;
    table.AddRow({Str(k, "key"), absl::StrCat(Int(k, "revision")),
                  absl::StrCat(Int(k, "version")),
                  absl::StrCat(Int(k, "size"))});
  }
  table.Print(*ctx.io.out);
  return kExitOk;
}

int ConfigHistory(const Context& ctx, const Args& args) {
  if (args.size() != 2) {
    return UsageError(ctx.io, "usage: kessctl config history <ns> <key>");
  }
  if (ctx.options.limit <= 0) {
    return UsageError(ctx.io, "--limit must be positive");
  }
  const std::string what = absl::StrCat("history ", args[0], "/", args[1]);
  absl::Status valid = ValidateNames(args[0], args[1]);
  if (!valid.ok()) return Fail(ctx.io, what, valid);
  std::string raw;
  auto answer = CallJson(ctx,
                         {"GET",
                          ConfigPath(args[0], args[1]) + "/history",
                          {{"limit", absl::StrCat(ctx.options.limit)}},
                          ""},
                         &raw);
  if (!answer.ok()) return Fail(ctx.io, what, answer.status());
  if (ctx.json()) {
    *ctx.io.out << raw << "\n";
    return kExitOk;
  }
  Table table({"REVISION", "VERSION", "AUTHOR", "TIME", "SIZE", "COMMENT"});
  Poco::JSON::Array::Ptr versions = (*answer)->getArray("versions");
  for (size_t i = 0; versions && i < versions->size(); ++i) {
    Poco::JSON::Object::Ptr v = versions->getObject(i);
    if (!v) continue;
    table.AddRow({absl::StrCat(Int(v, "revision")),
                  absl::StrCat(Int(v, "version")), OneLine(Str(v, "author")),
                  FormatMillis(Int(v, "mtime_ms")),
                  absl::StrCat(Int(v, "size")), OneLine(Str(v, "comment"))});
  }
  table.Print(*ctx.io.out);
  return kExitOk;
}

int ConfigRollback(const Context& ctx, const Args& args) {
  if (args.size() != 2 || ctx.options.to_revision <= 0) {
    return UsageError(
        ctx.io, "usage: kessctl config rollback <ns> <key> --to_revision=N");
  }
  const std::string what = absl::StrCat("rollback ", args[0], "/", args[1]);
  absl::Status valid = ValidateNames(args[0], args[1]);
  if (!valid.ok()) return Fail(ctx.io, what, valid);
  const Options& o = ctx.options;
  std::string body = absl::StrCat("{\"to_revision\":", o.to_revision);
  if (o.expected_revision >= 0) {
    absl::StrAppend(&body, ",\"expected_revision\":", o.expected_revision);
  }
  if (!o.author.empty()) {
    absl::StrAppend(&body, ",\"author\":", JsonQuote(o.author));
  }
  body += "}";
  std::string raw;
  auto answer = CallJson(
      ctx, {"POST", ConfigPath(args[0], args[1]) + "/rollback", {}, body},
      &raw);
  if (!answer.ok()) return Fail(ctx.io, what, answer.status());
  if (ctx.json()) {
    *ctx.io.out << raw << "\n";
  } else {
    *ctx.io.out << args[0] << "/" << args[1] << ": rolled back to revision "
                << o.to_revision << " as revision " << Int(*answer, "revision")
                << ", version " << Int(*answer, "version") << "\n";
  }
  return kExitOk;
}

int RunConfig(const Context& ctx, const std::string& verb, const Args& args) {
  if (verb == "put") return ConfigPut(ctx, args);
  if (verb == "get") return ConfigGet(ctx, args);
  if (verb == "delete") return ConfigDelete(ctx, args);
  if (verb == "list") return ConfigList(ctx, args);
  if (verb == "history") return ConfigHistory(ctx, args);
  if (verb == "rollback") return ConfigRollback(ctx, args);
  return UsageError(ctx.io, "unknown command: config " + verb +
                                " (put, get, delete, list, history, rollback)");
}

}  // namespace

int RunKessctl(const Args& args, const Options& options, const Io& io) {
  if (args.empty()) return UsageError(io, "no command given");
  if (args[0] == "help") {
    *io.out << UsageText();
    return kExitOk;
  }
  if (args[0] != "config" && args[0] != "status") {
    return UsageError(io, "unknown command: " + args[0]);
  }
  if (args[0] == "config" && args.size() < 2) {
    return UsageError(io,
                      "config needs a subcommand: put, get, delete, list, "
                      "history or rollback");
  }
  if (options.output != "text" && options.output != "json") {
    return UsageError(
        io, "--output must be text or json, not \"" + options.output + "\"");
  }
  if (options.expected_revision < -1) {
    return UsageError(io, "--expected_revision must be 0 or more");
  }
  if (options.mandators.empty()) {
    return UsageError(io,
                      "no mandator given: set --mandators=host:port,... "
                      "or KESS_MANDATORS");
  }
  Client::Options client_options;
  client_options.addresses = options.mandators;
  client_options.timeout_ms = options.timeout_ms;
  client_options.token = options.token;
  auto client = Client::Create(client_options);
  if (!client.ok())
    return UsageError(io, std::string(client.status().message()));
  Context ctx{options, io, **client};
  try {
    if (args[0] == "status") {
      if (args.size() != 1) return UsageError(io, "usage: kessctl status");
      absl::Status status = RunStatus(**client, ctx.json(), *io.out);
      return status.ok() ? kExitOk : Fail(io, "status", status);
    }
    return RunConfig(ctx, args[1], Args(args.begin() + 2, args.end()));
  } catch (const Poco::Exception& e) {
    return Fail(io, args[0],
                absl::InternalError("malformed answer: " + e.displayText()));
  }
}

}  // namespace kessctl
}  // namespace kess
