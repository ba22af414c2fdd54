#include "tests/wan/emulator.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "common/steady_await.h"
#include "glog/logging.h"

// <linux/netfilter_ipv4.h>: the destination of a connection before NAT.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif

namespace kess {
namespace wan {
namespace {

void AddUnique(std::vector<std::string>* names, const std::string& name) {
  if (std::find(names->begin(), names->end(), name) == names->end()) {
    names->push_back(name);
  }
}

std::string DirectionStatsJson(const WanLink::DirectionStats& s) {
  return absl::StrCat("{\"bytes\":", s.bytes, ",\"bytes_held\":", s.bytes_held,
                      ",\"bytes_dropped\":", s.bytes_dropped,
                      ",\"segments\":", s.segments,
                      ",\"segments_lost\":", s.segments_lost, "}");
}

}  // namespace

absl::StatusOr<Ways> ParseWays(absl::string_view text) {
  if (text.empty() || text == "both") return Ways::kBoth;
  if (text == "a_to_b") return Ways::kAToB;
  if (text == "b_to_a") return Ways::kBToA;
  return absl::InvalidArgumentError(absl::StrCat(
      "direction \"", text, "\" is not one of both, a_to_b, b_to_a"));
}

absl::StatusOr<std::unique_ptr<WanEmulator>> WanEmulator::Start(
    const EmulatorConfig& config, const Options& options) {
  std::unique_ptr<WanEmulator> emulator(new WanEmulator());
  emulator->dcs_ = config.dcs;
  {
    absl::MutexLock lock(&emulator->mu_);
    emulator->pairs_ = config.pairs;
  }
  for (size_t i = 0; i < config.links.size(); ++i) {
    const LinkSpec& spec = config.links[i];
    WanLink::Options o;
    o.name = spec.name;
    o.listen_host = options.listen_host;
    o.listen_port = spec.listen_port;
    o.upstream = spec.upstream;
    KESS_ASSIGN_OR_RETURN(o.forward,
                          config.Profile(spec.client_dc, spec.server_dc));
    KESS_ASSIGN_OR_RETURN(o.reverse,
                          config.Profile(spec.server_dc, spec.client_dc));
    if (options.seed != 0) o.seed = options.seed + i;
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<WanLink> link,
                          WanLink::Start(std::move(o)));
    LOG(INFO) << "link " << spec.name << " (" << spec.client_dc << " -> "
              << spec.server_dc << ") listens on " << link->address() << " for "
              << spec.upstream << ", forward "
              << link->profile(Direction::kForward).ToString() << ", reverse "
              << link->profile(Direction::kReverse).ToString();
    emulator->entries_.push_back({spec, std::move(link)});
  }
  if (options.transparent_port >= 0) {
    KESS_RETURN_IF_ERROR(emulator->StartTransparent(config, options));
  } else if (!config.subnets.empty()) {
    LOG(WARNING) << "the config's dc lines are used only in transparent mode "
                    "(--transparent_port)";
  }
  return emulator;
}

absl::Status WanEmulator::StartTransparent(const EmulatorConfig& config,
                                           const Options& options) {
  if (config.subnets.empty()) {
    return absl::InvalidArgumentError(
        "the transparent mode needs the DCs' subnets: `dc <name> "
        "<a.b.c.d/len>` lines in the config");
  }
  if (options.transparent_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad transparent port ", options.transparent_port));
  }
  subnets_ = config.subnets;
  std::set<std::string> dcs;
  for (const DcSubnet& subnet : subnets_) dcs.insert(subnet.dc);
  // One virtual link per ordered pair with a pair line.
  uint64_t index = config.links.size();
  for (const std::string& from : dcs) {
    for (const std::string& to : dcs) {
      if (config.pairs.count({from, to}) == 0) {
        if (from < to) {
          LOG(WARNING) << "transparent mode: no pair line for " << from
                       << " <-> " << to
                       << ": connections between them will be refused";
        }
        continue;
      }
      LinkSpec spec;
      spec.name = absl::StrCat(from, "->", to);
      spec.client_dc = from;
      spec.server_dc = to;
      WanLink::Options o;
      o.name = spec.name;
      o.listen = false;
      o.forward = config.pairs.at({from, to});
      o.reverse = config.pairs.at({to, from});
      if (options.seed != 0) o.seed = options.seed + index;
      ++index;
      KESS_ASSIGN_OR_RETURN(std::unique_ptr<WanLink> link,
                            WanLink::Start(std::move(o)));
      LOG(INFO) << "transparent link " << spec.name << ": forward "
                << link->profile(Direction::kForward).ToString() << ", reverse "
                << link->profile(Direction::kReverse).ToString();
      transparent_links_[{from, to}] = link.get();
      entries_.push_back({spec, std::move(link), /*transparent=*/true});
    }
  }
  in_addr listen_ip{};
  if (inet_pton(AF_INET, options.listen_host.c_str(), &listen_ip) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("transparent mode: listen host \"", options.listen_host,
                     "\" is not an IPv4 address"));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "transparent mode: socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr = listen_ip;
  addr.sin_port = htons(static_cast<uint16_t>(options.transparent_port));
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 512) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoToStatus(
        err, absl::StrCat("transparent mode: listen on ", options.listen_host,
                          ":", options.transparent_port));
  }
  transparent_fd_ = fd;
  transparent_address_ =
      absl::StrCat(options.listen_host, ":", ntohs(addr.sin_port));
  LOG(INFO) << "transparent mode: listening on " << transparent_address_
            << " for " << transparent_links_.size() << " DC pairs";
  transparent_acceptor_ = std::thread([this] { TransparentLoop(); });
  return absl::OkStatus();
}

