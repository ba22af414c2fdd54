// A TCP proxy in front of one ZooKeeper server that remembers the session
// credentials the server hands out, for end-to-end tests.
//
// zk::testing::ExpireSession() expires a session by attaching a second
// handle to it, which needs the session's id AND its 16-byte password. A
// daemon running as a separate process publishes neither (the password must
// not leave it). So a test points the daemon's --zk at this proxy: the first
// frame the server sends on every connection is the ConnectResponse
// (length, protocolVersion, timeOut, sessionId, passwd, readOnly; big
// endian), which the proxy reads as it passes by. The daemon's
// /api/v1/status names its session id; Credentials(id) gives the password.
//
//   auto proxy = ZkSessionProxy::Start(zk->ConnectString());  // 1 server
//   ... start the daemon with --zk=(*proxy)->address() ...
//   auto creds = (*proxy)->Credentials(session_id_from_status);
//   zk::testing::ExpireSession(zk->ConnectString(), *creds);
//
// Everything else is forwarded byte for byte, both ways. Only 127.0.0.1.
//
// SetCut(true) simulates a network partition: every open connection is
// closed and new ones are closed as soon as they are accepted (the client
// sees a server it cannot reach) until SetCut(false).
//
// SetDelay(d) simulates a slow link: every byte read from either side from
// then on is forwarded d later (latency, not a bandwidth cap: bytes in
// flight pile up, in order). Since the proxy forwards any byte stream, it
// also stands between an agent and a distributor.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace testing {

class ZkSessionProxy {
 public:
  // Listens on a free 127.0.0.1 port and forwards every connection to
  // `upstream` ("127.0.0.1:<port>", one server).
  static absl::StatusOr<std::unique_ptr<ZkSessionProxy>> Start(
      const std::string& upstream);
  // Closes the listener and every connection, joins the threads.
  ~ZkSessionProxy();

  // "127.0.0.1:<port>"
  std::string address() const;
  // Cuts (true) or heals (false) the link; see above.
  void SetCut(bool cut) { cut_ = cut; }
  bool cut() const { return cut_; }
  // Delays both directions by `delay` (0 = none); see above.
  void SetDelay(absl::Duration delay) {
    delay_ms_ = absl::ToInt64Milliseconds(delay);
  }
  // The credentials of session `session_id` as last handed out through
  // this proxy; NotFound if none was.
  absl::StatusOr<zk::SessionCredentials> Credentials(int64_t session_id) const;

 private:
  ZkSessionProxy(int listen_fd, int port, int upstream_port);
  void AcceptLoop();
  // Pumps bytes between `client` and a new connection to the upstream
  // server until either side closes or the proxy stops.
  void Serve(int client);
  // Reads the ConnectResponse at the start of the server's byte stream.
  void NoteServerBytes(std::string* head, bool* parsed, const char* data,
                       size_t size);

  const int listen_fd_;
  const int port_;
  const int upstream_port_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cut_{false};
  std::atomic<int64_t> delay_ms_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex sessions_mu_;
  std::map<int64_t, std::string> passwords_ ABSL_GUARDED_BY(sessions_mu_);
};

}  // namespace testing
}  // namespace kess
