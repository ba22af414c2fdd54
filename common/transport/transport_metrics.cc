#include "common/transport/transport_metrics.h"

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"

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
          {{"role", role}, {"resumed", "true"}})),
      protocol_refused_(registry_->GetCounter(
          "kess_transport_protocol_refused_total",
          "Requests (server) or responses (client) refused because the peer "
          "speaks a protocol version below this side's minimum.",
          {{"role", role}})) {}

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

void LogProtocolRefused(const absl::Status& status) {
  static std::atomic<int64_t> last_ms{INT64_MIN / 2};
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  int64_t last = last_ms.load();
  if (now_ms - last < 60 * 1000) return;
  if (!last_ms.compare_exchange_strong(last, now_ms)) return;
  LOG(WARNING) << "transport: " << status.message();
}

}  // namespace transport
}  // namespace kess
