// Real ZooKeeper servers for tests, benchmarks and the demo.
//
// ZkEnsemble starts 1 (standalone) or 3 (quorum) ZooKeeper servers from
// Debian's `zookeeper` package on free ports of 127.0.0.1 (or `host`, e.g.
// inside a network namespace with `command_prefix`), each in its own
// directory under `base_dir`, waits until every server answers `ruok` and the
// ensemble serves (`srvr` reports a mode), and stops exactly the processes it
// started: in Stop() and in the destructor, and they die with the process
// that started them (each server's JVM is a DaemonProcess, daemon_process.h:
// PR_SET_PDEATHSIG, log file, only its own pid signalled). Several ensembles
// (one per simulated DC) may run at once.
//
// Thread-compatible: one thread drives an ensemble at a time, and it should
// live as long as the servers (PR_SET_PDEATHSIG follows the starting
// thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kess {
namespace testing {

// TLS on the client link: the servers' Netty connection factory
// (serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory)
// with a secureClientPort and PEM key and trust stores, the configuration of
// deploy/stunnel/zoo-tls.cfg.
struct ZkTlsOptions {
  // ssl.keyStore.location: the server's private key (PKCS#8, "BEGIN PRIVATE
  // KEY") and its certificate, then any intermediate ones, in one PEM file.
  std::string keystore_pem;
  // ssl.trustStore.location: the CA certificates that clients' certificates
  // must chain to.
  std::string truststore_pem;
  // ssl.clientAuth=need: a client without a certificate signed by the trust
  // store's CA is refused in the handshake. false: ssl.clientAuth=none.
  bool client_auth = true;
  // Also keep the plaintext clientPort (to compare the two in one run). By
  // default the servers listen for clients on the TLS port only.
  bool plaintext_port = false;
  // What the harness's own TLS connections (FourLetterWord when there is no
  // plaintext port) trust and present: the CA the servers' certificates
  // must chain to (their names are not checked), and a client certificate
  // and key (needed with client_auth).
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
};

struct ZkEnsembleOptions {
  std::string name = "zk";  // used in directory and log names, e.g. "dc1"
  int servers = 1;          // 1 (standalone) or 3
  // The IPv4 address every server listens on (clients, peers, election).
  // 127.0.0.1 for tests; the demo's WAN mode gives each DC's ensemble its
  // DC's address inside that DC's network namespace.
  std::string host = "127.0.0.1";
  // Parent directory; empty = $TEST_TMPDIR, else a fresh dir under /tmp.
  std::string base_dir;
  int tick_ms = 200;  // small tick = fast session expiry in tests
  // Session timeouts negotiated by clients are clamped to
  // [2, 20] * tick_ms by the server.
  int start_timeout_ms = 60000;
  // Digest superuser ("super:<password>") for tests that must bypass ACLs;
  // empty = none.
  std::string super_password;
  // JVM options of every server. The defaults keep a server with chunked
  // values (768 KiB nodes) inside its heap: ZooKeeper 3.8 caches up to 400
  // serialized read responses by default, which is ~300 MB of chunks.
  std::vector<std::string> jvm_flags = JvmFlags(384);
  // Words put before `java ...` in each server's command line, e.g.
  // {"ip", "netns", "exec", "<ns>"} to run the servers in a network
  // namespace (then `host` is an address inside it, and the servers' pids
  // are still java's: `ip netns exec` execs). Empty: java itself.
  std::vector<std::string> command_prefix;
  // TLS for clients; none = the plaintext client port only.
  std::optional<ZkTlsOptions> tls;

  // The JVM options above with a heap of `heap_mib` (benchmarks with large
  // data sets).
  static std::vector<std::string> JvmFlags(int heap_mib);
};

class DaemonProcess;

class ZkEnsemble {
 public:
  // Starts all servers and waits until the ensemble serves.
  static absl::StatusOr<std::unique_ptr<ZkEnsemble>> Start(
      const ZkEnsembleOptions& options);
  ~ZkEnsemble();  // Stop()

  // "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3" (with options.host): the
  // plaintext client ports; empty if TLS left none (tls.plaintext_port).
  std::string ConnectString() const;
  // The same for the TLS ports (secureClientPort); empty without TLS.
  std::string SecureConnectString() const;
  int size() const { return static_cast<int>(servers_.size()); }
  // Server i's plaintext client port; 0 if it has none.
  int ClientPort(int i) const;
  // Server i's TLS client port; 0 without TLS.
  int SecureClientPort(int i) const;
  const std::string& dir() const { return dir_; }

  // Stops server i (SIGTERM, then SIGKILL after 5 s; a paused one is resumed
  // first) / starts it again on the same ports and data dir, waiting until
  // it answers `ruok` (and serves, if a quorum of servers runs).
  absl::Status StopServer(int i);
  absl::Status StartServer(int i);
  // SIGSTOP / SIGCONT of server i (a hung server: connections stay open).
  absl::Status PauseServer(int i);
  absl::Status ResumeServer(int i);
  // Server i has been started and not stopped, and has not exited.
  bool IsRunning(int i) const;

  // Stops every server this object started (all get SIGTERM at once).
  // Idempotent.
  void Stop();

  // A 4-letter-word command ("ruok", "srvr", "mntr") to server i; the reply.
  // Over the plaintext client port, or over TLS (ZkTlsOptions' CA and
  // client certificate) if the server has none.
  absl::StatusOr<std::string> FourLetterWord(int i, const std::string& cmd,
                                             int timeout_ms = 2000) const;
  // One counter of server i's "mntr" reply (e.g. "zk_packets_received");
  // NotFound if the reply has no such line.
  absl::StatusOr<int64_t> MntrValue(int i, const std::string& key) const;

  // The pid of server i's JVM (for CPU/RSS figures), or -1 if not running.
  pid_t ServerPid(int i) const;

 private:
  struct Server {
    int client_port = 0;  // 0: none (TLS only)
    int secure_port = 0;  // 0: no TLS
    int peer_port = 0;
    int election_port = 0;
    std::string dir;
    // Its JVM; set by Start() for every server, never null after it.
    std::unique_ptr<DaemonProcess> process;
  };
  explicit ZkEnsemble(ZkEnsembleOptions options);
  absl::Status WriteConfigs();
  absl::Status Launch(int i);
  absl::Status WaitServing(int i, int timeout_ms);

  ZkEnsembleOptions options_;
  std::string dir_;
  std::vector<Server> servers_;
};

// A 4-letter-word command sent in plaintext to host:port; everything the
// server sent until it closed the connection (FourLetterWord without TLS).
absl::StatusOr<std::string> PlaintextFourLetterWord(const std::string& host,
                                                    int port,
                                                    const std::string& cmd,
                                                    int timeout_ms = 2000);

// Binds port 0 on 127.0.0.1 and returns the port the kernel chose (the socket
// is closed again, so a race with another process is possible; callers retry).
absl::StatusOr<int> PickFreePort();

}  // namespace testing
}  // namespace kess
