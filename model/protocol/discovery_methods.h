// Method names of the discovery protocol (discovery.proto) and of the
// agents' host heartbeat (distribution.proto), shared by the mandator's
// scheduler, the SDK, the agent and the main-DC leader's collector.
#pragma once

namespace kess {
namespace protocol {

inline constexpr char kRegisterMethod[] = "kess.Register";
inline constexpr char kHeartbeatMethod[] = "kess.Heartbeat";
inline constexpr char kDeregisterMethod[] = "kess.Deregister";
inline constexpr char kGetPartialTableMethod[] = "kess.GetPartialTable";
inline constexpr char kHostHeartbeatMethod[] = "kess.HostHeartbeat";

}  // namespace protocol
}  // namespace kess