void WanEmulator::TransparentLoop() {
  while (!transparent_stopping_) {
    // Bounded: the destructor sets the flag and shuts the socket down.
    pollfd p{transparent_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    const int client =
        accept4(transparent_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                SOCK_CLOEXEC);
    if (client >= 0) {
      RouteTransparent(client, peer);
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
               errno == ENOMEM) {
      PLOG(WARNING) << "transparent mode: accept";
      absl::SleepFor(absl::Milliseconds(100));  // do not spin
    }
  }
}

void WanEmulator::RouteTransparent(int client, const sockaddr_in& peer) {
  sockaddr_in dst{};
  socklen_t len = sizeof(dst);
  sockaddr_in local{};
  socklen_t local_len = sizeof(local);
  const bool redirected =
      getsockopt(client, SOL_IP, SO_ORIGINAL_DST, &dst, &len) == 0 &&
      getsockname(client, reinterpret_cast<sockaddr*>(&local), &local_len) ==
          0 &&
      (dst.sin_addr.s_addr != local.sin_addr.s_addr ||
       dst.sin_port != local.sin_port);
  const std::string from = Ipv4Text(peer);
  if (!redirected) {
    RefuseTransparent(
        client, "direct",
        absl::StrCat("a connection from ", from,
                     " was made to the transparent port itself, not "
                     "redirected to it by the router's nft rule"));
    return;
  }
  const std::string to = Ipv4Text(dst);
  const std::string src_dc = DcOf(subnets_, ntohl(peer.sin_addr.s_addr));
  const std::string dst_dc = DcOf(subnets_, ntohl(dst.sin_addr.s_addr));
  if (src_dc.empty() || dst_dc.empty()) {
    RefuseTransparent(
        client, absl::StrCat("unknown ", src_dc, " ", dst_dc),
        absl::StrCat("a connection from ", from, " to ", to, ": ",
                     src_dc.empty() ? from : to,
                     " is in no DC's subnet (the config's dc lines)"));
    return;
  }
  auto it = transparent_links_.find({src_dc, dst_dc});
  if (it == transparent_links_.end()) {
    RefuseTransparent(
        client, absl::StrCat("pair ", src_dc, " ", dst_dc),
        absl::StrCat("a connection from ", from, " (", src_dc, ") to ", to,
                     " (", dst_dc, "): no pair line gives the profile from ",
                     src_dc, " to ", dst_dc));
    return;
  }
  it->second->ServeAccepted(client, dst);
}

void WanEmulator::RefuseTransparent(int client, const std::string& key,
                                    const std::string& message) {
  // Logged and counted before the close: whoever sees the close sees both.
  transparent_refused_.fetch_add(1);
  {
    absl::MutexLock lock(&refused_mu_);
    if (refusals_logged_.insert(key).second) {
      LOG(ERROR) << "transparent mode: " << message
                 << "; closed (such connections are counted in "
                    "kess_wan_transparent_refused_total, logged once)";
    }
  }
  close(client);
}

WanEmulator::~WanEmulator() {
  if (transparent_acceptor_.joinable()) {
    transparent_stopping_ = true;
    shutdown(transparent_fd_, SHUT_RDWR);
    transparent_acceptor_.join();
  }
  if (transparent_fd_ >= 0) close(transparent_fd_);
  std::vector<std::unique_ptr<FlapRun>> flaps;
  {
    absl::MutexLock lock(&flap_mu_);
    for (auto& run : flaps_) run->cancelled = true;
    flaps.swap(flaps_);
  }
  for (auto& run : flaps) run->thread.join();
  entries_.clear();  // each link closes its connections and joins
}

std::vector<std::pair<std::string, std::string>> WanEmulator::Addresses()
    const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Entry& e : entries_) {
    if (!e.transparent) out.emplace_back(e.spec.name, e.link->address());
  }
  return out;
}

