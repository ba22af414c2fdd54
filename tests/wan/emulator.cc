#include "tests/wan/emulator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "common/steady_await.h"
#include "glog/logging.h"

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
  return emulator;
}

WanEmulator::~WanEmulator() {
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
  for (const Entry& e : entries_)
    out.emplace_back(e.spec.name, e.link->address());
  return out;
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
        ",\"listen\":", JsonQuote(e.link->address()),
        ",\"upstream\":", JsonQuote(e.spec.upstream),
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
  return absl::StrCat("{\"links\":[", absl::StrJoin(links, ","),
                      "],\"pairs\":[", absl::StrJoin(pairs, ","), "]}\n");
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
  std::string out;
  for (const Family* f : {&bytes, &dropped, &held, &segments, &lost, &delay,
                          &open, &accepted, &refused, &state}) {
    absl::StrAppend(&out, "# HELP ", f->name, " ", f->help, "\n# TYPE ",
                    f->name, " ", f->type, "\n", f->samples);
  }
  return out;
}

}  // namespace wan
}  // namespace kess
