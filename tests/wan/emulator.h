// WanEmulator: many WanLinks in one process, one per `link` line of an
// EmulatorConfig, and the operations of wan_emulator's control API on
// them, addressed by datacenter pairs rather than by link.
//
//   auto config = LoadEmulatorConfig("wan.conf");
//   auto emulator = WanEmulator::Start(*config, {});
//   (*emulator)->SetState("dc1", "dc2", Ways::kBoth, LinkState::kCut);
//
// A link "goes from a to b" when its client_dc is a and its server_dc is b.
// - SetPairProfile(from, to, p): the profile of traffic from `from` to
//   `to` becomes p, in the pair table and on every link that carries such
//   traffic: the forward direction of links from->to, the reverse direction
//   of links to->from. Bytes already held keep their timing (wan_link.h).
// - SetState(a, b, ways, s): the links a->b (Ways::kAToB), b->a (kBToA) or
//   both (kBoth) get state s. It cancels a flap running on any of them.
// - Flap(a, b, ways, period, count): on a thread, toggles the same links
//   cut, open, cut, ... every `period`, starting at once, `count` toggles
//   rounded down to an even number so that it ends open. A later SetState
//   or Flap touching one of its links cancels it where it stands.
// Unknown DCs and bad arguments are InvalidArgument; a DC pair without a
// link (SetState, Flap) NotFound.
//
// Transparent mode (Options::transparent_port >= 0): the emulator is the
// router between DCs in their own network namespaces (wan_net.sh), where
// an nft rule redirects every TCP connection from one DC to another to one
// listener, on listen_host:transparent_port. For each connection accepted
// there: the source is the peer's address, the destination the original
// one (SO_ORIGINAL_DST); each is classified by the config's `dc` subnets.
// The connection is then served by the virtual link "<src>-><dst>" (a
// WanLink without a listener, one per ordered DC pair with a pair line,
// client_dc src, server_dc dst: forward pair(src, dst), reverse pair(dst,
// src)), which connects to the original destination itself: exactly the
// emulation of a `link`, and SetPairProfile, SetState and Flap by DC names
// apply to these links like to any (a cut closes their connections, a
// blackhole holds them). They are in LinksJson and MetricsText, not in
// Addresses(). A connection whose source or destination is in no DC's
// subnet, between two DCs without a pair line, or made straight to the
// port (not redirected) is closed at once, counted, and logged as an
// error once per kind of mistake and DC pair.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "tests/wan/emulator_config.h"
#include "tests/wan/link_profile.h"
#include "tests/wan/wan_link.h"

namespace kess {
namespace wan {

enum class Ways { kBoth, kAToB, kBToA };
// "both" / "" -> kBoth, "a_to_b", "b_to_a"; InvalidArgument otherwise.
absl::StatusOr<Ways> ParseWays(absl::string_view text);

class WanEmulator {
 public:
  struct Options {
    std::string listen_host = "127.0.0.1";  // of every link
    uint64_t seed = 0;                      // 0 = random; else per link
    // -1: off; else the transparent mode's port (0: a free one). Needs the
    // config to have dc lines.
    int transparent_port = -1;
  };

  // Starts every link of `config`; the first that fails to start fails it
  // all (the error names the link).
  static absl::StatusOr<std::unique_ptr<WanEmulator>> Start(
      const EmulatorConfig& config, const Options& options);
  // Stops the flaps, then every link.
  ~WanEmulator();

  // (link name, "host:port" it listens on), in config order; not the
  // transparent mode's virtual links.
  std::vector<std::pair<std::string, std::string>> Addresses() const;
  // "listen_host:port" of the transparent listener; "" if off.
  std::string TransparentAddress() const;
  // The link called `name`, or null. Owned by the emulator.
  WanLink* link(const std::string& name) const;

  // Each returns the names of the links it changed.
  absl::StatusOr<std::vector<std::string>> SetPairProfile(
      const std::string& from, const std::string& to,
      const LinkProfile& profile);
  absl::StatusOr<std::vector<std::string>> SetState(const std::string& a,
                                                    const std::string& b,
                                                    Ways ways, LinkState state);
  // REQUIRES-ish (else InvalidArgument): period in [10 ms, 1 h], count in
  // [2, 100000].
  absl::StatusOr<std::vector<std::string>> Flap(const std::string& a,
                                                const std::string& b, Ways ways,
                                                absl::Duration period,
                                                int count);
  // True while a flap runs on link `name`.
  bool Flapping(const std::string& name) const;

  // GET /links: {"links": [...], "pairs": [...]}; see README.md.
  std::string LinksJson() const;
  // The kess_wan_* metrics in the Prometheus text format.
  std::string MetricsText() const;

 private:
  struct Entry {
    LinkSpec spec;
    std::unique_ptr<WanLink> link;
    bool transparent = false;  // a virtual link of the transparent mode
  };
  struct FlapRun {
    std::set<std::string> links;
    bool cancelled = false;  // guarded by WanEmulator::flap_mu_
    bool finished = false;   // guarded by WanEmulator::flap_mu_
    std::thread thread;
  };

  WanEmulator() = default;
  // Creates the virtual links and the listener of the transparent mode.
  absl::Status StartTransparent(const EmulatorConfig& config,
                                const Options& options);
  void TransparentLoop();
  // Routes a connection accepted by the transparent listener to its
  // virtual link, or refuses it.
  void RouteTransparent(int client, const sockaddr_in& peer);
  // Closes `client`; logs `message` as an error the first time `key` is
  // seen.
  void RefuseTransparent(int client, const std::string& key,
                         const std::string& message)
      ABSL_LOCKS_EXCLUDED(refused_mu_);
  absl::Status CheckDc(const std::string& dc) const;
  // The links a->b / b->a per `ways`; NotFound if none.
  absl::StatusOr<std::vector<Entry*>> Select(const std::string& a,
                                             const std::string& b,
                                             Ways ways) const;
  // Cancels every flap touching one of `links`; joins finished flaps.
  void CancelFlaps(const std::vector<Entry*>& links)
      ABSL_LOCKS_EXCLUDED(flap_mu_);
  void RunFlap(FlapRun* run, std::vector<WanLink*> links, absl::Duration period,
               int toggles) ABSL_LOCKS_EXCLUDED(flap_mu_);

  std::vector<Entry> entries_;     // fixed after Start()
  std::set<std::string> dcs_;      // fixed after Start()
  std::vector<DcSubnet> subnets_;  // fixed after Start()

  // The transparent mode; fixed after Start() but for the atomics.
  int transparent_fd_ = -1;
  std::string transparent_address_;
  std::map<std::pair<std::string, std::string>, WanLink*> transparent_links_;
  std::thread transparent_acceptor_;
  std::atomic<bool> transparent_stopping_{false};
  std::atomic<int64_t> transparent_refused_{0};
  absl::Mutex refused_mu_;
  std::set<std::string> refusals_logged_ ABSL_GUARDED_BY(refused_mu_);

  mutable absl::Mutex mu_;  // serializes control operations
  std::map<std::pair<std::string, std::string>, LinkProfile> pairs_
      ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex flap_mu_;
  std::vector<std::unique_ptr<FlapRun>> flaps_ ABSL_GUARDED_BY(flap_mu_);
};

}  // namespace wan
}  // namespace kess
