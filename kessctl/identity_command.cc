#include "kessctl/identity_command.h"

#include <ostream>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "common/identity/principal.h"
#include "common/json_util.h"
#include "common/tls/cert_gen.h"
#include "kessctl/command_errors.h"

namespace kess {
namespace kessctl {
namespace {

using Object = Poco::JSON::Object::Ptr;

constexpr char kUsage[] =
    "usage: kessctl identity issue <kind> <name> [--dc=DC] [--out=FILE] | "
    "list | revoke <kind> <name> [--dc=DC]";

}  // namespace

int RunIdentity(const std::vector<std::string>& args, const Options& options,
                const Io& io, const Client& client) {
  if (args.empty()) return UsageError(io, kUsage);
  const std::string& sub = args[0];
  if (sub == "list" && args.size() == 1) {
    absl::StatusOr<std::string> raw =
        client.Call({"GET", "/api/v1/identities", {}, ""});
    if (!raw.ok()) return Fail(io, "identity list", raw.status());
    if (options.output == "json") {
      *io.out << *raw << "\n";
      return kExitOk;
    }
    absl::StatusOr<Object> answer = ParseJsonObject(*raw);
    if (!answer.ok()) return Fail(io, "identity list", answer.status());
    Poco::JSON::Array::Ptr list = (*answer)->getArray("identities");
    for (size_t i = 0; list && i < list->size(); ++i) {
      Object o = list->getObject(static_cast<unsigned>(i));
      *io.out << o->optValue<std::string>("principal", "") << "  id "
              << o->optValue<std::string>("id", "") << "  issued "
              << o->optValue<Poco::Int64>("created_unix", 0) << "\n";
    }
    return kExitOk;
  }
  if ((sub != "issue" && sub != "revoke") || args.size() != 3) {
    return UsageError(io, kUsage);
  }
  absl::StatusOr<identity::Kind> kind = identity::ParseKind(args[1]);
  if (!kind.ok()) return UsageError(io, std::string(kind.status().message()));
  absl::Status valid =
      identity::ValidatePrincipalName(*kind, args[2], options.principal_dc);
  if (!valid.ok()) return UsageError(io, std::string(valid.message()));
  const std::string uri =
      identity::PrincipalUri(*kind, args[2], options.principal_dc);
  if (sub == "revoke") {
    HttpCall call{"DELETE",
                  absl::StrCat("/api/v1/identities/", args[1], "/", args[2]),
                  {},
                  ""};
    if (!options.principal_dc.empty()) call.query["dc"] = options.principal_dc;
    absl::StatusOr<std::string> raw = client.Call(call);
    if (!raw.ok()) return Fail(io, "identity revoke", raw.status());
    if (options.output == "json") {
      *io.out << *raw << "\n";
    } else {
      *io.out << "revoked " << uri << "\n";
    }
    return kExitOk;
  }
  Object body = new Poco::JSON::Object;
  body->set("kind", args[1]);
  body->set("name", args[2]);
  body->set("dc", options.principal_dc);
  absl::StatusOr<std::string> raw =
      client.Call({"POST", "/api/v1/identities", {}, ToJson(body)});
  if (!raw.ok()) return Fail(io, "identity issue", raw.status());
  absl::StatusOr<Object> answer = ParseJsonObject(*raw);
  if (!answer.ok()) return Fail(io, "identity issue", answer.status());
  const std::string file =
      (*answer)->optValue<std::string>("credential_file", "");
  if (!options.out_file.empty()) {
    absl::Status written =
        tls::WriteFileAtomically(options.out_file, file + "\n", 0600);
    if (!written.ok()) return Fail(io, "identity issue", written);
    *io.out << "issued " << uri << " (id "
            << (*answer)->optValue<std::string>("id", "")
            << "); its credential file: " << options.out_file
            << " (give it to that daemon as --credential_file)\n";
    return kExitOk;
  }
  if (options.output == "json") {
    *io.out << *raw << "\n";
  } else {
    *io.out << "issued " << uri << " (id "
            << (*answer)->optValue<std::string>("id", "")
            << "); shown once, save it as its --credential_file:\n"
            << file << "\n";
  }
  return kExitOk;
}

}  // namespace kessctl
}  // namespace kess
