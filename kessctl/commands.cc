#include "kessctl/commands.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/json_util.h"
#include "common/status.h"
#include "common/value_encoding.h"
#include "kessctl/client.h"
#include "kessctl/certs_command.h"
#include "kessctl/identity_command.h"
#include "kessctl/acl_command.h"
#include "kessctl/secrets_command.h"
#include "kessctl/auth_command.h"
#include "kessctl/command_errors.h"
#include "kessctl/services_command.h"
#include "kessctl/status_command.h"
#include "kessctl/table.h"
#include "kessctl/transfer_command.h"
#include "model/formats/format.h"
#include "model/names.h"

namespace kess {
namespace kessctl {
namespace {

// Same limit as the server (docs/http-api.md); checked before sending so a
// huge upload is not cut off mid-body by the server's 413.
constexpr size_t kMaxValueBytes = 16 * 1024 * 1024;

using Args = std::vector<std::string>;

// What a config command works on: <ns> [<key>], and the words after them.
struct Target {
  std::string ns, key;
  std::string what;  // "put payments/db.timeout_ms", for error messages
  Args rest;
};

struct Context {
  const Options& options;
  const Io& io;
  const Client& client;
  bool json() const { return options.output == "json"; }
};

std::string ConfigPath(const std::string& ns, const std::string& key) {
  return absl::StrCat("/api/v1/configs/", ns, key.empty() ? "" : "/", key);
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

// Runs `call`; prints the API's answer as is (--output=json) or passes it
// parsed to `text`. Returns the exit code.
int CallAndPrint(
    const Context& ctx, const Target& t, const HttpCall& call,
    const std::function<void(const Poco::JSON::Object::Ptr&)>& text) {
  std::string raw;
  auto answer = CallJson(ctx, call, &raw);
  if (!answer.ok()) return Fail(ctx.io, t.what, answer.status());
  if (ctx.json()) {
    *ctx.io.out << raw << "\n";
  } else {
    text(*answer);
  }
  return kExitOk;
}

// The value for `config put` and `config gray`: the third argument, "-" for
// stdin, or --file.
absl::StatusOr<std::string> ReadValue(const Context& ctx, const Target& t,
                                      const char* command) {
  const bool positional = !t.rest.empty();
  if (positional == !ctx.options.file.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        command, " takes the value as an argument, '-' (stdin) or --file=F"));
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
  } else if (t.rest[0] != "-") {
    return t.rest[0];
  }
  std::string value((std::istreambuf_iterator<char>(*in)),
                    std::istreambuf_iterator<char>());
  if (in->bad()) {
    return absl::FailedPreconditionError("reading the value failed");
  }
  return value;
}

// `, "name": value` fields shared by put and rollback.
void AppendWriteFields(const Options& o, std::string* body) {
  if (o.expected_revision >= 0) {
    absl::StrAppend(body, ",\"expected_revision\":", o.expected_revision);
  }
  if (!o.author.empty()) {
    absl::StrAppend(body, ",\"author\":", JsonQuote(o.author));
  }
}

// The start of a put or gray body: `{"value", "encoding", "content_type"?,
// "comment"?` (no closing brace); -1 when it is good, else the exit code
// after printing the error.
int ValueBody(const Context& ctx, const Target& t, const char* command,
              std::string* body) {
  absl::StatusOr<std::string> value = ReadValue(ctx, t, command);
  if (!value.ok()) {
    return UsageError(ctx.io, std::string(value.status().message()));
  }
  if (value->size() > kMaxValueBytes) {
    return Fail(ctx.io, t.what,
                absl::InvalidArgumentError(absl::StrCat(
                    "value of ", value->size(), " bytes exceeds the limit of ",
                    kMaxValueBytes, " bytes")));
  }
  const Options& o = ctx.options;
  std::string content_type = o.content_type;
  if (!o.format.empty()) {
    absl::StatusOr<formats::Format> format = formats::ParseFormat(o.format);
    if (!format.ok()) {
      return UsageError(ctx.io, std::string(format.status().message()));
    }
    if (content_type.empty()) {
      content_type = std::string(formats::FormatContentType(*format));
    } else if (formats::FormatFromContentType(content_type) != *format) {
      return UsageError(ctx.io, "--format=" + o.format +
                                    " contradicts --content_type=" +
                                    content_type);
    }
  }
  // The main leader refuses a malformed value of a checked format; say
  // where before sending it.
  if (std::optional<formats::SyntaxError> error = formats::CheckSyntax(
          formats::FormatFromContentType(content_type), *value)) {
    return Fail(ctx.io, t.what,
                absl::InvalidArgumentError(absl::StrCat(
                    "the value is not valid ",
                    formats::FormatName(error->format), ": ",
                    error->ToString(), "; nothing was sent")));
  }
  const char* encoding = EncodingFor(*value);
  *body = absl::StrCat("{\"value\":", JsonQuote(EncodeValue(*value, encoding)),
                       ",\"encoding\":", JsonQuote(encoding));
  if (!content_type.empty()) {
    absl::StrAppend(body, ",\"content_type\":", JsonQuote(content_type));
  }
  if (!o.comment.empty()) {
    absl::StrAppend(body, ",\"comment\":", JsonQuote(o.comment));
  }
  return -1;
}

int ConfigPut(const Context& ctx, const Target& t) {
  std::string body;
  const int code = ValueBody(ctx, t, "config put", &body);
  if (code >= 0) return code;
  const Options& o = ctx.options;
  AppendWriteFields(o, &body);
  body += "}";
  return CallAndPrint(ctx, t, {"PUT", ConfigPath(t.ns, t.key), {}, body},
                      [&](const Poco::JSON::Object::Ptr& a) {
                        *ctx.io.out << t.ns << "/" << t.key << ": revision "
                                    << Int(a, "revision") << ", version "
                                    << Int(a, "version") << "\n";
                      });
}

int ConfigGet(const Context& ctx, const Target& t) {
  std::string raw;
  auto answer = CallJson(ctx, {"GET", ConfigPath(t.ns, t.key), {}, ""}, &raw);
  if (!answer.ok()) return Fail(ctx.io, t.what, answer.status());
  const Poco::JSON::Object::Ptr& o = *answer;
  if (ctx.options.show_meta) {
    *ctx.io.err << t.ns << "/" << t.key << ": revision " << Int(o, "revision")
                << ", version " << Int(o, "version") << ", " << Int(o, "size")
                << " bytes, " << OneLine(Str(o, "content_type")) << ", by "
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
    return Fail(ctx.io, t.what,
                absl::InternalError(absl::StrCat("malformed answer: ",
                                                 value.status().message())));
  }
  ctx.io.out->write(value->data(), static_cast<std::streamsize>(value->size()));
  ctx.io.out->flush();
  return kExitOk;
}

int ConfigDelete(const Context& ctx, const Target& t) {
  HttpCall call{"DELETE", ConfigPath(t.ns, t.key), {}, ""};
  if (ctx.options.expected_revision >= 0) {
    call.query["expected_revision"] =
        absl::StrCat(ctx.options.expected_revision);
  }
  return CallAndPrint(ctx, t, call, [&](const Poco::JSON::Object::Ptr& a) {
    *ctx.io.out << t.ns << "/" << t.key << ": deleted at revision "
                << Int(a, "revision") << "\n";
  });
}

void PrintNamespaces(const Poco::JSON::Object::Ptr& a, std::ostream& out) {
  Poco::JSON::Array::Ptr names = a->getArray("namespaces");
  for (size_t i = 0; names && i < names->size(); ++i) {
    out << names->getElement<std::string>(i) << "\n";
  }
}

void PrintKeys(const Poco::JSON::Object::Ptr& a, std::ostream& out) {
  Table table({"KEY", "REVISION", "VERSION", "SIZE"});
  Poco::JSON::Array::Ptr keys = a->getArray("keys");
  for (size_t i = 0; keys && i < keys->size(); ++i) {
    Poco::JSON::Object::Ptr k = keys->getObject(i);
    if (!k) continue;
    table.AddRow({Str(k, "key"), absl::StrCat(Int(k, "revision")),
                  absl::StrCat(Int(k, "version")),
                  absl::StrCat(Int(k, "size"))});
  }
  table.Print(out);
}

int ConfigList(const Context& ctx, const Target& t) {
  if (t.ns.empty()) {
    return CallAndPrint(ctx, t, {"GET", "/api/v1/configs", {}, ""},
                        [&](const Poco::JSON::Object::Ptr& a) {
                          PrintNamespaces(a, *ctx.io.out);
                        });
  }
  return CallAndPrint(
      ctx, t, {"GET", ConfigPath(t.ns, ""), {}, ""},
      [&](const Poco::JSON::Object::Ptr& a) { PrintKeys(a, *ctx.io.out); });
}

void PrintHistory(const Poco::JSON::Object::Ptr& a, std::ostream& out) {
  Table table({"REVISION", "VERSION", "AUTHOR", "TIME", "SIZE", "COMMENT"});
  Poco::JSON::Array::Ptr versions = a->getArray("versions");
  for (size_t i = 0; versions && i < versions->size(); ++i) {
    Poco::JSON::Object::Ptr v = versions->getObject(i);
    if (!v) continue;
    table.AddRow({absl::StrCat(Int(v, "revision")),
                  absl::StrCat(Int(v, "version")), OneLine(Str(v, "author")),
                  FormatMillis(Int(v, "mtime_ms")),
                  absl::StrCat(Int(v, "size")), OneLine(Str(v, "comment"))});
  }
  table.Print(out);
}

int ConfigHistory(const Context& ctx, const Target& t) {
  if (ctx.options.limit <= 0) {
    return UsageError(ctx.io, "--limit must be positive");
  }
  HttpCall call{"GET",
                ConfigPath(t.ns, t.key) + "/history",
                {{"limit", absl::StrCat(ctx.options.limit)}},
                ""};
  return CallAndPrint(ctx, t, call, [&](const Poco::JSON::Object::Ptr& a) {
    PrintHistory(a, *ctx.io.out);
  });
}

int ConfigRollback(const Context& ctx, const Target& t) {
  const Options& o = ctx.options;
  if (o.to_revision <= 0) {
    return UsageError(ctx.io, "config rollback needs --to_revision=N");
  }
  std::string body = absl::StrCat("{\"to_revision\":", o.to_revision);
  AppendWriteFields(o, &body);
  body += "}";
  HttpCall call{"POST", ConfigPath(t.ns, t.key) + "/rollback", {}, body};
  return CallAndPrint(ctx, t, call, [&](const Poco::JSON::Object::Ptr& a) {
    *ctx.io.out << t.ns << "/" << t.key << ": rolled back to revision "
                << o.to_revision << " as revision " << Int(a, "revision")
                << ", version " << Int(a, "version") << "\n";
  });
}

// "hosts h1,h2", "10 % of hosts", or both joined by " and ".
std::string GrayTargets(const std::vector<std::string>& hosts,
                        int64_t percentage) {
  std::string s;
  if (!hosts.empty()) s = absl::StrCat("hosts ", absl::StrJoin(hosts, ","));
  if (percentage > 0) {
    absl::StrAppend(&s, s.empty() ? "" : " and ", percentage, " % of hosts");
  }
  return s.empty() ? "no hosts" : s;
}

int ConfigGray(const Context& ctx, const Target& t) {
  const Options& o = ctx.options;
  if (o.hosts.empty() && o.percentage < 0) {
    return UsageError(ctx.io,
                      "config gray needs --hosts=h1,h2 or --percentage=N");
  }
  if (o.percentage > 100 || o.percentage < -1) {
    return UsageError(ctx.io, "--percentage must be 0..100");
  }
  for (const std::string& host : o.hosts) {
    if (host.empty()) return UsageError(ctx.io, "--hosts has an empty host");
  }
  std::string body;
  const int code = ValueBody(ctx, t, "config gray", &body);
  if (code >= 0) return code;
  if (!o.hosts.empty()) {
    std::vector<std::string> quoted;
    for (const std::string& host : o.hosts) quoted.push_back(JsonQuote(host));
    absl::StrAppend(&body, ",\"hosts\":[", absl::StrJoin(quoted, ","), "]");
  }
  if (o.percentage >= 0) {
    absl::StrAppend(&body, ",\"percentage\":", o.percentage);
  }
  AppendWriteFields(o, &body);
  body += "}";
  HttpCall call{"POST", ConfigPath(t.ns, t.key) + "/gray", {}, body};
  return CallAndPrint(ctx, t, call, [&](const Poco::JSON::Object::Ptr& a) {
    *ctx.io.out << t.ns << "/" << t.key << ": gray release at revision "
                << Int(a, "revision") << " to "
                << GrayTargets(o.hosts, std::max(o.percentage, 0)) << "\n";
  });
}

int ConfigGrayStatus(const Context& ctx, const Target& t) {
  HttpCall call{"GET", ConfigPath(t.ns, t.key) + "/gray", {}, ""};
  return CallAndPrint(ctx, t, call, [&](const Poco::JSON::Object::Ptr& a) {
    std::vector<std::string> hosts;
    Poco::JSON::Array::Ptr list = a->getArray("hosts");
    for (size_t i = 0; list && i < list->size(); ++i) {
      hosts.push_back(OneLine(list->getElement<std::string>(i)));
    }
    std::ostream& out = *ctx.io.out;
    out << t.ns << "/" << t.key << ": gray release "
        << (a->optValue<bool>("active", false) ? "active" : "finishing")
        << " at revision " << Int(a, "revision") << " to "
        << GrayTargets(hosts, Int(a, "percentage")) << "\n"
        << "  base revision " << Int(a, "base_revision") << ", config revision "
        << Int(a, "config_revision") << "\n"
        << "  " << Int(a, "size") << " bytes, "
        << OneLine(Str(a, "content_type")) << ", by "
        << OneLine(Str(a, "author")) << " at "
        << FormatMillis(Int(a, "mtime_ms")) << ", comment "
        << OneLine(Str(a, "comment")) << "\n";
  });
}

// promote or abort: `{"author"?, "comment"?}`.
int GrayFinish(const Context& ctx, const Target& t, const std::string& verb,
               const char* done) {
  const Options& o = ctx.options;
  std::string body = "{";
  if (!o.author.empty()) {
    absl::StrAppend(&body, "\"author\":", JsonQuote(o.author));
  }
  if (!o.comment.empty()) {
    absl::StrAppend(&body, body.size() > 1 ? "," : "",
                    "\"comment\":", JsonQuote(o.comment));
  }
  body += "}";
  HttpCall call{"POST", ConfigPath(t.ns, t.key) + "/gray/" + verb, {}, body};
  return CallAndPrint(ctx, t, call, [&](const Poco::JSON::Object::Ptr& a) {
    *ctx.io.out << t.ns << "/" << t.key << ": " << done << " as revision "
                << Int(a, "revision") << ", version " << Int(a, "version")
                << "\n";
  });
}

int ConfigPromote(const Context& ctx, const Target& t) {
  return GrayFinish(ctx, t, "promote", "gray release promoted");
}

int ConfigAbort(const Context& ctx, const Target& t) {
  return GrayFinish(ctx, t, "abort", "gray release aborted, old value back");
}

struct ConfigCommand {
  const char* verb;
  const char* usage;
  bool needs_key;     // else <ns> is optional and there is no key
  size_t extra_args;  // allowed after <ns> <key>
  int (*run)(const Context&, const Target&);
};

constexpr ConfigCommand kConfigCommands[] = {
    {"put", "config put <ns> <key> <value>|-|--file=F", true, 1, ConfigPut},
    {"get", "config get <ns> <key>", true, 0, ConfigGet},
    {"delete", "config delete <ns> <key>", true, 0, ConfigDelete},
    {"list", "config list [<ns>]", false, 0, ConfigList},
    {"history", "config history <ns> <key>", true, 0, ConfigHistory},
    {"rollback", "config rollback <ns> <key> --to_revision=N", true, 0,
     ConfigRollback},
    {"gray",
     "config gray <ns> <key> <value>|-|--file=F (--hosts=h1,h2 | "
     "--percentage=N)",
     true, 1, ConfigGray},
    {"gray-status", "config gray-status <ns> <key>", true, 0, ConfigGrayStatus},
    {"promote", "config promote <ns> <key>", true, 0, ConfigPromote},
    {"abort", "config abort <ns> <key>", true, 0, ConfigAbort},
};

// Finds the command for `verb` and checks its arguments' count and names,
// all before anything is sent. Returns -1 when they are good (`*command` and
// `*t` set), else the exit code after printing the error.
int ParseConfig(const Io& io, const std::string& verb, const Args& args,
                const ConfigCommand** command, Target* t) {
  for (const ConfigCommand& c : kConfigCommands) {
    if (verb != c.verb) continue;
    const size_t min = c.needs_key ? 2 : 0;
    const size_t max = c.needs_key ? 2 + c.extra_args : 1;
    if (args.size() < min || args.size() > max) {
      return UsageError(io, absl::StrCat("usage: kessctl ", c.usage));
    }
    *command = &c;
    t->ns = args.empty() ? "" : args[0];
    t->key = c.needs_key ? args[1] : "";
    t->rest.assign(args.begin() + std::min(args.size(), min), args.end());
    t->what = absl::StrCat(verb, t->ns.empty() ? "" : " ", t->ns,
                           c.needs_key ? "/" : "", t->key);
    absl::Status valid = absl::OkStatus();
    if (!t->ns.empty() || c.needs_key) {
      valid = ValidateName(NameKind::kNamespace, t->ns);
    }
    if (valid.ok() && c.needs_key) valid = ValidateName(NameKind::kKey, t->key);
    return valid.ok() ? -1 : Fail(io, t->what, valid);
  }
  return UsageError(io, "unknown command: config " + verb +
                            " (put, get, delete, list, history, rollback, "
                            "gray, gray-status, promote, abort, export, "
                            "import)");
}

}  // namespace

int RunKessctl(const Args& args, const Options& options, const Io& io) {
  if (args.empty()) return UsageError(io, "no command given");
  if (args[0] == "help") {
    *io.out << UsageText();
    return kExitOk;
  }
  if (args[0] == "services") {
    if (options.output != "text" && options.output != "json") {
      return UsageError(io, "--output must be text or json, not \"" +
                                options.output + "\"");
    }
    std::unique_ptr<Client> services_client;
    if (!options.mandators.empty()) {
      Client::Options o;
      o.addresses = options.mandators;
      o.timeout = options.timeout;
      o.token = options.token;
      auto c = Client::Create(o);
      if (!c.ok()) return UsageError(io, std::string(c.status().message()));
      services_client = std::move(c).value();
    }
    return RunServices(Args(args.begin() + 1, args.end()), options, io,
                       services_client.get());
  }
  if (args[0] == "secrets") {
    return RunSecrets(Args(args.begin() + 1, args.end()), options, io);
  }
  if (args[0] == "certs") {
    return RunCerts(Args(args.begin() + 1, args.end()), options, io);
  }
  const bool auth = args[0] == "token" || args[0] == "user" ||
                    args[0] == "audit";
  if (args[0] != "config" && args[0] != "status" && args[0] != "snapshot" &&
      args[0] != "acl" && args[0] != "identity" && !auth) {
    return UsageError(io, "unknown command: " + args[0]);
  }
  const bool transfer = args[0] == "snapshot" ||
                        (args.size() >= 2 && (args[1] == "export" ||
                                              args[1] == "import"));
  const ConfigCommand* command = nullptr;
  Target target;
  if (transfer || args[0] == "acl" || args[0] == "identity" || auth) {
    // Checked with the client below.
  } else if (args[0] == "config") {
    if (args.size() < 2) {
      return UsageError(io,
                        "config needs a subcommand: put, get, delete, list, "
                        "history, rollback, gray, gray-status, promote or "
                        "abort");
    }
    int code = ParseConfig(io, args[1], Args(args.begin() + 2, args.end()),
                           &command, &target);
    if (code >= 0) return code;
  } else if (args.size() != 1) {
    return UsageError(io, "usage: kessctl status");
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
  client_options.timeout = options.timeout;
  client_options.token = options.token;
  auto client = Client::Create(client_options);
  if (!client.ok()) {
    return UsageError(io, std::string(client.status().message()));
  }
  Context ctx{options, io, **client};
  try {
    if (args[0] == "acl") {
      return RunAcl(Args(args.begin() + 1, args.end()), options, io, **client);
    }
    if (args[0] == "identity") {
      return RunIdentity(Args(args.begin() + 1, args.end()), options, io,
                         **client);
    }
    if (auth) {
      return RunAuth(args[0], Args(args.begin() + 1, args.end()), options, io,
                     **client);
    }
    if (args[0] == "snapshot") {
      return RunSnapshot(Args(args.begin() + 1, args.end()), options, io,
                         **client);
    }
    if (transfer) {
      return RunConfigTransfer(Args(args.begin() + 1, args.end()), options, io,
                               **client);
    }
    if (command != nullptr) return command->run(ctx, target);
    absl::Status status = RunStatus(**client, ctx.json(), *io.out);
    return status.ok() ? kExitOk : Fail(io, "status", status);
  } catch (const Poco::Exception& e) {
    return Fail(io, args[0],
                absl::InternalError("malformed answer: " + e.displayText()));
  }
}

}  // namespace kessctl
}  // namespace kess
