// kessctl: the command-line client of the mandator HTTP API. See README.md
// or `kessctl --help`.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "kessctl/commands.h"

DEFINE_string(mandators, "",
              "Comma-separated host:port of mandators, tried in order "
              "(default: $KESS_MANDATORS).");
DEFINE_int32(timeout_ms, 5000, "Per-mandator connect/send/receive timeout.");
DEFINE_string(output, "text", "text, or json (the API's answer as is).");
DEFINE_string(token, "", "Bearer token (default: $KESS_TOKEN).");
DEFINE_string(ca, "",
              "CA bundle (PEM) that https:// mandators' certificates must "
              "verify against (default: $KESS_CA, else /etc/kess/tls/ca.pem "
              "when it exists). Servers are always verified.");
DEFINE_string(file, "", "config put/gray: read the value from this file.");
DEFINE_int64(expected_revision, -1,
             "put/delete/rollback/gray: compare-and-set on this revision "
             "(0 = must not exist; -1 = no check).");
DEFINE_string(content_type, "", "config put/gray: the value's content type.");
DEFINE_string(comment, "",
              "config put/gray/promote/abort: a comment kept in the history.");
DEFINE_string(author, "", "config put/rollback: author (default: $USER).");
DEFINE_bool(show_meta, false,
            "config get: print revision, version, author, time on stderr.");
DEFINE_int32(limit, 10, "config history: how many versions.");
DEFINE_int64(to_revision, 0, "config rollback: the revision to restore.");
DEFINE_string(hosts, "", "config gray: comma-separated host ids.");
DEFINE_int32(percentage, -1,
             "config gray: this percentage (0..100) of all hosts.");

DEFINE_string(agent, "",
              "services watch: the local agent, host:port or unix:<path> "
              "(default: $KESS_AGENT, else 127.0.0.1:7310).");
DEFINE_int32(watch_changes, 0,
             "services watch: exit after this many answers (0: until "
             "interrupted).");

DEFINE_int64(min_revision, 0,
             "snapshot restore: commit above this revision (at least the "
             "highest revision any host holds; 0 = the snapshot's).");
DEFINE_string(format, "",
              "config export/import: json, properties or yaml (default: "
              "from the file's extension, else json). config put/gray: the "
              "value's format, json, yaml, properties or text: sets the "
              "content type and checks the value before sending it.");
DEFINE_bool(dry_run, false,
            "config import: print the diff, write nothing (also --dry-run).");

DEFINE_string(dir, "", "certs init: the directory to write.");
DEFINE_string(keys_dir, "/etc/kess/keys",
              "secrets: the key rings of secret namespaces (<dir>/<ns>.key).");
DEFINE_string(cluster, "", "certs init: the cluster's name.");
DEFINE_int32(days, 365, "certs init: days the certificates are valid.");
DEFINE_bool(force, false, "certs init: overwrite existing files.");
DEFINE_string(kind, "",
              "certs issue: the principal's kind (host, service, mandator, "
              "distributor, operator).");
DEFINE_string(name, "",
              "certs issue: the principal's name (host id, service, member "
              "id).");
DEFINE_string(dc, "",
              "certs issue, identity: the datacenter (mandators, "
              "distributors).");
DEFINE_string(out, "",
              "identity issue: write the credential file here (0600).");
DEFINE_string(role, "",
              "token create / user create: viewer, publisher or admin.");
DEFINE_string(namespaces, "",
              "token create / user create: a publisher's namespace patterns, "
              "comma-separated ('payments,team-*').");
DEFINE_string(who, "", "audit: records whose principal contains this.");
DEFINE_string(what, "",
              "audit: records whose path or action contains this.");
DEFINE_string(since, "",
              "audit: records since this unix time in ms, or this many "
              "seconds ago with an s suffix (3600s).");
DEFINE_bool(refused, false, "audit: only refused attempts.");
DEFINE_string(cursor, "", "audit: continue after a previous page.");

namespace {

// The CA bundle `kessctl certs init` writes, where deploy/ installs it.
constexpr char kDefaultCa[] = "/etc/kess/tls/ca.pem";

std::string FlagOrEnv(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  const char* value = std::getenv(env);
  return value == nullptr ? "" : value;
}

}  // namespace

int main(int argc, char** argv) {
  // Our own help (with the exit codes, exit 0); gflags' lists every flag of
  // every library and exits 1. --helpfull still gives that list.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "-h" || arg == "-help" || arg == "--help") {
      std::cout << kess::kessctl::UsageText();
      return 0;
    }
  }
  // --dry-run is --dry_run (gflags knows only the underscore).
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "--dry-run") argv[i] = const_cast<char*>("--dry_run");
  }
  // gflags would move "--" and what follows in front of the other positional
  // arguments; keep them out of its reach and append them after.
  int flag_argc = 1;
  while (flag_argc < argc && std::string(argv[flag_argc]) != "--") ++flag_argc;
  std::vector<std::string> after_dashes(argv + std::min(flag_argc + 1, argc),
                                        argv + argc);
  kess::InitProcess(&flag_argc, &argv, kess::kessctl::UsageText());

  kess::kessctl::Options options;
  options.mandators =
      absl::StrSplit(FlagOrEnv(FLAGS_mandators, "KESS_MANDATORS"), ',',
                     absl::SkipWhitespace());
  options.timeout = absl::Milliseconds(FLAGS_timeout_ms);
  options.output = FLAGS_output;
  options.token = FlagOrEnv(FLAGS_token, "KESS_TOKEN");
  std::string ca = FlagOrEnv(FLAGS_ca, "KESS_CA");
  if (ca.empty() && access(kDefaultCa, R_OK) == 0) ca = kDefaultCa;
  kess::SetDefaultHttpsCaFile(ca);
  options.file = FLAGS_file;
  options.expected_revision = FLAGS_expected_revision;
  options.content_type = FLAGS_content_type;
  options.comment = FLAGS_comment;
  options.author = FlagOrEnv(FLAGS_author, "USER");
  options.show_meta = FLAGS_show_meta;
  options.limit = FLAGS_limit;
  options.to_revision = FLAGS_to_revision;
  options.hosts = absl::StrSplit(FLAGS_hosts, ',', absl::SkipWhitespace());
  options.percentage = FLAGS_percentage;
  std::string agent = FlagOrEnv(FLAGS_agent, "KESS_AGENT");
  if (!agent.empty()) options.agent = agent;
  options.watch_changes = FLAGS_watch_changes;
  options.certs_dir = FLAGS_dir;
  options.keys_dir = FLAGS_keys_dir;
  options.cluster = FLAGS_cluster;
  options.days = FLAGS_days;
  options.force = FLAGS_force;
  options.principal_kind = FLAGS_kind;
  options.principal_name = FLAGS_name;
  options.principal_dc = FLAGS_dc;
  options.out_file = FLAGS_out;
  options.min_revision = FLAGS_min_revision;
  options.format = FLAGS_format;
  options.dry_run = FLAGS_dry_run;
  options.role = FLAGS_role;
  options.namespaces =
      absl::StrSplit(FLAGS_namespaces, ',', absl::SkipWhitespace());
  options.who = FLAGS_who;
  options.what = FLAGS_what;
  options.since = FLAGS_since;
  options.refused = FLAGS_refused;
  options.cursor = FLAGS_cursor;

  std::vector<std::string> args(argv + 1, argv + flag_argc);
  args.insert(args.end(), after_dashes.begin(), after_dashes.end());
  kess::kessctl::Io io{&std::cin, &std::cout, &std::cerr};
  int code = kess::kessctl::RunKessctl(args, options, io);
  std::cout.flush();
  return code;
}
