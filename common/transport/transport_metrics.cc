#include "common/transport/transport_metrics.h"

namespace kess {
namespace transport {

TransportMetrics::TransportMetrics(metrics::Registry* registry,
                                   const std::string& role)
    : registry_(registry != nullptr ? registry : &metrics::Registry::Default()),
      role_(role),
      connections_(registry_->GetGauge("kess_transport_connections",
                                       "Open transport connections.",
                                       {{"role", role}})),
      frames_received_(registry_->GetCounter(
          "kess_transport_frames_received_total",
          "Frames received on transport connections.", {{"role", role}})),
      frames_sent_(registry_->GetCounter(
          "kess_transport_frames_sent_total",
          "Frames queued for sending on transport connections.",
          {{"role", role}})),
      accept_errors_(registry_->GetCounter(
          "kess_transport_accept_errors_total",
          "accept() failures other than EAGAIN.", {{"role", role}})),
      tls_full_(registry_->GetCounter(
          "kess_transport_tls_handshakes_total",
          "Completed TLS handshakes, full or resumed from a session ticket.",
          {{"role", role}, {"resumed", "false"}})),
      tls_resumed_(registry_->GetCounter(
          "kess_transport_tls_handshakes_total",
          "Completed TLS handshakes, full or resumed from a session ticket.",
          {{"role", role}, {"resumed", "true"}})) {}

void TransportMetrics::Disconnected(const char* reason) {
  registry_
      ->GetCounter("kess_transport_disconnects_total",
                   "Transport connections closed, by reason.",
                   {{"role", role_}, {"reason", reason}})
      ->Increment();
}

void TransportMetrics::TlsHandshakeFailed(const char* cause) {
  registry_
      ->GetCounter("kess_transport_tls_handshake_failures_total",
                   "TLS handshakes that failed, by cause.",
                   {{"role", role_}, {"cause", cause}})
      ->Increment();
}

void TransportMetrics::Refused(const char* reason) {
  registry_
      ->GetCounter("kess_transport_refused_total",
                   "Connections closed at accept by a connection cap, by "
                   "reason.",
                   {{"role", role_}, {"reason", reason}})
      ->Increment();
}

}  // namespace transport
}  // namespace kess
