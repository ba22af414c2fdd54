// A cluster's certificates for tests: written by WriteClusterCerts (the
// code of `kessctl certs init`) into a new directory under $TEST_TMPDIR
// (or /tmp), and the TLS contexts made from them.
//
//   absl::StatusOr<TestCerts> certs = TestCerts::Create();
//   server_options.tls = certs->ServerTls();
//   client_options.tls = certs->ClientTls();
//
// Thread-safety: const methods are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/tls/tls_context.h"

namespace kess {
namespace tls {
namespace testing {

class TestCerts {
 public:
  // A new directory with ca.pem and the certificates of every role.
  static absl::StatusOr<TestCerts> Create(const std::string& cluster = "test");

  const std::string& dir() const { return dir_; }
  std::string ca() const { return dir_ + "/ca.pem"; }
  // "<dir>/<role>.pem" and ".key".
  std::string cert(const std::string& role) const;
  std::string key(const std::string& role) const;

  // Options for `role`'s certificate; reload_interval zero (tests reload
  // explicitly) unless changed by the caller.
  TlsOptions Options(const std::string& role,
                     metrics::Registry* registry = nullptr) const;
  // A server context with `role`'s certificate; CHECK-fails on error.
  std::shared_ptr<TlsContext> ServerTls(const std::string& role = "distributor",
                                        bool require_client_cert = false,
                                        metrics::Registry* registry = nullptr)
      const;
  // A client context trusting this CA; with `role` non-empty it presents
  // that certificate (mutual TLS). CHECK-fails on error.
  std::shared_ptr<TlsContext> ClientTls(const std::string& role = "",
                                        metrics::Registry* registry = nullptr)
      const;

  // Writes "<dir>/<name>.pem" and ".key": a certificate from this CA for
  // localhost and 127.0.0.1 that expired `ago` ago.
  absl::Status WriteExpired(const std::string& name,
                            absl::Duration ago = absl::Hours(1)) const;

 private:
  explicit TestCerts(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace testing
}  // namespace tls
}  // namespace kess
