// Why a transport connection was closed. Each value is both the `reason`
// label of kess_transport_disconnects_total and the word logged with the
// close, so the set is small and stable; add new ones here only.
#pragma once

namespace kess {
namespace transport {
namespace close_reason {

// Orderly ends.
inline constexpr char kPeerClosed[] = "peer_closed";
inline constexpr char kLocalClose[] = "local_close";
inline constexpr char kServerShutdown[] = "server_shutdown";
// Socket errors.
inline constexpr char kReadError[] = "read_error";
inline constexpr char kWriteError[] = "write_error";
inline constexpr char kConnectFailed[] = "connect_failed";
inline constexpr char kConnectTimeout[] = "connect_timeout";
// Bad input from the peer (see FrameDecoder).
inline constexpr char kZeroLengthFrame[] = "zero_length_frame";
inline constexpr char kFrameTooLarge[] = "frame_too_large";
inline constexpr char kMalformedFrame[] = "malformed_frame";
inline constexpr char kUnexpectedFrame[] = "unexpected_frame";
// TLS: the handshake failed (not TLS, untrusted or expired certificate,
// wrong name, no client certificate, ...); the cause is the label of
// kess_transport_tls_handshake_failures_total.
inline constexpr char kTlsHandshakeFailed[] = "tls_handshake_failed";
// A slow or dead peer.
inline constexpr char kSendQueueFull[] = "send_queue_full";
inline constexpr char kHeartbeatTimeout[] = "heartbeat_timeout";
// Limits that hold before a peer has authenticated (server side).
// No complete frame within ServerOptions::first_frame_timeout.
inline constexpr char kFirstFrameTimeout[] = "first_frame_timeout";
// Not trusted (Server::Trust) within ServerOptions::trust_timeout.
inline constexpr char kTrustTimeout[] = "trust_timeout";
// A frame over ServerOptions::untrusted_max_frame_bytes before Trust.
inline constexpr char kUntrustedFrameTooLarge[] = "untrusted_frame_too_large";
// One request more than ServerOptions::untrusted_max_requests before Trust.
inline constexpr char kUntrustedRequestLimit[] = "untrusted_request_limit";
// A request payload over its element budget (ServerOptions::request_types).
inline constexpr char kPayloadOverBudget[] = "payload_over_budget";
// Identities (ServerOptions::credentials): a kess.Authenticate that did not
// verify, and a credential revoked while its connection was open (closed
// at its next request).
inline constexpr char kAuthenticationFailed[] = "authentication_failed";
inline constexpr char kCredentialRevoked[] = "credential_revoked";

}  // namespace close_reason
}  // namespace transport
}  // namespace kess
