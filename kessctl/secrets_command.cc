#include "kessctl/secrets_command.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <memory>
#include <ostream>

#include "Poco/JSON/Array.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "common/value_encoding.h"
#include "kessctl/client.h"
#include "kessctl/command_errors.h"
#include "model/names.h"
#include "model/secrets/envelope.h"
#include "model/secrets/key_dir.h"

namespace kess {
namespace kessctl {
namespace {

using Object = Poco::JSON::Object::Ptr;

constexpr char kUsage[] =
    "secrets needs a subcommand: keygen <ns>, drop-key <ns> <id>, "
    "reencrypt <ns> or show <ns> <key>";

absl::StatusOr<std::unique_ptr<Client>> MakeClient(const Options& options) {
  if (options.mandators.empty()) {
    return absl::InvalidArgumentError(
        "no mandator given: set --mandators=host:port,... or KESS_MANDATORS");
  }
  Client::Options o;
  o.addresses = options.mandators;
  o.timeout = options.timeout;
  o.token = options.token;
  return Client::Create(o);
}

// A config as the API answers it: the raw value (decoded) and its fields.
struct Value {
  std::string value;
  std::string content_type;
  int64_t revision = 0;
};

absl::StatusOr<Value> GetValue(const Client& client, const std::string& ns,
                               const std::string& key) {
  KESS_ASSIGN_OR_RETURN(
      std::string raw,
      client.Call({"GET", absl::StrCat("/api/v1/configs/", ns, "/", key), {},
                   ""}));
  KESS_ASSIGN_OR_RETURN(Object o, ParseJsonObject(raw));
  Value v;
  KESS_ASSIGN_OR_RETURN(
      v.value, DecodeValue(o->optValue<std::string>("value", ""),
                           o->optValue<std::string>("encoding", "utf8")));
  v.content_type = o->optValue<std::string>("content_type", "");
  v.revision = o->optValue<Poco::Int64>("revision", 0);
  return v;
}

int Keygen(const std::string& ns, const Options& options, const Io& io) {
  secrets::KeyRingDir dir(options.keys_dir);
  const std::string path = dir.PathFor(ns);
  secrets::KeyRing ring;
  absl::StatusOr<secrets::KeyRing> old = secrets::LoadKeyRingFile(path);
  if (old.ok()) {
    ring = *std::move(old);
  } else if (!absl::IsNotFound(old.status())) {
    return Fail(io, "secrets keygen", old.status());
  } else if (mkdir(options.keys_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail(io, "secrets keygen",
                absl::PermissionDeniedError(absl::StrCat(
                    "cannot create ", options.keys_dir, ": ",
                    std::strerror(errno))));
  }
  absl::StatusOr<secrets::KeyRing> next = secrets::AddNewKey(ring);
  if (!next.ok()) return Fail(io, "secrets keygen", next.status());
  absl::Status written = secrets::WriteKeyRingFile(path, *next, ns);
  if (!written.ok()) return Fail(io, "secrets keygen", written);
  *io.out << "key ring " << path << ": key " << next->newest().id
          << " added, " << next->keys().size()
          << (next->keys().size() == 1 ? " key" : " keys")
          << "; the newest encrypts\n";
  return kExitOk;
}

int DropKey(const std::string& ns, const std::string& id_text,
            const Options& options, const Io& io) {
  uint32_t id = 0;
  if (!absl::SimpleAtoi(id_text, &id) || id == 0) {
    return UsageError(io, "secrets drop-key: the key id is a number >= 1");
  }
  secrets::KeyRingDir dir(options.keys_dir);
  const std::string path = dir.PathFor(ns);
  absl::StatusOr<secrets::KeyRing> ring = secrets::LoadKeyRingFile(path);
  if (!ring.ok()) return Fail(io, "secrets drop-key", ring.status());
  if (ring->Find(id) == nullptr) {
    return Fail(io, "secrets drop-key",
                absl::NotFoundError(
                    absl::StrCat("the ring ", path, " has no key ", id)));
  }
  if (ring->newest().id == id) {
    return Fail(io, "secrets drop-key",
                absl::FailedPreconditionError(absl::StrCat(
                    "key ", id, " is the newest of ", path,
                    " (it encrypts); add a key first (secrets keygen)")));
  }
  std::vector<secrets::Key> keep;
  for (const secrets::Key& k : ring->keys()) {
    if (k.id != id) keep.push_back(k);
  }
  absl::StatusOr<secrets::KeyRing> next =
      secrets::KeyRing::Create(std::move(keep));
  if (!next.ok()) return Fail(io, "secrets drop-key", next.status());
  absl::Status written = secrets::WriteKeyRingFile(path, *next, ns);
  if (!written.ok()) return Fail(io, "secrets drop-key", written);
  *io.out << "key ring " << path << ": key " << id << " removed, "
          << next->keys().size() << " left\n";
  return kExitOk;
}

int Reencrypt(const std::string& ns, const Options& options, const Io& io) {
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(options);
  if (!client.ok()) return UsageError(io, std::string(client.status().message()));
  // With the ring at hand, values already sealed by its newest key are
  // left alone; without it every value is written back.
  secrets::KeyRingDir dir(options.keys_dir);
  absl::StatusOr<std::shared_ptr<const secrets::KeyRing>> ring = dir.Get(ns);
  const uint32_t newest = ring.ok() ? (*ring)->newest().id : 0;
  absl::StatusOr<std::string> listing =
      (*client)->Call({"GET", absl::StrCat("/api/v1/configs/", ns), {}, ""});
  if (!listing.ok()) return Fail(io, "secrets reencrypt", listing.status());
  absl::StatusOr<Object> answer = ParseJsonObject(*listing);
  if (!answer.ok()) return Fail(io, "secrets reencrypt", answer.status());
  Poco::JSON::Array::Ptr keys = (*answer)->getArray("keys");
  int written = 0, current = 0, failed = 0;
  absl::Status last_error;
  for (size_t i = 0; keys && i < keys->size(); ++i) {
    const std::string key = keys->getObject(static_cast<unsigned>(i))
                                ->optValue<std::string>("key", "");
    absl::StatusOr<Value> v = GetValue(**client, ns, key);
    if (absl::IsNotFound(v.status())) continue;  // deleted meanwhile
    if (!v.ok()) {
      ++failed;
      last_error = v.status();
      *io.err << "kessctl: secrets reencrypt: " << ns << "/" << key << ": "
              << v.status().message() << "\n";
      continue;
    }
    if (newest != 0 && secrets::LooksLikeEnvelope(v->value)) {
      absl::StatusOr<secrets::Envelope> env = secrets::ParseEnvelope(v->value);
      if (env.ok() && env->key_id == newest) {
        ++current;
        continue;
      }
    }
    const std::string encoding = EncodingFor(v->value);
    std::string body = absl::StrCat(
        "{\"value\":", JsonQuote(EncodeValue(v->value, encoding)),
        ",\"encoding\":", JsonQuote(encoding),
        ",\"content_type\":", JsonQuote(v->content_type),
        ",\"expected_revision\":", v->revision, ",\"comment\":",
        JsonQuote(options.comment.empty() ? "re-encrypted with the newest key"
                                          : options.comment));
    if (!options.author.empty()) {
      absl::StrAppend(&body, ",\"author\":", JsonQuote(options.author));
    }
    body += "}";
    absl::StatusOr<std::string> put = (*client)->Call(
        {"PUT", absl::StrCat("/api/v1/configs/", ns, "/", key), {}, body});
    if (!put.ok()) {
      ++failed;
      last_error = put.status();
      *io.err << "kessctl: secrets reencrypt: " << ns << "/" << key << ": "
              << put.status().message() << "\n";
      continue;
    }
    ++written;
  }
  *io.out << "namespace " << ns << ": " << written << " written back, "
          << current << " already under key " << newest << ", " << failed
          << " failed\n";
  if (failed > 0) return Fail(io, "secrets reencrypt", last_error);
  return kExitOk;
}

int Show(const std::string& ns, const std::string& key, const Options& options,
         const Io& io) {
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(options);
  if (!client.ok()) return UsageError(io, std::string(client.status().message()));
  absl::StatusOr<Value> v = GetValue(**client, ns, key);
  if (!v.ok()) return Fail(io, "secrets show", v.status());
  if (!secrets::LooksLikeEnvelope(v->value)) {
    *io.err << "kessctl: " << ns << "/" << key << " is not encrypted\n";
    *io.out << v->value;
    return kExitOk;
  }
  secrets::KeyRingDir dir(options.keys_dir);
  absl::StatusOr<std::shared_ptr<const secrets::KeyRing>> ring = dir.Get(ns);
  if (!ring.ok()) return Fail(io, "secrets show", ring.status());
  absl::StatusOr<std::string> plain =
      secrets::Open(**ring, ns, key, v->value);
  if (!plain.ok()) return Fail(io, "secrets show", plain.status());
  *io.out << *plain;
  return kExitOk;
}

}  // namespace

int RunSecrets(const std::vector<std::string>& args, const Options& options,
               const Io& io) {
  if (args.empty()) return UsageError(io, kUsage);
  const std::string& verb = args[0];
  const size_t want = verb == "keygen" || verb == "reencrypt" ? 2
                      : verb == "drop-key" || verb == "show"  ? 3
                                                              : 0;
  if (want == 0) return UsageError(io, "unknown secrets subcommand: " + verb);
  if (args.size() != want) return UsageError(io, kUsage);
  absl::Status name = ValidateName(NameKind::kNamespace, args[1]);
  if (!name.ok()) return Fail(io, "secrets " + verb, name);
  if (verb == "keygen") return Keygen(args[1], options, io);
  if (verb == "drop-key") return DropKey(args[1], args[2], options, io);
  if (verb == "reencrypt") return Reencrypt(args[1], options, io);
  absl::Status key = ValidateName(NameKind::kKey, args[2]);
  if (!key.ok()) return Fail(io, "secrets show", key);
  return Show(args[1], args[2], options, io);
}

}  // namespace kessctl
}  // namespace kess
