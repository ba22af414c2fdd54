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
// Emulation, per direction (forward = client -> server bytes, reverse =
// server -> client bytes), with that direction's LinkProfile:
// - Bytes read from the source are cut into segments of at most
//   kSegmentBytes (1448, a TCP MSS on a 1500-byte MTU), stamped with their
//   arrival time on the monotonic clock.
// - Serialization: the link direction has a transmit clock, busy_until,
//   SHARED by all connections of the link (one pipe between two DCs). A
//   segment departs at max(arrival, busy_until) + size * 8 / bandwidth_bps,
//   and busy_until becomes that departure (bandwidth_bps 0: departure =
//   arrival, no clock). Segments discarded before they depart (cut,
//   blackhole, a closed connection) give their link time back.
// - Propagation: the segment is due at departure + delay + j, j uniform in
//   [-jitter, +jitter], never before its departure.
// - Loss: with probability `loss` the segment is "lost" and is due
//   max(200 ms, 2 * delay) later still: the stall of a TCP retransmission
//   (200 ms is Linux's minimum RTO). No byte is ever dropped, duplicated or
//   reordered while the link is open.
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
//   already held keep their due times.
// - Timing: due times are met to well under 1 ms on an idle machine
//   (ppoll with nanosecond timeouts, no sleep steps); a busy CPU only makes
//   segments later, never earlier.
// If one side resets (or a write fails), the connection is closed both
// ways at once.
//
// LinkState (SetState, any time; applies at once to every connection):
// - kOpen: the above.
// - kCut: a partition the peers notice. Every open connection is closed
//   (both sockets shut down, held bytes discarded); a new connection is
//   accepted by the kernel and closed at once, never reaching upstream.
// - kBlackhole: a silent drop. Connections stay open, nothing is forwarded
//   either way: held bytes are discarded when the state is entered, and
//   every byte read while it lasts is read and discarded (counted in
//   bytes_dropped), so senders never block. A new connection is accepted
//   and held without an upstream connection (its bytes discarded too)
//   until the state changes. Back to kOpen, forwarding resumes with the
//   bytes read from then on: the streams have a gap where the blackhole
//   was (real TCP would retransmit them after the outage; with this link
//   the peers see a corrupt stream unless they time out and reconnect,
//   which is what a blackhole test usually wants to see them do).
//
// Threads: one accept thread, and per connection one thread per direction.
// Every wait is a ppoll on the sockets and a wake-up pipe that SetState and
// the destructor fire, bounded by 200 ms, so state changes apply at once
// and the destructor returns promptly.
//
// Thread-safety: every method is thread-safe.
#pragma once

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

class WanLink {
 public:
  struct Options {
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
    int64_t bytes = 0;          // delivered to the destination
    int64_t bytes_held = 0;     // read, not yet delivered (now)
    int64_t bytes_dropped = 0;  // discarded: kBlackhole, kCut, a reset
    int64_t segments = 0;       // scheduled while open
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
  // Upstream is not contacted until a client connects.
  static absl::StatusOr<std::unique_ptr<WanLink>> Start(Options options);
  // Closes the listener and every connection (held bytes are discarded),
  // joins every thread.
  ~WanLink();
  WanLink(const WanLink&) = delete;
  WanLink& operator=(const WanLink&) = delete;

  const std::string& name() const { return options_.name; }
  int port() const { return port_; }
  // "<listen host as given>:<port>"
  std::string address() const;
  const std::string& upstream() const { return options_.upstream; }

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
  void Serve(Connection* connection, int client);
  // Connects to upstream, giving up after connect_timeout, on stop or cut.
  // -1 on failure.
  int ConnectUpstream();
  std::shared_ptr<Waker> waker() const;
  void Wake();
  void ReapFinished() ABSL_LOCKS_EXCLUDED(connections_mu_);

  const Options options_;
  const int listen_fd_;
  const int port_;
  const uint32_t upstream_ip_;  // network byte order
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
