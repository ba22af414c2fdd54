// The metrics every transport endpoint reports, labelled by role ("server"
// or "client"):
//
//   kess_transport_connections{role}                 gauge, open connections
//   kess_transport_disconnects_total{role,reason}    counter, see
//   close_reason.h kess_transport_frames_received_total{role}       counter
//   kess_transport_frames_sent_total{role}           counter
//   kess_transport_accept_errors_total{role}         counter (server only)
//   kess_transport_tls_handshakes_total{role,resumed} counter, completed
//   kess_transport_tls_handshake_failures_total{role,cause}  counter
//   kess_transport_protocol_refused_total{role}      counter, frames from a
//                                                    peer of a protocol
//                                                    version below the minimum
//
// Thread-safety: all methods are thread-safe. The Registry must outlive
// this object.
#pragma once

#include <string>

#include "common/metrics.h"
#include "common/status.h"

namespace kess {
namespace transport {

class TransportMetrics {
 public:
  // `registry` nullptr: metrics::Registry::Default().
  TransportMetrics(metrics::Registry* registry, const std::string& role);

  void ConnectionOpened() { connections_->Add(1); }
  void ConnectionClosed() { connections_->Add(-1); }
  void FrameReceived() { frames_received_->Increment(); }
  void FrameSent() { frames_sent_->Increment(); }
  void AcceptError() { accept_errors_->Increment(); }
  // `reason` is a close_reason constant.
  void Disconnected(const char* reason);
  // A connection closed at accept, before any byte is read: `reason` is
  // "server_connection_limit" or "peer_connection_limit".
  void Refused(const char* reason);
  // A TLS handshake completed; `resumed`: from a session ticket.
  void TlsHandshake(bool resumed) {
    (resumed ? tls_resumed_ : tls_full_)->Increment();
  }
  // A TLS handshake failed; `cause` is a short constant word
  // ("not_tls", "untrusted_cert", "cert_expired", "name_mismatch", ...).
  void TlsHandshakeFailed(const char* cause);
  // A REQUEST (server) or RESPONSE (client) refused for its peer's old
  // protocol version (protocol_version.h).
  void ProtocolRefused() { protocol_refused_->Increment(); }

 private:
  metrics::Registry* const registry_;
  const std::string role_;
  metrics::Gauge* const connections_;
  metrics::Counter* const frames_received_;
  metrics::Counter* const frames_sent_;
  metrics::Counter* const accept_errors_;
  metrics::Counter* const tls_full_;
  metrics::Counter* const tls_resumed_;
  metrics::Counter* const protocol_refused_;
};

// Logs a protocol version refusal, at most once a minute per process (a
// fleet of old peers must not flood the log; the metric counts them all).
void LogProtocolRefused(const absl::Status& status);

}  // namespace transport
}  // namespace kess
