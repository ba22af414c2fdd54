#include "kessctl/acl_command.h"

#include <ostream>

#include "Poco/JSON/Array.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "kessctl/command_errors.h"
#include "model/names.h"

namespace kess {
namespace kessctl {
namespace {

using Object = Poco::JSON::Object::Ptr;

std::string Path(const std::string& kind, const std::string& name) {
  return absl::StrCat("/api/v1/acls/", kind == "namespace" ? "namespaces"
                                                           : "services",
                      "/", name);
}

std::vector<std::string> Strings(const Object& o, const std::string& field) {
  std::vector<std::string> out;
  Poco::JSON::Array::Ptr a = o->getArray(field);
  for (size_t i = 0; a && i < a->size(); ++i) {
    out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
  }
  return out;
}

void PrintAcl(const Object& a, std::ostream& out) {
  std::vector<std::string> entries = Strings(a, "hosts");
  for (const std::string& i : Strings(a, "identities")) entries.push_back(i);
  out << a->optValue<std::string>("kind", "") << " "
      << a->optValue<std::string>("name", "") << ": "
      << (entries.empty() ? "(nobody)" : absl::StrJoin(entries, " "))
      << "  (revision " << a->optValue<Poco::Int64>("revision", 0) << ")\n";
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

}  // namespace

int RunAcl(const std::vector<std::string>& args, const Options& options,
           const Io& io, const Client& client) {
  if (args.empty()) {
    return UsageError(io, "acl needs a subcommand: list, get, set or delete");
  }
  const std::string& verb = args[0];
  if (verb == "list") {
    if (args.size() != 1) return UsageError(io, "usage: kessctl acl list");
    return Call(client, options, io, "acl list", {"GET", "/api/v1/acls", {}, ""},
                [&](const Object& a) {
                  for (const char* kind : {"namespaces", "services"}) {
                    Poco::JSON::Array::Ptr list = a->getArray(kind);
                    for (size_t i = 0; list && i < list->size(); ++i) {
                      PrintAcl(list->getObject(static_cast<unsigned>(i)),
                               *io.out);
                    }
                  }
                });
  }
  if (verb != "get" && verb != "set" && verb != "delete") {
    return UsageError(io, "unknown acl subcommand: " + verb);
  }
  if (args.size() < 3 || (verb != "set" && args.size() != 3) ||
      (args[1] != "namespace" && args[1] != "service")) {
    return UsageError(io, absl::StrCat("usage: kessctl acl ", verb,
                                       " namespace|service <name>",
                                       verb == "set" ? " <entry>..." : ""));
  }
  const std::string& kind = args[1];
  const std::string& name = args[2];
  absl::Status valid = ValidateName(
      kind == "namespace" ? NameKind::kNamespace : NameKind::kService, name);
  if (!valid.ok()) return UsageError(io, std::string(valid.message()));
  const std::string what = absl::StrCat("acl ", verb, " ", kind, " ", name);
  if (verb == "get") {
    return Call(client, options, io, what, {"GET", Path(kind, name), {}, ""},
                [&](const Object& a) { PrintAcl(a, *io.out); });
  }
  if (verb == "delete") {
    HttpCall call{"DELETE", Path(kind, name), {}, ""};
    if (!options.author.empty()) call.query["author"] = options.author;
    return Call(client, options, io, what, call, [&](const Object& a) {
      *io.out << kind << " " << name << ": read ACL deleted as revision "
              << a->optValue<Poco::Int64>("revision", 0) << "\n";
    });
  }
  // set: entries with a '/' are identities, the others host patterns.
  std::vector<std::string> entries(args.begin() + 3, args.end());
  entries.insert(entries.end(), options.hosts.begin(), options.hosts.end());
  std::vector<std::string> hosts, identities;
  for (const std::string& e : entries) {
    (e.find('/') == std::string::npos ? hosts : identities).push_back(e);
  }
  auto quoted = [](const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      absl::StrAppend(&out, i > 0 ? "," : "", JsonQuote(v[i]));
    }
    return out + "]";
  };
  std::string body = absl::StrCat("{\"hosts\":", quoted(hosts),
                                  ",\"identities\":", quoted(identities));
  if (!options.author.empty()) {
    absl::StrAppend(&body, ",\"author\":", JsonQuote(options.author));
  }
  if (!options.comment.empty()) {
    absl::StrAppend(&body, ",\"comment\":", JsonQuote(options.comment));
  }
  body += "}";
  return Call(client, options, io, what, {"PUT", Path(kind, name), {}, body},
              [&](const Object& a) {
                *io.out << kind << " " << name << ": read ACL set as revision "
                        << a->optValue<Poco::Int64>("revision", 0) << " ("
                        << (entries.empty() ? "nobody"
                                            : absl::StrJoin(entries, " "))
                        << ")\n";
              });
}

}  // namespace kessctl
}  // namespace kess