std::string WanEmulator::TransparentAddress() const {
  return transparent_address_;
}

WanLink* WanEmulator::link(const std::string& name) const {
  for (const Entry& e : entries_) {
    if (e.spec.name == name) return e.link.get();
  }
  return nullptr;
}

absl::Status WanEmulator::CheckDc(const std::string& dc) const {
  if (dc.empty()) return absl::InvalidArgumentError("a DC name is missing");
  if (dcs_.count(dc) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown DC \"", dc, "\" (known: ", absl::StrJoin(dcs_, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WanEmulator::Entry*>> WanEmulator::Select(
    const std::string& a, const std::string& b, Ways ways) const {
  KESS_RETURN_IF_ERROR(CheckDc(a));
  KESS_RETURN_IF_ERROR(CheckDc(b));
  std::vector<Entry*> out;
  for (const Entry& e : entries_) {
    const bool a_to_b = e.spec.client_dc == a && e.spec.server_dc == b;
    const bool b_to_a = e.spec.client_dc == b && e.spec.server_dc == a;
    if ((a_to_b && ways != Ways::kBToA) || (b_to_a && ways != Ways::kAToB)) {
      out.push_back(const_cast<Entry*>(&e));
    }
  }
  if (out.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no link has its client in ", ways == Ways::kBToA ? b : a,
                     " and its server in ", ways == Ways::kBToA ? a : b,
                     ways == Ways::kBoth ? " or the other way round" : ""));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> WanEmulator::SetPairProfile(
    const std::string& from, const std::string& to,
    const LinkProfile& profile) {
  KESS_RETURN_IF_ERROR(CheckDc(from));
  KESS_RETURN_IF_ERROR(CheckDc(to));
  KESS_RETURN_IF_ERROR(ValidateLinkProfile(profile));
  absl::MutexLock lock(&mu_);
  pairs_[{from, to}] = profile;
  std::vector<std::string> changed;
  for (Entry& e : entries_) {
    if (e.spec.client_dc == from && e.spec.server_dc == to) {
      KESS_RETURN_IF_ERROR(e.link->SetProfile(Direction::kForward, profile));
      AddUnique(&changed, e.spec.name);
    }
    if (e.spec.client_dc == to && e.spec.server_dc == from) {
      KESS_RETURN_IF_ERROR(e.link->SetProfile(Direction::kReverse, profile));
      AddUnique(&changed, e.spec.name);
    }
  }
  LOG(INFO) << "profile " << from << " -> " << to << ": " << profile.ToString()
            << " (links: " << absl::StrJoin(changed, ", ") << ")";
  return changed;
}

absl::StatusOr<std::vector<std::string>> WanEmulator::SetState(
    const std::string& a, const std::string& b, Ways ways, LinkState state) {
  absl::MutexLock lock(&mu_);
  KESS_ASSIGN_OR_RETURN(std::vector<Entry*> links, Select(a, b, ways));
  CancelFlaps(links);
  std::vector<std::string> changed;
  for (Entry* e : links) {
    e->link->SetState(state);
    changed.push_back(e->spec.name);
  }
  return changed;
}

absl::StatusOr<std::vector<std::string>> WanEmulator::Flap(
    const std::string& a, const std::string& b, Ways ways,
    absl::Duration period, int count) {
  if (period < absl::Milliseconds(10) || period > absl::Hours(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("flap period ", absl::FormatDuration(period),
                     " is not between 10ms and 1h"));
  }
  if (count < 2 || count > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flap count ", count,
        " is not between 2 and 100000 (toggles; a flap ends open)"));
  }
  absl::MutexLock lock(&mu_);
  KESS_ASSIGN_OR_RETURN(std::vector<Entry*> selected, Select(a, b, ways));
  CancelFlaps(selected);
  auto run = std::make_unique<FlapRun>();
  std::vector<WanLink*> links;
  std::vector<std::string> names;
  for (Entry* e : selected) {
    run->links.insert(e->spec.name);
    links.push_back(e->link.get());
    names.push_back(e->spec.name);
  }
  const int toggles = count - count % 2;
  LOG(INFO) << "flap " << absl::StrJoin(names, ", ") << ": " << toggles
            << " toggles every " << absl::FormatDuration(period);
  FlapRun* raw = run.get();
  absl::MutexLock flap_lock(&flap_mu_);
  flaps_.push_back(std::move(run));
  raw->thread = std::thread([this, raw, links, period, toggles] {
    RunFlap(raw, links, period, toggles);
  });
  return names;
}

void WanEmulator::RunFlap(FlapRun* run, std::vector<WanLink*> links,
                          absl::Duration period, int toggles) {
  absl::MutexLock lock(&flap_mu_);
  for (int i = 0; i < toggles && !run->cancelled; ++i) {
    if (i > 0 && AwaitWithSteadyTimeout(
                     &flap_mu_, absl::Condition(&run->cancelled), period)) {
      break;
    }
    // Under flap_mu_: once CancelFlaps has returned, no toggle follows.
    for (WanLink* link : links) {
      link->SetState(i % 2 == 0 ? LinkState::kCut : LinkState::kOpen);
    }
  }
  run->finished = true;
}

void WanEmulator::CancelFlaps(const std::vector<Entry*>& links) {
  std::vector<std::unique_ptr<FlapRun>> done;
  {
    absl::MutexLock lock(&flap_mu_);
    for (auto& run : flaps_) {
      for (const Entry* e : links) {
        if (run->links.count(e->spec.name) > 0) run->cancelled = true;
      }
    }
    for (auto it = flaps_.begin(); it != flaps_.end();) {
      if ((*it)->finished) {
        done.push_back(std::move(*it));
        it = flaps_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& run : done) run->thread.join();
}

bool WanEmulator::Flapping(const std::string& name) const {
  absl::MutexLock lock(&flap_mu_);
  for (const auto& run : flaps_) {
    if (!run->finished && !run->cancelled && run->links.count(name) > 0) {
      return true;
    }
  }
  return false;
}

std::string WanEmulator::LinksJson() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> links;
  for (const Entry& e : entries_) {
    const WanLink::Stats s = e.link->stats();
    links.push_back(absl::StrCat(
        "{\"name\":", JsonQuote(e.spec.name),
        ",\"client_dc\":", JsonQuote(e.spec.client_dc),
        ",\"server_dc\":", JsonQuote(e.spec.server_dc),
        ",\"transparent\":", e.transparent ? "true" : "false", ",\"listen\":",
        JsonQuote(e.transparent ? transparent_address_ : e.link->address()),
        ",\"upstream\":",
        JsonQuote(e.transparent ? "original destination" : e.spec.upstream),
        ",\"state\":", JsonQuote(LinkStateName(e.link->state())),
        ",\"flapping\":", Flapping(e.spec.name) ? "true" : "false",
        ",\"forward\":",
        JsonQuote(e.link->profile(Direction::kForward).ToString()),
        ",\"reverse\":",
        JsonQuote(e.link->profile(Direction::kReverse).ToString()),
        ",\"connections_open\":", s.connections_open,
        ",\"connections_accepted\":", s.connections_accepted,
        ",\"connections_refused\":", s.connections_refused,
        ",\"forward_stats\":", DirectionStatsJson(s.forward),
        ",\"reverse_stats\":", DirectionStatsJson(s.reverse), "}"));
  }
  std::vector<std::string> pairs;
  for (const auto& [dcs, profile] : pairs_) {
    pairs.push_back(absl::StrCat(
        "{\"from\":", JsonQuote(dcs.first), ",\"to\":", JsonQuote(dcs.second),
        ",\"profile\":", JsonQuote(profile.ToString()), "}"));
  }
  std::string transparent = "null";
  if (transparent_fd_ >= 0) {
    std::vector<std::string> subnets;
    for (const DcSubnet& subnet : subnets_) {
      subnets.push_back(absl::StrCat("{\"dc\":", JsonQuote(subnet.dc),
                                     ",\"subnet\":", JsonQuote(subnet.text),
                                     "}"));
    }
    transparent =
        absl::StrCat("{\"listen\":", JsonQuote(transparent_address_),
                     ",\"refused\":", transparent_refused_.load(),
                     ",\"subnets\":[", absl::StrJoin(subnets, ","), "]}");
  }
  return absl::StrCat("{\"links\":[", absl::StrJoin(links, ","),
                      "],\"pairs\":[", absl::StrJoin(pairs, ","),
                      "],\"transparent\":", transparent, "}\n");
}

std::string WanEmulator::MetricsText() const {
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    std::string samples;
  };
  Family bytes{"kess_wan_bytes_total", "counter",
               "Bytes delivered through an emulated link, by direction "
               "(forward: client to server)."};
  Family dropped{"kess_wan_bytes_dropped_total", "counter",
                 "Bytes discarded by a cut, a reset connection or an "
                 "unreachable upstream (a blackhole holds bytes, it does "
                 "not discard them)."};
  Family held{"kess_wan_bytes_held", "gauge",
              "Bytes read by a link and not yet delivered."};
  Family segments{"kess_wan_segments_total", "counter",
                  "Segments (at most 1448 bytes) scheduled by a link."};
  Family lost{"kess_wan_segments_lost_total", "counter",
              "Segments delayed by an emulated retransmission."};
  Family delay{"kess_wan_delay_seconds", "gauge",
               "One-way delay of a link's direction."};
  Family open{"kess_wan_connections", "gauge", "Open connections of a link."};
  Family accepted{"kess_wan_connections_accepted_total", "counter",
                  "Connections accepted by a link, refused ones included."};
  Family refused{"kess_wan_connections_refused_total", "counter",
                 "Connections closed at once because the link was cut."};
  Family state{"kess_wan_link_state", "gauge",
               "1 for the state a link is in (open, cut, blackhole)."};
  for (const Entry& e : entries_) {
    const std::string& link = e.spec.name;
    const WanLink::Stats s = e.link->stats();
    for (Direction d : {Direction::kForward, Direction::kReverse}) {
      const WanLink::DirectionStats& ds =
          d == Direction::kForward ? s.forward : s.reverse;
      const std::string labels = absl::StrCat(
          "{link=\"", link, "\",direction=\"", DirectionName(d), "\"} ");
      absl::StrAppend(&bytes.samples, bytes.name, labels, ds.bytes, "\n");
      absl::StrAppend(&dropped.samples, dropped.name, labels, ds.bytes_dropped,
                      "\n");
      absl::StrAppend(&held.samples, held.name, labels, ds.bytes_held, "\n");
      absl::StrAppend(&segments.samples, segments.name, labels, ds.segments,
                      "\n");
      absl::StrAppend(&lost.samples, lost.name, labels, ds.segments_lost, "\n");
      absl::StrAppend(&delay.samples, delay.name, labels,
                      absl::StrFormat("%g", absl::ToDoubleSeconds(
                                                e.link->profile(d).delay)),
                      "\n");
    }
    const std::string labels = absl::StrCat("{link=\"", link, "\"} ");
    absl::StrAppend(&open.samples, open.name, labels, s.connections_open, "\n");
    absl::StrAppend(&accepted.samples, accepted.name, labels,
                    s.connections_accepted, "\n");
    absl::StrAppend(&refused.samples, refused.name, labels,
                    s.connections_refused, "\n");
    const LinkState now = e.link->state();
    for (LinkState st :
         {LinkState::kOpen, LinkState::kCut, LinkState::kBlackhole}) {
      absl::StrAppend(&state.samples, state.name, "{link=\"", link,
                      "\",state=\"", LinkStateName(st), "\"} ",
                      st == now ? 1 : 0, "\n");
    }
  }
  Family unrouted{"kess_wan_transparent_refused_total", "counter",
                  "Connections the transparent mode closed at once: source "
                  "or destination in no DC's subnet, no pair line for their "
                  "DCs, or not redirected."};
  std::vector<const Family*> families = {&bytes,   &dropped, &held, &segments,
                                         &lost,    &delay,   &open, &accepted,
                                         &refused, &state};
  if (transparent_fd_ >= 0) {
    absl::StrAppend(&unrouted.samples, unrouted.name, " ",
                    transparent_refused_.load(), "\n");
    families.push_back(&unrouted);
  }
  std::string out;
  for (const Family* f : families) {
    absl::StrAppend(&out, "# HELP ", f->name, " ", f->help, "\n# TYPE ",
                    f->name, " ", f->type, "\n", f->samples);
  }
  return out;
}

}  // namespace wan
}  // namespace kess
