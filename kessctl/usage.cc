// The --help text of kessctl (UsageText() in commands.h).
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

const char* UsageText() {
  return R"(kessctl: read and write kess configs, and show the state of mandators.

Usage:
  kessctl [flags] config put <ns> <key> <value>   value as an argument
  kessctl [flags] config put <ns> <key> -         value from stdin
  kessctl [flags] config put <ns> <key> --file=F  value from a file
  kessctl [flags] config get <ns> <key>           prints the value's bytes
  kessctl [flags] config delete <ns> <key>
  kessctl [flags] config list [<ns>]              namespaces, or keys of <ns>
  kessctl [flags] config history <ns> <key>       newest first
  kessctl [flags] config rollback <ns> <key> --to_revision=N
  kessctl [flags] config gray <ns> <key> <value>|-|--file=F
                  (--hosts=h1,h2 | --percentage=N)
                                                  the value to some hosts first
  kessctl [flags] config gray-status <ns> <key>   the active gray release
  kessctl [flags] config promote <ns> <key>       gray value to every host
  kessctl [flags] config abort <ns> <key>         every host back to the config
  kessctl [flags] config export <ns> [--format=F] [--file=OUT]
                                                  every key of <ns>: json,
                                                  properties or yaml
  kessctl [flags] config import <ns> FILE [--format=F] [--dry_run]
                                                  the diff, then the puts
  kessctl [flags] snapshot save FILE              the main DC's data at one
                                                  revision (backup)
  kessctl [flags] snapshot restore FILE [--min_revision=N]
                                                  into an empty ensemble,
                                                  above revision N
  kessctl [flags] status                          every mandator given, by DC
  kessctl [flags] acl list                        every read ACL
  kessctl [flags] acl get namespace|service <name>
  kessctl [flags] acl set namespace|service <name> <entry>...
                                                  who may read it: host-id
                                                  patterns ('web-*') and
                                                  identities (service/billing)
  kessctl [flags] acl delete namespace|service <name>
  kessctl [flags] token list                      API tokens (never a secret)
  kessctl [flags] token create <name> --role=viewer|publisher|admin
          [--namespaces=a,b*]                     prints the token ONCE
  kessctl [flags] token revoke <id>
  kessctl [flags] user list | user delete <name>
  kessctl [flags] user create <name> --role=ROLE [--namespaces=...]
          [--file=PASSWORD_FILE|-]                a UI login (password: the
                                                  file or stdin)
  kessctl [flags] user passwd <name> [--file=...|-]
  kessctl [flags] audit [--who=] [--what=] [--since=MS|Ns] [--refused]
          [--limit=N] [--cursor=C]                the audit log, newest first
  kessctl [flags] services list                   services, instances by state
  kessctl [flags] services get <svc>              its instances: DC, state,
                                                  weight, check status, output
  kessctl [flags] services watch <svc>            changes, from the local agent
  kessctl certs init --dir=DIR --cluster=NAME [--hosts=a,b] [--days=N]
                                                  a CA and the daemons' TLS
                                                  certificates (docs/tls.md)
  kessctl certs issue --dir=DIR --kind=KIND --name=NAME [--dc=DC]
                                                  one host's (service's,
                                                  mandator's...) certificate,
                                                  naming it (docs/security.md)
  kessctl [flags] identity issue <kind> <name> [--dc=DC] [--out=FILE]
                                                  a credential (secret shown
                                                  once; FILE: 0600)
  kessctl [flags] identity list                   every credential (no secret)
  kessctl [flags] identity revoke <kind> <name> [--dc=DC]
                                                  refused everywhere within
                                                  seconds (docs/security.md)
  kessctl secrets keygen <ns> [--keys_dir=DIR]    create the namespace's key
                                                  ring, or add a key to it
                                                  (0600; docs/security.md)
  kessctl secrets drop-key <ns> <id>              remove an old key
  kessctl [flags] secrets reencrypt <ns>          write every value back: the
                                                  leader seals it with the
                                                  newest key
  kessctl [flags] secrets show <ns> <key>         decrypt a value here with
                                                  the local ring

Flags (anywhere on the line; '--' ends them, e.g. for a value '-5'):
  --mandators=host:port,...  mandators to ask, in order; an unreachable one
                             is skipped (default: $KESS_MANDATORS);
                             https://host:port for HTTPS (the default of
                             mandators with TLS)
  --timeout_ms=N             per mandator: connect, send, receive (5000)
  --output=text|json         json: the API's answer as is, for scripts
  --token=T                  sent as 'Authorization: Bearer T' ($KESS_TOKEN)
  --ca=FILE                  CA bundle https:// mandators are verified
                             against ($KESS_CA, else /etc/kess/tls/ca.pem
                             when it exists); always verified
  --expected_revision=N      put, delete, rollback, gray: only if the key's
                             current revision is N (0: put only if it does
                             not exist)
  --content_type=T           put, gray: e.g. application/json
  --format=F                 put, gray: json, yaml, properties or text; sets
                             the content type and checks the value first
                             (also done for a --content_type naming one)
  --comment=C                put, gray, promote, abort: kept in the history
  --author=A                 put, rollback, gray, promote, abort
                             (default: $USER)
  --show_meta                get: revision, version, size, author, time on
                             stderr (stdout keeps only the value)
  --limit=N                  history: how many versions; audit: records (10)
  --to_revision=N            rollback: the revision whose value comes back
  --hosts=h1,h2              gray: these host ids (as the agents report them)
  --percentage=N             gray: N % (0..100) of all hosts, the same ones
                             in every DC; with --hosts: either selects
  --format=json|properties|yaml
                             export, import: the file's format (default:
                             from its extension, else json)
  --file=F                   export: write to F instead of stdout
  --dry_run, --dry-run       import: print the diff, write nothing
  --min_revision=N           snapshot restore: commit above revision N, the
                             highest revision any host may hold (e.g. the
                             highest kess_agent_revision Prometheus saw)
  --agent=host:port|unix:P   services watch: the local agent
                             (default: $KESS_AGENT, else 127.0.0.1:7310)
  --watch_changes=N          services watch: exit after N answers (0: never)
  --dir=DIR                  certs init: where to write (created, 0700)
  --cluster=NAME             certs init: the cluster's name (in the subjects)
  --hosts=a,b                certs init: host names and IPs the daemons'
                             certificates name besides localhost, 127.0.0.1
                             and ::1 (each also gets hosts/<host>.pem)
  --days=N                   certs init: validity (365)
  --keys_dir=DIR             secrets: the key rings (/etc/kess/keys)
  --force                    certs init/issue: overwrite existing files
  --kind=KIND --name=NAME    certs issue: the principal (host, service,
  --dc=DC                    mandator, distributor, operator; --dc for
                             mandators and distributors)

Names (<ns>, <key>): A-Z a-z 0-9 . _ -, starting with a letter or digit,
no '..', at most 128 bytes. Values: at most 16 MiB; bytes that are not UTF-8
are sent and received as base64 and printed raw by 'config get'.

Exit codes:
  0  ok
  1  usage error (bad command line; nothing was sent)
  2  not found
  3  conflict: compare-and-set lost (--expected_revision), the mandator
     does not take writes (slave DC), or a gray release is active (put,
     delete, rollback, gray) or not (promote, abort)
  4  invalid argument: a bad name or value (checked before sending, or 400/413)
  5  unavailable: no mandator reachable, or 503/504 (also a write sent with no
     answer: it may or may not have been applied)
  6  not authorized (401/403)
  7  other server error

Errors go to stderr as 'kessctl: <what failed>: <why>'.
)";
}

}  // namespace kessctl
}  // namespace kess
