// Moving kess data in and out: backups of the whole main DC and one
// namespace's configs as a file.
//
//   snapshot save FILE        GET /api/v1/admin/snapshot at the main DC's
//                             leader (found through /api/v1/status of the
//                             mandators given): every config with its
//                             history, gray releases, route tables and
//                             overrides at one revision, written to FILE
//                             (temp file + rename; "-" = stdout)
//   snapshot restore FILE     POST /api/v1/admin/restore at the main DC's
//       [--min_revision=N]    leader: only into an empty ensemble, at new
//                             revisions above max(the snapshot's, N)
//                             (docs/operations.md, "Backup and restore")
//   config export <ns>        every key of <ns> and its value, as JSON
//       [--format=F]          ({"<key>": "<value>", ...}, a value that is
//       [--file=OUT]          not UTF-8 as {"base64": "..."}), properties
//                             (key=value, Java escapes) or YAML (one
//                             "key": "value" line each); stdout or --file
//   config import <ns> FILE   the keys of FILE (format from --format or the
//       [--format=F]          extension: .json, .properties, .yaml/.yml)
//       [--dry_run]           against the namespace: the diff (+ added,
//                             ~ changed, = unchanged count; keys only in
//                             the namespace are kept), then, unless
//                             --dry_run, one put per added or changed key,
//                             each a compare-and-set on the revision the
//                             diff was made against
//
// The snapshot calls wait at least 10 minutes (a large tree); the others
// use --timeout_ms. Exit codes as every command (client.h).
//
// Thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "kessctl/client.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` starts after "snapshot". Returns the exit code.
int RunSnapshot(const std::vector<std::string>& args, const Options& options,
                const Io& io, const Client& client);

// `args` starts after "config"; args[0] is "export" or "import".
int RunConfigTransfer(const std::vector<std::string>& args,
                      const Options& options, const Io& io,
                      const Client& client);

// The file formats of export/import ("json", "properties", "yaml"): key ->
// value bytes. Exposed for tests.
absl::StatusOr<std::string> FormatConfigs(
    const std::map<std::string, std::string>& configs,
    const std::string& format);
absl::StatusOr<std::map<std::string, std::string>> ParseConfigs(
    const std::string& text, const std::string& format);

}  // namespace kessctl
}  // namespace kess
