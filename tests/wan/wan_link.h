// WanLink: one emulated WAN link, a TCP relay that makes the bytes crossing
// it late, jittery, lossy and rate-limited the way a long-distance TCP path
// does. The kernel here has no netem, so the emulation is in userspace, on
// the byte streams: clients connect to the link's listener, the link opens
// a connection to `upstream` for each and relays both ways.
//
//   WanLink::Options o;
//   o.upstream = "127.0.0.1:2181";
//   o.forward = *ParseLinkProfile("delay=25ms,jitter=5ms,loss=0.01");
//   o.reverse = o.forward;
//   auto link = WanLink::Start(o);            // listens on a free port
//   ... point the client at (*link)->address() ...
//   (*link)->SetState(LinkState::kCut);       // a partition
//
// Without a listener (Options::listen = false) the link serves the
// connections someone else accepted, each towards its own upstream address:
// wan_emulator's transparent mode accepts every connection between two DCs
// on one port and hands each to the WanLink of its DC pair:
//
//   o.listen = false;                         // no listener, no upstream
//   auto link = WanLink::Start(o);
//   (*link)->ServeAccepted(client_fd, original_destination);
//
// Such connections follow every rule below exactly as accepted ones do.
//
// Emulation, per direction (forward = client -> server bytes, reverse =
// server -> client bytes), with that direction's LinkProfile:
// - Bytes read from the source are cut into segments of at most
//   kSegmentBytes (1448, a TCP MSS on a 1500-byte MTU), stamped with their
//   arrival time on the monotonic clock.
// - Serialization: the link direction has a transmit clock, busy_until,
//   SHARED by all connections of the link (one pipe between two DCs). A
//   segment departs at max(arrival, busy_until) + size * 8 / bandwidth_bps,
//   and busy_until becomes that departure (bandwidth_bps 0: departure =
//   arrival, no clock). Segments that do not depart as scheduled
//   (discarded by a cut or a closed connection, or held back by a
//   blackhole) give their link time back.
// - Propagation: the segment is due at departure + delay + j, j uniform in
//   [-jitter, +jitter], never before its departure.
// - Loss: with probability `loss` the segment is "lost" and is due
//   max(200 ms, 2 * delay) later still: the stall of a TCP retransmission
//   (200 ms is Linux's minimum RTO). No byte is ever dropped, duplicated or
//   reordered, across blackholes too; only kCut, a reset or the link's
//   destruction discards bytes (and then closes the connection).
// - Order: per connection, a segment is never due before the previous one
//   (due = max(due, previous due)), so one loss or a large jitter sample
//   holds back what follows: head-of-line blocking, as TCP has.
// - A FIN (the source half-closed or closed) is passed on (shutdown of the
//   destination's write side) after every byte before it, and not before
//   the time a segment read then would be due without jitter or loss.
// - Backpressure: a direction of one connection holds at most
//   Options::max_held_bytes read-but-undelivered bytes (plus one read of
//   64 KiB); above that it stops reading its source, whose sender then
//   blocks as on a full TCP window. A destination that does not read blocks
//   its direction the same way (the kernel's buffers fill up).
// - Profile changes (SetProfile) apply to bytes read afterwards; bytes
//   already scheduled keep their due times (bytes held by a blackhole are
//   scheduled at reopen, with the profile then).
// - Timing: due times are met to well under 1 ms on an idle machine
//   (ppoll with nanosecond timeouts, no sleep steps); a busy CPU only makes
//   segments later, never earlier.
// If one side resets (or a write fails), the connection is closed both
// ways at once, blackholed or not.
//
// LinkState (SetState, any time; applies at once to every connection):
// - kOpen: the above.
// - kCut: a partition the peers notice. Every open connection is closed
//   (both sockets shut down, held bytes discarded); a new connection is
//   accepted by the kernel and closed at once, never reaching upstream.
// - kBlackhole: a path that silently drops every packet, under TCP, which
//   retransmits: late bytes, never lost ones. Connections stay open and
//   nothing is delivered either way while it lasts. Every byte not yet
//   delivered when it starts (in flight or queued) is held back, and the
//   sources are still read into the same hold, up to max_held_bytes per
//   direction of a connection; then the source is no longer read and its
//   sender blocks (a full TCP window). Nothing is counted in
//   bytes_dropped. Back to kOpen, the held bytes are scheduled as if read
//   at the reopen instant (the retransmission after the outage): in order,
//   through the transmit clock, with delay, jitter and loss drawn afresh,
//   so the first is due at reopen + delay (± jitter) at the earliest; bytes
//   read after the reopen follow them. A new connection is accepted (the
//   client's connect succeeds: the link's kernel answers) and held, its
//   bytes and FIN too, WITHOUT contacting upstream: the upstream
//   connection is opened at reopen (a SYN retransmitted until the path is
//   back; the handshake itself adds no delay, as for any connection here).
//   A FIN (the peer half-closed or closed) read during the blackhole is
//   passed on at reopen after the held bytes, at reopen + delay at the
//   earliest; so is the FIN of a client that connected and closed during
//   the blackhole (upstream then sees a connection, its bytes, its FIN).
//   A reset is not held: the connection is closed both ways at once. A
//   kCut during or after a blackhole discards the held bytes like any.
//   "The reopen instant" is when each connection's thread sees the state
//   change (the wake-up pipe: microseconds after SetState), never before.
//   Segments scheduled before the blackhole and held by it are counted
//   again in `segments` when rescheduled (a retransmission is sent too).
//
// Threads: one accept thread (none without a listener), and per connection
// one thread per direction.
// Every wait is a ppoll on the sockets and a wake-up pipe that SetState and
// the destructor fire, bounded by 200 ms, so state changes apply at once
// and the destructor returns promptly.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "tests/wan/link_profile.h"

