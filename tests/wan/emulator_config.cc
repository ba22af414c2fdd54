#include "tests/wan/emulator_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kess {
namespace wan {
namespace {

absl::Status LineError(int line, const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ": ", status.message()));
}

absl::Status LineError(int line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", message));
}

// "a.b.c.d/len" with zero host bits.
absl::StatusOr<DcSubnet> ParseSubnet(const std::string& text) {
  const auto bad = [&text](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("subnet \"", text, "\" ", why,
                     " (expected a.b.c.d/len, e.g. the demo's "
                     "namespace subnet 10.77.1.0/24)"));
  };
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return bad("has no /len");
  DcSubnet subnet;
  subnet.text = text;
  if (!absl::SimpleAtoi(text.substr(slash + 1), &subnet.prefix_length) ||
      subnet.prefix_length < 0 || subnet.prefix_length > 32) {
    return bad("has a length that is not 0..32");
  }
  in_addr addr{};
  if (inet_pton(AF_INET, text.substr(0, slash).c_str(), &addr) != 1) {
    return bad("has no IPv4 address");
  }
  subnet.network = ntohl(addr.s_addr);
  const uint32_t mask = subnet.prefix_length == 0
                            ? 0
                            : ~uint32_t{0} << (32 - subnet.prefix_length);
  if ((subnet.network & ~mask) != 0) {
    in_addr network{};
    network.s_addr = htonl(subnet.network & mask);
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &network, ip, sizeof(ip));
    return bad(absl::StrCat("has host bits set (", ip, "/",
                            subnet.prefix_length, "?)"));
  }
  return subnet;
}

}  // namespace

bool DcSubnet::Contains(uint32_t ip) const {
  const uint32_t mask =
      prefix_length == 0 ? 0 : ~uint32_t{0} << (32 - prefix_length);
  return (ip & mask) == network;
}

std::string DcOf(const std::vector<DcSubnet>& subnets, uint32_t ip) {
  for (const DcSubnet& subnet : subnets) {
    if (subnet.Contains(ip)) return subnet.dc;
  }
  return "";
}

absl::Status ValidateWanName(absl::string_view what, absl::string_view name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", name, "\" must be 1 to 64 characters long"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", name, "\" has the character '",
                       std::string(1, c), "' (allowed: A-Z a-z 0-9 . _ -)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LinkProfile> EmulatorConfig::Profile(
    const std::string& from, const std::string& to) const {
  auto it = pairs.find({from, to});
  if (it != pairs.end()) return it->second;
  if (from == to) return LinkProfile();
  return absl::NotFoundError(
      absl::StrCat("no pair line gives the profile from ", from, " to ", to));
}

