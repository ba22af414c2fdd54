#include "kessctl/transfer_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Parser.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/value_encoding.h"
#include "kessctl/command_errors.h"
#include "model/names.h"

namespace kess {
namespace kessctl {
namespace {

using Args = std::vector<std::string>;

// A snapshot of a large tree takes a while to read or to commit.
constexpr absl::Duration kSnapshotTimeout = absl::Minutes(10);

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError("cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (in.bad()) return absl::FailedPreconditionError("reading " + path);
  return text;
}

// Temp file, then rename over `path`: a crash leaves the old file or none.
absl::Status WriteFile(const std::string& path, const std::string& data) {
  const std::string tmp = absl::StrCat(path, ".tmp-", getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return absl::FailedPreconditionError("cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::FailedPreconditionError("cannot rename " + tmp + " to " +
                                         path);
  }
  return absl::OkStatus();
}

int64_t Int(const Poco::JSON::Object::Ptr& o, const std::string& name) {
  return o->optValue<Poco::Int64>(name, 0);
}

size_t ArraySize(const Poco::JSON::Object::Ptr& o, const std::string& name) {
  Poco::JSON::Array::Ptr a = o->getArray(name);
  return a.isNull() ? 0 : a->size();
}

// A client whose first address is the main DC's leader (asked through
// /api/v1/status of every mandator given, the first main-DC one that
// answers), then the given ones; with the snapshot timeout.
absl::StatusOr<std::unique_ptr<Client>> MainLeaderClient(
    const Client& client, const Options& options) {
  std::string leader;
  std::string why = "no mandator answered";
  for (const std::string& address : client.addresses()) {
    absl::StatusOr<HttpAnswer> answer =
        client.Send(address, {"GET", "/api/v1/status", {}, ""});
    if (!answer.ok() || answer->status != 200) continue;
    absl::StatusOr<Poco::JSON::Object::Ptr> status =
        ParseJsonObject(answer->body);
    if (!status.ok()) continue;
    if (!(*status)->optValue<bool>("is_main", false)) {
      why = "only mandators of slave DCs answered";
      continue;
    }
    Poco::JSON::Object::Ptr l = (*status)->getObject("leader");
    if (!l.isNull()) leader = l->optValue<std::string>("http_address", "");
    if (leader.empty()) why = "the main DC has no leader";
    // Published as host:port; reached as the mandator that named it is.
    if (!leader.empty() && IsHttpsAddress(address)) {
      leader = "https://" + leader;
    }
    break;
  }
  Client::Options o;
  if (!leader.empty()) o.addresses.push_back(leader);
  for (const std::string& a : client.addresses()) {
    if (a != leader) o.addresses.push_back(a);
  }
  o.timeout = std::max(options.timeout, kSnapshotTimeout);
  o.token = options.token;
  if (leader.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot find the main DC's leader (", why,
        "); list main-DC mandators in --mandators"));
  }
  return Client::Create(o);
}

int SnapshotSave(const Options& options, const Io& io, const Client& client,
                 const std::string& file) {
  const std::string what = "snapshot save " + file;
  auto leader = MainLeaderClient(client, options);
  if (!leader.ok()) return Fail(io, what, leader.status());
  absl::StatusOr<std::string> body =
      (*leader)->Call({"GET", "/api/v1/admin/snapshot", {}, ""});
  if (!body.ok()) return Fail(io, what, body.status());
  auto doc = ParseJsonObject(*body);
  if (!doc.ok() || !(*doc)->has("kess_snapshot")) {
    return Fail(io, what,
                absl::InternalError("malformed answer: not a snapshot"));
  }
  std::ostream& report = file == "-" ? *io.err : *io.out;
  if (file == "-") {
    *io.out << *body << "\n";
  } else {
    absl::Status written = WriteFile(file, *body + "\n");
    if (!written.ok()) return Fail(io, what, written);
  }
  report << "snapshot of " << (*doc)->optValue<std::string>("datacenter", "")
         << " at revision " << Int(*doc, "revision") << ": "
         << ArraySize(*doc, "configs") << " configs, "
         << ArraySize(*doc, "gray") << " gray releases, "
         << ArraySize(*doc, "routes") << " route tables, "
         << ArraySize(*doc, "overrides") << " services with overrides -> "
         << (file == "-" ? "stdout" : file) << "\n";
  return kExitOk;
}

int SnapshotRestore(const Options& options, const Io& io, const Client& client,
                    const std::string& file) {
  const std::string what = "snapshot restore " + file;
  if (options.min_revision < 0) {
    return UsageError(io, "--min_revision must be 0 or more");
  }
  absl::StatusOr<std::string> text = ReadFile(file);
  if (!text.ok()) return UsageError(io, std::string(text.status().message()));
  auto doc = ParseJsonObject(*text);
  if (!doc.ok() || !(*doc)->has("kess_snapshot")) {
    return Fail(io, what,
                absl::InvalidArgumentError(file + " is not a kess snapshot"));
  }
  auto leader = MainLeaderClient(client, options);
  if (!leader.ok()) return Fail(io, what, leader.status());
  HttpCall call{"POST", "/api/v1/admin/restore", {}, *text};
  if (options.min_revision > 0) {
    call.query["min_revision"] = absl::StrCat(options.min_revision);
  }
  absl::StatusOr<std::string> body = (*leader)->Call(call);
  if (!body.ok()) return Fail(io, what, body.status());
  if (options.output == "json") {
    *io.out << *body << "\n";
    return kExitOk;
  }
  auto answer = ParseJsonObject(*body);
  Poco::JSON::Object::Ptr r =
      answer.ok() ? (*answer)->getObject("restored") : nullptr;
  if (r.isNull()) {
    return Fail(io, what, absl::InternalError("malformed answer: " + *body));
  }
  *io.out << "restored the snapshot of revision " << Int(*doc, "revision")
          << " as revisions " << Int(r, "first_revision") << ".."
          << Int(r, "revision") << ": " << Int(r, "configs") << " configs ("
          << Int(r, "versions") << " versions), " << Int(r, "gray")
          << " gray releases, " << Int(r, "routes") << " route tables, "
          << Int(r, "overrides") << " overrides\n";
  return kExitOk;
}

// ---- config export / import ----

struct Current {
  std::string value;
  int64_t revision = 0;
};

// Every key of `ns` with its value and revision (an absent namespace is
// empty).
absl::StatusOr<std::map<std::string, Current>> ReadNamespace(
    const Client& client, const std::string& ns) {
  std::map<std::string, Current> out;
  absl::StatusOr<std::string> listing =
      client.Call({"GET", "/api/v1/configs/" + ns, {}, ""});
  if (absl::IsNotFound(listing.status())) return out;
  KESS_RETURN_IF_ERROR(listing.status());
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr keys, ParseJsonObject(*listing));
  Poco::JSON::Array::Ptr list = keys->getArray("keys");
  for (size_t i = 0; list && i < list->size(); ++i) {
    const std::string key = list->getObject(i)->getValue<std::string>("key");
    absl::StatusOr<std::string> got =
        client.Call({"GET", absl::StrCat("/api/v1/configs/", ns, "/", key), {}, ""});
    if (absl::IsNotFound(got.status())) continue;  // deleted meanwhile
    KESS_RETURN_IF_ERROR(got.status());
    KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr config, ParseJsonObject(*got));
    KESS_ASSIGN_OR_RETURN(
        std::string value,
        DecodeValue(config->optValue<std::string>("value", ""),
                    config->optValue<std::string>("encoding", "")));
    out[key] = {std::move(value), config->optValue<Poco::Int64>("revision", 0)};
  }
  return out;
}

