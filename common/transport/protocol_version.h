// The kess wire protocol version, carried in every REQUEST and RESPONSE
// frame (Frame.protocol_version, frame.proto), and the window of peer
// versions this build works with.
//
// What a version covers: the frame envelope and every protobuf message
// kess processes exchange over it (model/protocol/*.proto). It is bumped
// when a release needs its peers to understand something new; messages
// only ever gain fields (proto3), so an older peer inside the window keeps
// working on what it knows.
//
// Version 1 is the protocol of kess 0.9.0 and before, whose frames carry
// no version (the field reads 0 there; PeerProtocolVersion maps 0 to 1).
// Version 2 adds the version field itself.
//
// The rule (docs/operations.md, "Upgrades and compatibility"): the newer
// side decides. Each end refuses a peer older than its minimum
// (kMinProtocolVersion: one version back, N-1) with FAILED_PRECONDITION
// and counts kess_transport_protocol_refused_total{role}; a peer newer
// than itself is accepted, because only the newer side knows whether it
// still speaks the older one.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace kess {
namespace transport {

inline constexpr int kProtocolVersion = 2;
inline constexpr int kMinProtocolVersion = 1;

// The version a peer speaks, from the field of its frame: 0 (a peer from
// before the field) is version 1.
inline int PeerProtocolVersion(uint32_t wire_value) {
  return wire_value == 0 ? 1 : static_cast<int>(wire_value);
}

// OK when `peer_version` >= `min_version`; else FAILED_PRECONDITION naming
// both versions and which side must be upgraded. `peer_role` is "client"
// or "server" (the other end, as seen from here).
absl::Status CheckPeerProtocolVersion(int peer_version, int min_version,
                                      const char* peer_role);

}  // namespace transport
}  // namespace kess