absl::StatusOr<EmulatorConfig> ParseEmulatorConfig(absl::string_view text) {
  EmulatorConfig config;
  std::map<std::pair<std::string, std::string>, LinkProfile> given;
  std::vector<std::pair<int, LinkSpec>> links;
  std::set<std::string> names;
  std::map<int, std::string> ports;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (f.empty()) continue;
    if (f[0] == "pair") {
      if (f.size() != 4) {
        return LineError(number, "expected `pair <from_dc> <to_dc> <profile>`");
      }
      for (int i : {1, 2}) {
        absl::Status ok = ValidateWanName("DC", f[i]);
        if (!ok.ok()) return LineError(number, ok);
      }
      absl::StatusOr<LinkProfile> profile = ParseLinkProfile(f[3]);
      if (!profile.ok()) return LineError(number, profile.status());
      if (!given.emplace(std::make_pair(f[1], f[2]), *profile).second) {
        return LineError(number, absl::StrCat("the profile from ", f[1], " to ",
                                              f[2], " is given twice"));
      }
      config.dcs.insert(f[1]);
      config.dcs.insert(f[2]);
    } else if (f[0] == "link") {
      if (f.size() != 6) {
        return LineError(number,
                         "expected `link <name> <client_dc> <server_dc> "
                         "<listen_port or 0> <upstream host:port>`");
      }
      LinkSpec spec;
      spec.name = f[1];
      spec.client_dc = f[2];
      spec.server_dc = f[3];
      spec.upstream = f[5];
      absl::Status ok = ValidateWanName("link name", spec.name);
      if (ok.ok()) ok = ValidateWanName("DC", spec.client_dc);
      if (ok.ok()) ok = ValidateWanName("DC", spec.server_dc);
      if (!ok.ok()) return LineError(number, ok);
      if (spec.name == "control" || spec.name == "transparent") {
        return LineError(number, absl::StrCat("the link name \"", spec.name,
                                              "\" is reserved"));
      }
      if (!names.insert(spec.name).second) {
        return LineError(number,
                         absl::StrCat("link \"", spec.name, "\" given twice"));
      }
      if (!absl::SimpleAtoi(f[4], &spec.listen_port) || spec.listen_port < 0 ||
          spec.listen_port > 65535) {
        return LineError(
            number, absl::StrCat("listen port \"", f[4], "\" is not 0..65535"));
      }
      if (spec.listen_port != 0 &&
          !ports.emplace(spec.listen_port, spec.name).second) {
        return LineError(number, absl::StrCat("listen port ", spec.listen_port,
                                              " is also link ",
                                              ports[spec.listen_port], "'s"));
      }
      const size_t colon = spec.upstream.rfind(':');
      int upstream_port = 0;
      if (colon == std::string::npos || colon == 0 ||
          !absl::SimpleAtoi(spec.upstream.substr(colon + 1), &upstream_port) ||
          upstream_port < 1 || upstream_port > 65535) {
        return LineError(number, absl::StrCat("upstream \"", spec.upstream,
                                              "\" is not host:port"));
      }
      config.dcs.insert(spec.client_dc);
      config.dcs.insert(spec.server_dc);
      links.emplace_back(number, std::move(spec));
    } else if (f[0] == "dc") {
      if (f.size() != 3) {
        return LineError(number, "expected `dc <name> <subnet a.b.c.d/len>`");
      }
      absl::Status ok = ValidateWanName("DC", f[1]);
      if (!ok.ok()) return LineError(number, ok);
      absl::StatusOr<DcSubnet> subnet = ParseSubnet(f[2]);
      if (!subnet.ok()) return LineError(number, subnet.status());
      subnet->dc = f[1];
      for (const DcSubnet& other : config.subnets) {
        // Two prefixes overlap when the shorter one contains the other.
        const bool overlap = other.prefix_length <= subnet->prefix_length
                                 ? other.Contains(subnet->network)
                                 : subnet->Contains(other.network);
        if (overlap) {
          return LineError(
              number, absl::StrCat("subnet ", subnet->text, " of ", subnet->dc,
                                   " overlaps ", other.text, " of ", other.dc));
        }
      }
      config.dcs.insert(subnet->dc);
      config.subnets.push_back(*std::move(subnet));
    } else {
      return LineError(number, absl::StrCat("unknown directive \"", f[0],
                                            "\" (expected pair, link or dc)"));
    }
  }
  config.pairs = given;
  for (const auto& [dcs, profile] : given) {
    config.pairs.emplace(std::make_pair(dcs.second, dcs.first), profile);
  }
  for (auto& [line, spec] : links) {
    for (const auto& [from, to] :
         {std::make_pair(spec.client_dc, spec.server_dc),
          std::make_pair(spec.server_dc, spec.client_dc)}) {
      absl::StatusOr<LinkProfile> p = config.Profile(from, to);
      if (!p.ok()) {
        return LineError(
            line, absl::StrCat("link ", spec.name, ": ", p.status().message()));
      }
    }
    config.links.push_back(std::move(spec));
  }
  return config;
}

absl::StatusOr<EmulatorConfig> LoadEmulatorConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<EmulatorConfig> config = ParseEmulatorConfig(text.str());
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace wan
}  // namespace kess