std::string FormatFromName(const std::string& file) {
  if (absl::EndsWith(file, ".properties")) return "properties";
  if (absl::EndsWith(file, ".yaml") || absl::EndsWith(file, ".yml")) {
    return "yaml";
  }
  return "json";
}

// A value for one line of a diff: at most 60 characters, no control bytes.
std::string Short(const std::string& value) {
  if (!IsPlainUtf8(value)) return absl::StrCat("<", value.size(), " bytes>");
  std::string s = value.size() > 60 ? value.substr(0, 57) + "..." : value;
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return JsonQuote(s);
}

int ConfigExport(const Options& options, const Io& io, const Client& client,
                 const std::string& ns) {
  const std::string what = "export " + ns;
  const std::string format =
      options.format.empty() ? FormatFromName(options.file) : options.format;
  auto current = ReadNamespace(client, ns);
  if (!current.ok()) return Fail(io, what, current.status());
  std::map<std::string, std::string> values;
  for (const auto& [key, c] : *current) values[key] = c.value;
  absl::StatusOr<std::string> text = FormatConfigs(values, format);
  if (!text.ok()) return Fail(io, what, text.status());
  if (options.file.empty()) {
    *io.out << *text;
    return kExitOk;
  }
  absl::Status written = WriteFile(options.file, *text);
  if (!written.ok()) return Fail(io, what, written);
  *io.out << ns << ": " << values.size() << " configs -> " << options.file
          << " (" << format << ")\n";
  return kExitOk;
}