namespace kess {
namespace wan {

inline constexpr size_t kSegmentBytes = 1448;

enum class LinkState { kOpen, kCut, kBlackhole };
// "open", "cut", "blackhole"
const char* LinkStateName(LinkState state);
// Inverse of LinkStateName; InvalidArgument for anything else.
absl::StatusOr<LinkState> ParseLinkState(absl::string_view name);

enum class Direction { kForward, kReverse };  // client->server, server->client
const char* DirectionName(Direction direction);  // "forward", "reverse"

// "a.b.c.d:port", for logs.
std::string Ipv4Text(const sockaddr_in& addr);

class WanLink {
 public:
  struct Options {
    // false: no listener and no `upstream`; connections come only through
    // ServeAccepted (listen_host, listen_port and upstream are ignored).
    bool listen = true;
    std::string listen_host = "127.0.0.1";  // an IPv4 address or host name
    int listen_port = 0;                    // 0 = a free port; see port()
    std::string upstream;                   // "host:port", resolved to IPv4
    LinkProfile forward;                    // client -> server bytes
    LinkProfile reverse;                    // server -> client bytes
    std::string name = "wan";               // for logs
    // Per connection and direction; see "Backpressure" above.
    size_t max_held_bytes = 16 << 20;
    // How long to try to connect to upstream before closing the client.
    absl::Duration connect_timeout = absl::Seconds(5);
    // Seeds the jitter and loss draws; 0 = a random seed.
    uint64_t seed = 0;
  };

  struct DirectionStats {
    int64_t bytes = 0;       // delivered to the destination
    int64_t bytes_held = 0;  // read, not yet delivered (now); includes
                             // bytes held by kBlackhole
    // Discarded: by kCut, a reset or failed write, an unreachable upstream
    // (the bytes of a client held by kBlackhole), the link's destruction.
    // Never by kBlackhole itself.
    int64_t bytes_dropped = 0;
    int64_t segments = 0;       // scheduled (held ones again at reopen)
    int64_t segments_lost = 0;  // of which "lost" (delayed by a retransmit)
  };
  struct Stats {
    DirectionStats forward;
    DirectionStats reverse;
    int64_t connections_accepted = 0;  // every accept, refused ones too
    int64_t connections_refused = 0;   // closed at once by kCut
    int64_t connections_open = 0;      // now
  };

  // Resolves `upstream` and `listen_host`, binds (SO_REUSEADDR) and starts
  // accepting. InvalidArgument for a bad upstream, listen host or profile;
  // the errno's status if it cannot listen (e.g. the port is taken). Every
  // error message starts with "link <name>: ".
  // Upstream is not contacted until a client connects. With !listen, only
  // the profiles are checked.
  static absl::StatusOr<std::unique_ptr<WanLink>> Start(Options options);
  // Closes the listener and every connection (held bytes are discarded),
  // joins every thread.
  ~WanLink();
  WanLink(const WanLink&) = delete;
  WanLink& operator=(const WanLink&) = delete;

  const std::string& name() const { return options_.name; }
  int port() const { return port_; }  // 0 without a listener
  // "<listen host as given>:<port>"; "" without a listener.
  std::string address() const;
  const std::string& upstream() const { return options_.upstream; }

  // Serves `client`, a connected TCP socket accepted by the caller (the
  // link owns it from now on and closes it), as if the link's listener had
  // accepted it, relaying to `upstream` instead of Options::upstream:
  // counted in connections_accepted, closed at once if the link is cut,
  // held if blackholed, and so on. Returns at once (the connection has
  // its own threads). Works with or without a listener. REQUIRES: the
  // link is not being destroyed.
  void ServeAccepted(int client, const sockaddr_in& upstream);

  void SetState(LinkState state);
  LinkState state() const;

  // InvalidArgument (and no change) if a profile is invalid.
  absl::Status SetProfile(const LinkProfile& forward,
                          const LinkProfile& reverse);
  absl::Status SetProfile(Direction direction, const LinkProfile& profile);
  LinkProfile profile(Direction direction) const;

  Stats stats() const;

 private:
  class Waker;
  struct Lane;
  struct Connection;
  class Pump;

  WanLink(Options options, int listen_fd, int port, uint32_t upstream_ip,
          int upstream_port);
  void AcceptLoop();
  // Counts `client`, refuses it if cut, else serves it on a new thread.
  void Admit(int client, const sockaddr_in& upstream)
      ABSL_LOCKS_EXCLUDED(connections_mu_);
  void Serve(Connection* connection, int client, sockaddr_in upstream);
  // Connects to `upstream`, giving up after connect_timeout, on stop or
  // cut. -1 on failure.
  int ConnectUpstream(const sockaddr_in& upstream);
  std::shared_ptr<Waker> waker() const;
  void Wake();
  void ReapFinished() ABSL_LOCKS_EXCLUDED(connections_mu_);

  const Options options_;
  const int listen_fd_;         // -1 without a listener
  const int port_;              // 0 without a listener
  const uint32_t upstream_ip_;  // network byte order; 0 without a listener
  const int upstream_port_;
  std::unique_ptr<Lane> forward_;
  std::unique_ptr<Lane> reverse_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> state_{static_cast<int>(LinkState::kOpen)};
  std::atomic<int64_t> connections_accepted_{0};
  std::atomic<int64_t> connections_refused_{0};
  std::atomic<int64_t> connections_open_{0};

  mutable absl::Mutex waker_mu_;
  std::shared_ptr<Waker> waker_ ABSL_GUARDED_BY(waker_mu_);

  std::thread acceptor_;
  absl::Mutex connections_mu_;
  std::list<std::unique_ptr<Connection>> connections_
      ABSL_GUARDED_BY(connections_mu_);
};

}  // namespace wan
}  // namespace kess
