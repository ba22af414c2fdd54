// kessctl's commands: parsing of the positional arguments, one HTTP call (or
// one per mandator for `status`) through Client, and the text or JSON output.
// The flags are parsed by kessctl_main.cc into Options, so tests can run
// every command in-process with their own streams.
//
// Thread-compatible: RunKessctl keeps no state between calls.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace kess {
namespace kessctl {

struct Options {
  std::vector<std::string> mandators;         // "host:port", tried in order
  absl::Duration timeout = absl::Seconds(5);  // per mandator
  std::string output = "text";  // "text" or "json" (the API's answer as is)
  std::string token;            // bearer token; not sent when empty

  // config put
  std::string file;                // read the value from this file (also gray)
  int64_t expected_revision = -1;  // put/delete/rollback/gray; -1 = no CAS
  std::string content_type;
  std::string comment;
  std::string author;
  // config get
  bool show_meta = false;  // revision, version, author, mtime on `err`
  // config history
  int limit = 10;
  // config rollback
  int64_t to_revision = 0;
  // config gray: the hosts (ids as agents report them) and/or a percentage
  // of all hosts (-1 = none given)
  std::vector<std::string> hosts;
  int percentage = -1;
  // services watch: the local agent ("host:port" or "unix:<path>") and how
  // many answers to print before exiting (0 = until interrupted)
  std::string agent = "127.0.0.1:7310";
  int watch_changes = 0;
  // snapshot restore: commit above this revision (0 = the snapshot's)
  int64_t min_revision = 0;
  // config export/import: "json", "properties", "yaml" ("" = from the
  // file's extension, else json); import: show the diff, write nothing.
  // config put/gray: the value's format, "json", "yaml", "properties" or
  // "text" (model/formats): sets the content type when none is given, and
  // the value is checked before it is sent.
  std::string format;
  bool dry_run = false;
  // certs init: where, the cluster's name, extra host names/IPs (`hosts`
  // above), validity, overwrite
  std::string certs_dir;
  // secrets: where the key rings of secret namespaces are (<dir>/<ns>.key).
  std::string keys_dir = "/etc/kess/keys";
  std::string cluster;
  int days = 365;
  bool force = false;
  // certs issue / identity issue|revoke: the principal (--kind, --name,
  // --dc; common/identity/principal.h).
  std::string principal_kind;
  std::string principal_name;
  std::string principal_dc;
  // identity issue: write the credential file here (0600) instead of
  // printing it (--out).
  std::string out_file;
  // token create / user create: the role and a publisher's namespace
  // patterns.
  std::string role;
  std::vector<std::string> namespaces;
  // audit: filters and the page to continue from (limit: --limit above).
  std::string who;
  std::string what;
  std::string since;
  bool refused = false;
  std::string cursor;
};

struct Io {
  std::istream* in;  // `config put ... -` reads the value from here
  std::ostream* out;
  std::ostream* err;  // error messages: "kessctl: <what>: <why>"
};

// Runs one command, e.g. {"config", "get", "payments", "db.timeout_ms"}.
// Returns the process exit code (ExitCode in client.h).
int RunKessctl(const std::vector<std::string>& args, const Options& options,
               const Io& io);

// The --help text: commands, flags, environment variables, exit codes.
const char* UsageText();

}  // namespace kessctl
}  // namespace kess
