// The config file of wan_emulator: which links between which datacenters,
// and the profile of the traffic from one datacenter to another.
//
//   # from  to   profile (link_profile.h)
//   pair dc1 dc2 delay=10ms,jitter=2ms
//   pair dc2 dc1 delay=12ms            # optional: without it dc2->dc1 =
//   dc1->dc2 # name    client_dc server_dc listen_port upstream link zk_dc2 dc1
//   dc2       0           127.0.0.1:2181
//
// One directive a line; '#' starts a comment; blank lines are ignored;
// fields are separated by spaces or tabs.
// - `pair <a> <b> <profile>`: the profile of traffic from a to b. A pair
//   given in one direction only applies to both. a == b is allowed (traffic
//   inside one DC). A direction given twice is an error.
// - `dc <name> <a.b.c.d/len>`: the DC's IPv4 subnet, for the transparent
//   mode (emulator.h): a connection is classified by its source and
//   original destination addresses. A DC may have several dc lines; the
//   subnets of different DCs must not overlap; host bits must be zero.
// - `link <name> <client_dc> <server_dc> <listen_port> <host:port>`: a
//   listener (port 0 = a free one) for clients in client_dc that reach the
//   server at host:port in server_dc. Its forward profile (client -> server)
//   is pair(client_dc, server_dc), its reverse profile pair(server_dc,
//   client_dc). A link between two different DCs needs a pair line for them
//   (a typo in a DC name must not make a link without delay); a link inside
//   one DC without a pair line has no emulation ("none").
// Names (DCs, links) use A-Z a-z 0-9 . _ -; link names are unique and
// "control" is reserved (the address file's control line). Every error
// names its line. "transparent" is reserved too (the address file's line
// of the transparent listener).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "tests/wan/link_profile.h"

namespace kess {
namespace wan {

struct LinkSpec {
  std::string name;
  std::string client_dc;
  std::string server_dc;
  int listen_port = 0;
  std::string upstream;  // host:port
};

struct DcSubnet {
  std::string dc;
  uint32_t network = 0;  // host byte order, host bits zero
  int prefix_length = 0;
  std::string text;  // as written, e.g. "10.77.1.0/24"

  bool Contains(uint32_t ip) const;  // ip in host byte order
};

// The DC of the subnet in `subnets` that contains `ip` (host byte order),
// or "".
std::string DcOf(const std::vector<DcSubnet>& subnets, uint32_t ip);

struct EmulatorConfig {
  // (from, to) -> profile, both directions of every pair line filled in.
  std::map<std::pair<std::string, std::string>, LinkProfile> pairs;
  std::vector<LinkSpec> links;    // in file order
  std::set<std::string> dcs;      // every DC named by a pair, link or dc line
  std::vector<DcSubnet> subnets;  // the dc lines, in file order

  // DcOf(subnets, ip)
  std::string DcOf(uint32_t ip) const { return wan::DcOf(subnets, ip); }

  // pairs[(from, to)], "none" for from == to without a pair line; NotFound
  // otherwise.
  absl::StatusOr<LinkProfile> Profile(const std::string& from,
                                      const std::string& to) const;
};

// Parses the text of a config file; InvalidArgument "line N: ..." on error.
absl::StatusOr<EmulatorConfig> ParseEmulatorConfig(absl::string_view text);
// Reads and parses `path`.
absl::StatusOr<EmulatorConfig> LoadEmulatorConfig(const std::string& path);

// OK if `name` is a usable DC or link name (1..64 of A-Z a-z 0-9 . _ -);
// InvalidArgument "<what> "<name>" ..." otherwise.
absl::Status ValidateWanName(absl::string_view what, absl::string_view name);

}  // namespace wan
}  // namespace kess
