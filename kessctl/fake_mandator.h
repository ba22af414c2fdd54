// An in-memory stand-in for a mandator's HTTP API (docs/http-api.md), for
// kessctl's tests: configs with revisions, versions, history, compare-and-set,
// rollback, base64 values, name validation with the server's messages, gray
// releases (start, status, promote, abort; 409 for writes of a key while one
// is active), and a configurable /api/v1/status. One global revision counter
// per fake (so two fakes are two independent stores). Serves on 127.0.0.1,
// port 0.
//
// Not a model of the real mandator: no ZooKeeper, no forwarding, no leader.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/http_server.h"
#include "common/status.h"

namespace kess {
namespace kessctl {

class FakeMandator {
 public:
  // What GET /api/v1/status answers.
  struct StatusInfo {
    std::string datacenter = "dc1";
    bool is_main = true;
    std::string member_id = "m1";
    std::string leader_id = "m1";
    std::string leader_address;  // "" = this fake's own address
    bool is_leader = true;
    int64_t revision = -1;       // -1 = the store's current revision
    int64_t main_revision = -1;  // -1 = same as revision
    int64_t lag_revisions = 0;
    double lag_seconds = 0;
  };

  static absl::StatusOr<std::unique_ptr<FakeMandator>> Start(StatusInfo info);
  static absl::StatusOr<std::unique_ptr<FakeMandator>> Start();
  ~FakeMandator();

  // "127.0.0.1:<port>".
  std::string address() const;

  // From now on every /api/v1 request is answered with `error` (e.g.
  // Unauthenticated -> 401); OkStatus() restores normal service.
  void FailWith(absl::Status error);

  // The last /api/v1 request received.
  HttpRequest last_request() const;
  int requests() const;

 private:
  struct Version {
    int64_t revision = 0;
    int64_t version = 0;
    std::string value;  // raw bytes
    std::string content_type, author, comment;
    int64_t mtime_ms = 0;
  };
  using History = std::vector<Version>;  // oldest first; back() is current

  explicit FakeMandator(StatusInfo info);
  void Register();
  HttpResponse Serve(const HttpRequest& request);
  HttpResponse Status();
  HttpResponse ListNamespaces();
  HttpResponse ListKeys(const std::string& ns);
  HttpResponse Get(const std::string& ns, const std::string& key);
  HttpResponse Put(const HttpRequest& r, const std::string& ns,
                   const std::string& key);
  HttpResponse Delete(const HttpRequest& r, const std::string& ns,
                      const std::string& key);
  HttpResponse GetHistory(const HttpRequest& r, const std::string& ns,
                          const std::string& key);
  HttpResponse Rollback(const HttpRequest& r, const std::string& ns,
                        const std::string& key);
  HttpResponse StartGray(const HttpRequest& r, const std::string& ns,
                         const std::string& key);
  HttpResponse GetGray(const std::string& ns, const std::string& key);
  HttpResponse FinishGray(const HttpRequest& r, const std::string& ns,
                          const std::string& key, bool promote);
  // 409 if ns/key has an active gray release, else OK (the caller holds mu_).
  absl::Status NoGray(const std::string& ns, const std::string& key) const;
  // Appends a new version of ns/key (the caller holds mu_).
  HttpResponse Write(const std::string& ns, const std::string& key, Version v,
                     int64_t expected_revision);

  struct Gray {
    Version v;  // value, content_type, author, comment, mtime, revision
    int64_t base_revision = 0;
    std::vector<std::string> hosts;
    int64_t percentage = 0;
  };

  const StatusInfo info_;
  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;

  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, History>> data_;
  std::map<std::string, Gray> gray_;  // by "ns/key"
  int64_t revision_ = 0;
  absl::Status fail_with_;
  HttpRequest last_request_;
  int requests_ = 0;
};

// "127.0.0.1:<port>" where nothing listens (a port bound and released), for
// tests of an unreachable mandator.
std::string RefusingAddress();

}  // namespace kessctl
}  // namespace kess