int ConfigImport(const Options& options, const Io& io, const Client& client,
                 const std::string& ns, const std::string& file) {
  const std::string what = "import " + ns;
  const std::string format =
      options.format.empty() ? FormatFromName(file) : options.format;
  absl::StatusOr<std::string> text = ReadFile(file);
  if (!text.ok()) return UsageError(io, std::string(text.status().message()));
  auto wanted = ParseConfigs(*text, format);
  if (!wanted.ok()) return Fail(io, what + " " + file, wanted.status());
  for (const auto& [key, value] : *wanted) {
    absl::Status valid = ValidateName(NameKind::kKey, key);
    if (!valid.ok()) return Fail(io, what + " " + file, valid);
  }
  auto current = ReadNamespace(client, ns);
  if (!current.ok()) return Fail(io, what, current.status());

  struct Change {
    std::string key;
    int64_t expected = 0;  // 0: must not exist
  };
  std::vector<Change> changes;
  int unchanged = 0, kept = 0;
  std::ostream& out = *io.out;
  for (const auto& [key, value] : *wanted) {
    auto it = current->find(key);
    if (it == current->end()) {
      out << "+ " << ns << "/" << key << " = " << Short(value) << "\n";
      changes.push_back({key, 0});
    } else if (it->second.value != value) {
      out << "~ " << ns << "/" << key << ": " << Short(it->second.value)
          << " -> " << Short(value) << "\n";
      changes.push_back({key, it->second.revision});
    } else {
      ++unchanged;
    }
  }
  for (const auto& [key, c] : *current) {
    if (wanted->count(key) == 0) ++kept;
  }
  int added = 0;
  for (const Change& c : changes) added += c.expected == 0;
  out << ns << ": " << added << " to add, " << changes.size() - added
      << " to change, " << unchanged << " unchanged, " << kept
      << " only in the namespace (kept)"
      << (options.dry_run ? "; dry run, nothing written" : "") << "\n";
  if (options.dry_run) return kExitOk;

  for (const Change& c : changes) {
    const std::string& value = wanted->at(c.key);
    const char* encoding = EncodingFor(value);
    std::string body = absl::StrCat(
        "{\"value\":", JsonQuote(EncodeValue(value, encoding)),
        ",\"encoding\":", JsonQuote(encoding),
        ",\"expected_revision\":", c.expected,
        ",\"comment\":",
        JsonQuote(options.comment.empty() ? "kessctl config import " + file
                                          : options.comment));
    if (!options.author.empty()) {
      absl::StrAppend(&body, ",\"author\":", JsonQuote(options.author));
    }
    body += "}";
    absl::StatusOr<std::string> put = client.Call(
        {"PUT", absl::StrCat("/api/v1/configs/", ns, "/", c.key), {}, body});
    if (!put.ok()) return Fail(io, absl::StrCat(what, "/", c.key), put.status());
    auto answer = ParseJsonObject(*put);
    out << ns << "/" << c.key << ": revision "
        << (answer.ok() ? Int(*answer, "revision") : 0) << "\n";
  }
  return kExitOk;
}

// ---- the file formats ----

std::string PropertiesEscape(const std::string& s, bool key) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\f': out += "\\f"; break;
      case '=': case ':': case '#': case '!':
        if (key) out += '\\';
        out += c;
        break;
      case ' ':
        if (key || i == 0) out += '\\';
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

// One logical line of a properties file, unescaped; `key` stops at the
// first unescaped '=', ':' or white space.
absl::Status PropertiesLine(const std::string& line, std::string* key,
                            std::string* value) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < line.size() &&
           (line[i] == ' ' || line[i] == '\t' || line[i] == '\f')) {
      ++i;
    }
  };
  auto unescape = [&](std::string* out, bool stop_at_separator) {
    while (i < line.size()) {
      char c = line[i];
      if (stop_at_separator &&
          (c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f')) {
        return absl::OkStatus();
      }
      ++i;
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i >= line.size()) return absl::OkStatus();
      c = line[i++];
      switch (c) {
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'f': *out += '\f'; break;
        case 'u': {
          if (i + 4 > line.size()) {
            return absl::InvalidArgumentError("a \\u escape needs 4 digits");
          }
          unsigned code = 0;
          for (int d = 0; d < 4; ++d) {
            const char h = line[i++];
            code <<= 4;
            if (h >= '0' && h <= '9') code |= h - '0';
            else if (h >= 'a' && h <= 'f') code |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') code |= h - 'A' + 10;
            else return absl::InvalidArgumentError("bad \\u escape");
          }
          // UTF-8 of the code point (surrogate pairs are not joined).
          if (code < 0x80) {
            *out += static_cast<char>(code);
          } else if (code < 0x800) {
            *out += static_cast<char>(0xc0 | (code >> 6));
            *out += static_cast<char>(0x80 | (code & 0x3f));
          } else {
            *out += static_cast<char>(0xe0 | (code >> 12));
            *out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            *out += static_cast<char>(0x80 | (code & 0x3f));
          }
          break;
        }
        default: *out += c;
      }
    }
    return absl::OkStatus();
  };
  skip_space();
  KESS_RETURN_IF_ERROR(unescape(key, true));
  skip_space();
  if (i < line.size() && (line[i] == '=' || line[i] == ':')) ++i;
  skip_space();
  return unescape(value, false);
}

