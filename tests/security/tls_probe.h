// The attacker's side of the TLS abuse test (tls_abuse_test.cc), with
// OpenSSL directly: one TLS handshake from a chosen loopback source address
// with any protocol versions and any (or no) client certificate, the
// serial number of the certificate a server presents, and a fake TLS
// server that completes or fails handshakes with a certificate of the
// caller's choice and never sends a byte of kess.
//
//   TlsProbeResult r = TlsProbe({.from = "127.0.0.2", .to = d->address(),
//                                .ca_file = tls.ca()});
//   // r.handshake_done, r.peer_serial, r.refused_after_handshake
//
// Everything is bounded in time. Thread-safety: TlsProbe is thread-safe;
// a FakeTlsServer is used from one thread (its own thread aside).
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace testing {

struct TlsProbeOptions {
  std::string from = "127.0.0.1";  // source address
  std::string to;                  // "host:port"
  // Trust anchors for the server's certificate; "" = do not verify (the
  // probe then only reads what the server presents).
  std::string ca_file;
  // The client certificate presented (mutual TLS); "" = none.
  std::string cert_file;
  std::string key_file;
  // Protocol versions offered (TLS1_VERSION ... TLS1_3_VERSION); a maximum
  // below TLS 1.2 lowers OpenSSL's security level so that the old hello is
  // really sent.
  int min_version = 0;
  int max_version = 0;
  absl::Duration timeout = absl::Seconds(5);
};

struct TlsProbeResult {
  bool connected = false;        // TCP
  bool handshake_done = false;   // SSL_connect succeeded
  // After a completed handshake, the server closed or alerted instead of
  // answering (with TLS 1.3 a server refuses a client certificate only
  // after the client's side of the handshake finished).
  bool refused_after_handshake = false;
  std::string peer_serial;       // hex; "" if no certificate was seen
  std::string error;             // OpenSSL's reason, if any
};

TlsProbeResult TlsProbe(const TlsProbeOptions& options);

// The serial number (hex) of the first certificate of a PEM file.
absl::StatusOr<std::string> CertSerial(const std::string& pem_file);

// A TLS server on 127.0.0.1 at an ephemeral port, presenting `cert_file`
// and `key_file`, that accepts connections one at a time, runs the
// handshake, counts it, and closes without sending anything else.
class FakeTlsServer {
 public:
  FakeTlsServer(const std::string& cert_file, const std::string& key_file);
  ~FakeTlsServer();
  FakeTlsServer(const FakeTlsServer&) = delete;
  FakeTlsServer& operator=(const FakeTlsServer&) = delete;

  bool ok() const { return port_ != 0; }
  std::string address() const;
  int connections() const { return connections_; }
  int handshakes_done() const { return handshakes_done_; }

 private:
  void Run();

  void* ctx_ = nullptr;  // SSL_CTX
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> handshakes_done_{0};
  std::thread thread_;
};

}  // namespace testing
}  // namespace kess
