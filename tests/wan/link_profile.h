// LinkProfile: how one direction of an emulated WAN link treats the bytes
// crossing it (one-way delay, jitter, loss, a bandwidth cap), and its text
// form, used by wan_emulator's config file and control API:
//
//   delay=25ms,jitter=5ms,loss=0.01,bw=1mbit
//
// Keys, each at most once, in any order, separated by ',' (no spaces):
//   delay=<duration>   one-way delay                     (absl duration:
//   jitter=<duration>  +- uniform around the delay       "25ms", "1.5s", "0")
//   loss=<p>           probability in [0, 1] that a segment is lost; "2%" is
//                      0.02
//   bw=<rate>          bandwidth cap in bits per second: a number with an
//                      optional unit bit, kbit, mbit, gbit (powers of 1000,
//                      as tc writes them; "1.5mbit" is 1,500,000); 0 means
//                      unlimited
// A key not given is 0 (no delay, no jitter, no loss, unlimited). "" and
// "none" are the profile with every field 0: a plain TCP relay.
// What the emulator does with these numbers is in wan_link.h.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace wan {

struct LinkProfile {
  absl::Duration delay = absl::ZeroDuration();   // one-way, >= 0
  absl::Duration jitter = absl::ZeroDuration();  // >= 0
  double loss = 0;                               // in [0, 1]
  int64_t bandwidth_bps = 0;                     // bits/s; 0 = unlimited

  // The canonical text form: the non-zero fields in the order delay,
  // jitter, loss, bw ("none" when all are 0). ParseLinkProfile(ToString())
  // gives the profile back (loss to 6 significant digits).
  std::string ToString() const;

  friend bool operator==(const LinkProfile& a, const LinkProfile& b) {
    return a.delay == b.delay && a.jitter == b.jitter && a.loss == b.loss &&
           a.bandwidth_bps == b.bandwidth_bps;
  }
  friend bool operator!=(const LinkProfile& a, const LinkProfile& b) {
    return !(a == b);
  }
};

// OK, or InvalidArgument naming the bad field (a negative or infinite
// duration, loss outside [0, 1], a negative bandwidth).
absl::Status ValidateLinkProfile(const LinkProfile& profile);

// Parses the text form above. InvalidArgument that quotes the offending
// item for an unknown or repeated key, an item without '=', a value that
// does not parse, or a value ValidateLinkProfile refuses.
absl::StatusOr<LinkProfile> ParseLinkProfile(absl::string_view text);

}  // namespace wan
}  // namespace kess