// A YAML scalar of the flat subset: "double quoted" (JSON escapes), 'single
// quoted' ('' is a quote) or plain (trimmed, a " #" comment cut off).
absl::StatusOr<std::string> YamlScalar(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return std::string();
  if (text[0] == '"') {
    try {
      Poco::JSON::Parser parser;
      Poco::Dynamic::Var parsed =
          parser.parse(absl::StrCat("[", std::string(text), "]"));
      Poco::JSON::Array::Ptr a = parsed.extract<Poco::JSON::Array::Ptr>();
      if (a->size() != 1 || !a->get(0).isString()) {
        return absl::InvalidArgumentError("not one quoted string");
      }
      return a->getElement<std::string>(0);
    } catch (const Poco::Exception& e) {
      return absl::InvalidArgumentError("bad double-quoted string: " +
                                        e.displayText());
    }
  }
  if (text[0] == '\'') {
    std::string out;
    for (size_t i = 1; i < text.size(); ++i) {
      if (text[i] != '\'') {
        out += text[i];
      } else if (i + 1 < text.size() && text[i + 1] == '\'') {
        out += '\'';
        ++i;
      } else {
        if (!absl::StripAsciiWhitespace(text.substr(i + 1)).empty()) {
          return absl::InvalidArgumentError("text after a quoted string");
        }
        return out;
      }
    }
    return absl::InvalidArgumentError("unterminated single-quoted string");
  }
  const size_t comment = text.find(" #");
  if (comment != absl::string_view::npos) text = text.substr(0, comment);
  return std::string(absl::StripAsciiWhitespace(text));
}

// Where the key of a flat YAML line ends: the ':' after it (outside
// quotes), or npos.
size_t YamlColon(const std::string& line) {
  if (!line.empty() && (line[0] == '"' || line[0] == '\'')) {
    const char q = line[0];
    for (size_t i = 1; i < line.size(); ++i) {
      if (q == '"' && line[i] == '\\') {
        ++i;
      } else if (line[i] == q) {
        if (q == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
          ++i;
          continue;
        }
        const size_t colon = line.find(':', i + 1);
        return colon;
      }
    }
    return std::string::npos;
  }
  const size_t colon = line.find(": ");
  if (colon != std::string::npos) return colon;
  return absl::EndsWith(line, ":") ? line.size() - 1 : std::string::npos;
}

}  // namespace

absl::StatusOr<std::string> FormatConfigs(
    const std::map<std::string, std::string>& configs,
    const std::string& format) {
  std::string out;
  if (format == "json") {
    out = "{";
    bool first = true;
    for (const auto& [key, value] : configs) {
      absl::StrAppend(&out, first ? "\n  " : ",\n  ", JsonQuote(key), ": ");
      first = false;
      if (IsPlainUtf8(value)) {
        out += JsonQuote(value);
      } else {
        absl::StrAppend(&out, "{\"base64\": ",
                        JsonQuote(EncodeValue(value, "base64")), "}");
      }
    }
    out += first ? "}\n" : "\n}\n";
    return out;
  }
  if (format != "properties" && format != "yaml") {
    return absl::InvalidArgumentError("unknown format \"" + format +
                                      "\" (json, properties or yaml)");
  }
  for (const auto& [key, value] : configs) {
    if (!IsPlainUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the value of ", key, " is not UTF-8 text; use "
                       "--format=json (base64)"));
    }
    if (format == "properties") {
      absl::StrAppend(&out, PropertiesEscape(key, true), "=",
                      PropertiesEscape(value, false), "\n");
    } else {
      absl::StrAppend(&out, JsonQuote(key), ": ", JsonQuote(value), "\n");
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseConfigs(
    const std::string& text, const std::string& format) {
  std::map<std::string, std::string> out;
  if (format == "json") {
    KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object,
                          ParseJsonObject(text));
    for (const std::string& key : object->getNames()) {
      Poco::Dynamic::Var v = object->get(key);
      if (v.isString()) {
        out[key] = v.convert<std::string>();
        continue;
      }
      Poco::JSON::Object::Ptr wrapped = object->getObject(key);
      if (wrapped.isNull() || !wrapped->has("base64")) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", key, "\": expected a string or {\"base64\": ...}"));
      }
      KESS_ASSIGN_OR_RETURN(
          out[key],
          DecodeValue(wrapped->getValue<std::string>("base64"), "base64"));
    }
    return out;
  }
  if (format != "properties" && format != "yaml") {
    return absl::InvalidArgumentError("unknown format \"" + format +
                                      "\" (json, properties or yaml)");
  }
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string line = lines[n];
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = absl::StrCat("line ", n + 1, ": ");
    std::string key, value;
    if (format == "properties") {
      std::string trimmed(absl::StripLeadingAsciiWhitespace(line));
      if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == '!') continue;
      // A line ending in an odd number of backslashes continues.
      auto continues = [](const std::string& l) {
        size_t b = 0;
        while (b < l.size() && l[l.size() - 1 - b] == '\\') ++b;
        return b % 2 == 1;
      };
      while (continues(trimmed) && n + 1 < lines.size()) {
        trimmed.pop_back();
        absl::StrAppend(&trimmed, absl::StripLeadingAsciiWhitespace(lines[++n]));
        if (!trimmed.empty() && trimmed.back() == '\r') trimmed.pop_back();
      }
      absl::Status parsed = PropertiesLine(trimmed, &key, &value);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(where + std::string(parsed.message()));
      }
    } else {
      std::string trimmed(absl::StripTrailingAsciiWhitespace(line));
      if (absl::StripLeadingAsciiWhitespace(trimmed).empty() ||
          absl::StartsWith(absl::StripLeadingAsciiWhitespace(trimmed), "#") ||
          trimmed == "---") {
        continue;
      }
      if (trimmed[0] == ' ' || trimmed[0] == '\t' || trimmed[0] == '-') {
        return absl::InvalidArgumentError(
            where + "only a flat mapping is read: one 'key: value' per line, "
                    "no nesting, lists or multi-line values");
      }
      const size_t colon = YamlColon(trimmed);
      if (colon == std::string::npos) {
        return absl::InvalidArgumentError(where + "expected 'key: value'");
      }
      auto k = YamlScalar(trimmed.substr(0, colon));
      auto v = YamlScalar(trimmed.substr(colon + 1));
      if (!k.ok() || !v.ok()) {
        return absl::InvalidArgumentError(
            where + std::string((k.ok() ? v.status() : k.status()).message()));
      }
      if (*v == "|" || *v == ">") {
        return absl::InvalidArgumentError(
            where + "block scalars are not read; write the value quoted");
      }
      key = *std::move(k);
      value = *std::move(v);
    }
    if (key.empty()) return absl::InvalidArgumentError(where + "empty key");
    if (!out.emplace(key, value).second) {
      return absl::InvalidArgumentError(where + "key " + key + " repeated");
    }
  }
  return out;
}

int RunSnapshot(const Args& args, const Options& options, const Io& io,
                const Client& client) {
  if (args.size() != 2 || (args[0] != "save" && args[0] != "restore")) {
    return UsageError(io,
                 "usage: kessctl snapshot save FILE | snapshot restore FILE "
                 "[--min_revision=N]");
  }
  return args[0] == "save" ? SnapshotSave(options, io, client, args[1])
                           : SnapshotRestore(options, io, client, args[1]);
}

int RunConfigTransfer(const Args& args, const Options& options, const Io& io,
                      const Client& client) {
  const bool is_export = args[0] == "export";
  if ((is_export && args.size() != 2) || (!is_export && args.size() != 3)) {
    return UsageError(io, is_export ? "usage: kessctl config export <ns> "
                                 "[--format=json|properties|yaml] [--file=F]"
                               : "usage: kessctl config import <ns> FILE "
                                 "[--format=json|properties|yaml] [--dry_run]");
  }
  if (!options.format.empty() && options.format != "json" &&
      options.format != "properties" && options.format != "yaml") {
    return UsageError(io, "--format must be json, properties or yaml");
  }
  absl::Status valid = ValidateName(NameKind::kNamespace, args[1]);
  if (!valid.ok()) return Fail(io, args[0] + " " + args[1], valid);
  return is_export ? ConfigExport(options, io, client, args[1])
                   : ConfigImport(options, io, client, args[1], args[2]);
}

}  // namespace kessctl
}  // namespace kess
