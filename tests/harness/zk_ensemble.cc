#include "tests/harness/zk_ensemble.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "Poco/Base64Encoder.h"
#include "Poco/SHA1Engine.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"
#include "tests/harness/daemon_process.h"

namespace kess {
namespace testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kZkClasspath[] =
    "/usr/share/java/zookeeper.jar:/etc/zookeeper/conf_example";
constexpr char kZkTlsClasspath[] =
    "/usr/share/java/netty-codec.jar:/usr/share/java/slf4j-simple.jar";
// How often start-up asks a server (a 4-letter word is a TCP connection).
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
// SIGTERM to SIGKILL when a server is stopped.
constexpr absl::Duration kStopGrace = absl::Seconds(5);

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

// "super:" + base64(sha1("super:<password>")), ZooKeeper's digest format.
std::string SuperDigest(const std::string& password) {
  Poco::SHA1Engine sha1;
  sha1.update("super:" + password);
  const Poco::DigestEngine::Digest& d = sha1.digest();
  std::ostringstream b64;
  Poco::Base64Encoder enc(b64);
  enc.write(reinterpret_cast<const char*>(d.data()), d.size());
  enc.close();
  return "super:" + b64.str();
}

std::string FreshBaseDir(const std::string& requested,
                         const std::string& name) {
  const std::string parent = requested.empty() ? TestTmpDir() : requested;
  std::string templ = parent + "/" + name + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    PLOG(ERROR) << "mkdtemp " << templ;
    return templ.substr(0, templ.size() - 7);
  }
  return buf.data();
}

}  // namespace

std::vector<std::string> ZkEnsembleOptions::JvmFlags(int heap_mib) {
  return {absl::StrCat("-Xmx", heap_mib, "m"),
          "-Dzookeeper.maxResponseCacheSize=32",
          "-Dzookeeper.maxGetChildrenResponseCacheSize=32"};
}

absl::StatusOr<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

ZkEnsemble::ZkEnsemble(ZkEnsembleOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ZkEnsemble>> ZkEnsemble::Start(
    const ZkEnsembleOptions& options) {
  if (options.servers != 1 && options.servers != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("servers must be 1 or 3, got ", options.servers));
  }
  // A port picked here may be taken by another process before ZooKeeper
  // binds it; then the server exits early and we try again with new ports.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<ZkEnsemble> zk(new ZkEnsemble(options));
    zk->dir_ = FreshBaseDir(options.base_dir, options.name);
    zk->servers_.resize(options.servers);
    for (int i = 0; i < zk->size(); ++i) {
      Server& s = zk->servers_[i];
      s.dir = absl::StrCat(zk->dir_, "/server", i + 1);
      s.process = std::make_unique<DaemonProcess>(
          absl::StrCat("ZooKeeper server ", i + 1, " of ", options.name),
          s.dir + "/zookeeper.log");
    }
    last = zk->WriteConfigs();
    if (!last.ok()) return last;
    for (int i = 0; i < zk->size() && last.ok(); ++i) last = zk->Launch(i);
    for (int i = 0; i < zk->size() && last.ok(); ++i) {
      last = zk->WaitServing(i, options.start_timeout_ms);
    }
    if (last.ok()) {
      LOG(INFO) << "ZooKeeper ensemble " << options.name << " serving at "
                << zk->ConnectString() << " (dir " << zk->dir_ << ")";
      return zk;
    }
    LOG(WARNING) << "ZooKeeper ensemble " << options.name << " attempt "
                 << attempt + 1 << " failed: " << last;
    zk->Stop();
  }
  return last;
}

ZkEnsemble::~ZkEnsemble() { Stop(); }

absl::Status ZkEnsemble::WriteConfigs() {
  const ZkTlsOptions* tls = options_.tls ? &*options_.tls : nullptr;
  for (Server& s : servers_) {
    s.client_port = 0;
    s.secure_port = 0;
    if (tls == nullptr || tls->plaintext_port) {
      KESS_ASSIGN_OR_RETURN(s.client_port, PickFreePort());
    }
    if (tls != nullptr) {
      KESS_ASSIGN_OR_RETURN(s.secure_port, PickFreePort());
    }
    KESS_ASSIGN_OR_RETURN(s.peer_port, PickFreePort());
    KESS_ASSIGN_OR_RETURN(s.election_port, PickFreePort());
  }
  for (int i = 0; i < size(); ++i) {
    Server& s = servers_[i];
    std::error_code error;
    std::filesystem::create_directories(s.dir + "/data", error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("mkdir ", s.dir, "/data: ", error.message()));
    }
    std::string cfg = absl::StrCat(
        "tickTime=", options_.tick_ms, "\n", "initLimit=20\n", "syncLimit=10\n",
        "dataDir=", s.dir, "/data\n", "maxClientCnxns=0\n",
        "admin.enableServer=false\n",
        "4lw.commands.whitelist=ruok,srvr,mntr,stat,cons,wchs\n",
        "autopurge.purgeInterval=0\n");
    if (s.client_port != 0) {
      absl::StrAppend(&cfg, "clientPort=", s.client_port, "\n",
                      "clientPortAddress=", options_.host, "\n");
    }
    if (tls != nullptr) {
      // The settings of deploy/stunnel/zoo-tls.cfg.
      absl::StrAppend(
          &cfg, "secureClientPort=", s.secure_port, "\n",
          "secureClientPortAddress=", options_.host, "\n",
          "serverCnxnFactory=org.apache.zookeeper.server."
          "NettyServerCnxnFactory\n",
          "ssl.keyStore.location=", tls->keystore_pem, "\n",
          "ssl.keyStore.type=PEM\n", "ssl.trustStore.location=",
          tls->truststore_pem, "\n", "ssl.trustStore.type=PEM\n",
          "ssl.clientAuth=", tls->client_auth ? "need" : "none", "\n",
          "ssl.protocol=TLSv1.3\n", "ssl.enabledProtocols=TLSv1.3,TLSv1.2\n",
          "ssl.ciphersuites=TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,"
          "TLS_CHACHA20_POLY1305_SHA256,"
          "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
          "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n");
    }
    if (size() > 1) {
      for (int j = 0; j < size(); ++j) {
        absl::StrAppend(&cfg, "server.", j + 1, "=", options_.host, ":",
                        servers_[j].peer_port, ":", servers_[j].election_port,
                        "\n");
      }
      KESS_RETURN_IF_ERROR(
          WriteFile(s.dir + "/data/myid", absl::StrCat(i + 1, "\n")));
    }
    KESS_RETURN_IF_ERROR(WriteFile(s.dir + "/zoo.cfg", cfg));
  }
  return absl::OkStatus();
}

absl::Status ZkEnsemble::Launch(int i) {
  const Server& s = servers_[i];
  std::vector<std::string> args = options_.command_prefix;
  args.insert(args.end(), {
                              "java",
                              "-XX:+UseSerialGC",
                              "-XX:TieredStopAtLevel=1",
                              "-Djava.net.preferIPv4Stack=true",
                              "-Dzookeeper.jmx.log4j.disable=true",
                          });
  args.insert(args.end(), options_.jvm_flags.begin(), options_.jvm_flags.end());
  args.push_back("-cp");
  // Debian's zookeeper.jar leaves Netty's codec out of its Class-Path, and
  // the Netty connection factory (TLS) needs it; its handshake failures are
  // only visible with a logger bound (slf4j-simple: stderr, the log file).
  args.push_back(options_.tls ? absl::StrCat(kZkClasspath, ":", kZkTlsClasspath)
                              : kZkClasspath);
  if (!options_.super_password.empty()) {
    args.push_back("-Dzookeeper.DigestAuthenticationProvider.superDigest=" +
                   SuperDigest(options_.super_password));
  }
  args.push_back("org.apache.zookeeper.server.quorum.QuorumPeerMain");
  args.push_back(s.dir + "/zoo.cfg");
  return s.process->Start(std::move(args));
}

bool ZkEnsemble::IsRunning(int i) const {
  // Exited() only reaps an exit that has happened; what the ensemble reports
  // stays the same.
  return !servers_.at(i).process->Exited();
}

pid_t ZkEnsemble::ServerPid(int i) const {
  return servers_.at(i).process->pid();
}

absl::Status ZkEnsemble::WaitServing(int i, int timeout_ms) {
  DaemonProcess& process = *servers_[i].process;
  std::string last_reply;
  bool exited = false;
  const bool serving = WaitFor(
      [&] {
        if (process.Exited()) {
          exited = true;
          return true;
        }
        absl::StatusOr<std::string> reply = FourLetterWord(i, "srvr", 1000);
        if (!reply.ok()) return false;
        last_reply = *reply;
        return reply->find("Mode: ") != std::string::npos;
      },
      absl::Milliseconds(timeout_ms), kPollInterval);
  if (exited) {
    return absl::UnavailableError(absl::StrCat(
        process.name(), " exited during start-up (wait status ",
        process.wait_status(), "); see ", process.log_path()));
  }
  if (serving) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      process.name(), " not serving after ", timeout_ms,
      " ms (last srvr reply: '", last_reply.substr(0, 100), "'); see ",
      process.log_path()));
}

absl::Status ZkEnsemble::StopServer(int i) {
  if (i < 0 || i >= size()) return absl::OutOfRangeError("no such server");
  servers_[i].process->Stop(kStopGrace);
  return absl::OkStatus();
}

absl::Status ZkEnsemble::StartServer(int i) {
  if (i < 0 || i >= size()) return absl::OutOfRangeError("no such server");
  KESS_RETURN_IF_ERROR(Launch(i));
  // A lone member of a 3-server ensemble cannot serve until a quorum is up;
  // wait only for the process to answer then.
  DaemonProcess& process = *servers_[i].process;
  bool exited = false;
  const bool answered = WaitFor(
      [&] {
        if (process.Exited()) {
          exited = true;
          return true;
        }
        absl::StatusOr<std::string> reply = FourLetterWord(i, "ruok", 1000);
        return reply.ok() && *reply == "imok";
      },
      absl::Milliseconds(options_.start_timeout_ms), kPollInterval);
  if (exited) {
    return absl::UnavailableError(absl::StrCat(
        process.name(), " exited (wait status ", process.wait_status(),
        "); see ", process.log_path()));
  }
  if (!answered) {
    return absl::DeadlineExceededError(
        absl::StrCat(process.name(), " did not answer ruok; see ",
                     process.log_path()));
  }
  int up = 0;
  for (const Server& s : servers_) up += s.process->running() ? 1 : 0;
  if (up * 2 <= size()) return absl::OkStatus();  // no quorum possible
  return WaitServing(i, options_.start_timeout_ms);
}

absl::Status ZkEnsemble::PauseServer(int i) {
  if (i < 0 || i >= size() || !servers_[i].process->running()) {
    return absl::FailedPreconditionError("server not running");
  }
  return servers_[i].process->Pause();
}

absl::Status ZkEnsemble::ResumeServer(int i) {
  if (i < 0 || i >= size() || !servers_[i].process->running()) {
    return absl::FailedPreconditionError("server not running");
  }
  return servers_[i].process->Resume();
}

void ZkEnsemble::Stop() {
  // SIGTERM to all first: a quorum shuts down in parallel.
  for (Server& s : servers_) s.process->Terminate();
  for (int i = 0; i < size(); ++i) StopServer(i).IgnoreError();
}

int ZkEnsemble::ClientPort(int i) const { return servers_.at(i).client_port; }

int ZkEnsemble::SecureClientPort(int i) const {
  return servers_.at(i).secure_port;
}

std::string ZkEnsemble::ConnectString() const {
  std::vector<std::string> parts;
  for (const Server& s : servers_) {
    if (s.client_port == 0) continue;
    parts.push_back(absl::StrCat(options_.host, ":", s.client_port));
  }
  return absl::StrJoin(parts, ",");
}

std::string ZkEnsemble::SecureConnectString() const {
  std::vector<std::string> parts;
  for (const Server& s : servers_) {
    if (s.secure_port == 0) continue;
    parts.push_back(absl::StrCat(options_.host, ":", s.secure_port));
  }
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<int64_t> ZkEnsemble::MntrValue(int i,
                                              const std::string& key) const {
  KESS_ASSIGN_OR_RETURN(std::string mntr, FourLetterWord(i, "mntr"));
  for (absl::string_view line : absl::StrSplit(mntr, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t');
    int64_t v = 0;
    if (f.size() == 2 && f[0] == key && absl::SimpleAtoi(f[1], &v)) return v;
  }
  return absl::NotFoundError(absl::StrCat("mntr has no ", key));
}

namespace {

int64_t MillisUntil(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                               Clock::now())
      .count();
}

// Waits for `events` on fd until `deadline`.
bool PollUntil(int fd, short events, Clock::time_point deadline) {
  const int64_t left = MillisUntil(deadline);
  if (left <= 0) return false;
  pollfd p{fd, events, 0};
  return poll(&p, 1, static_cast<int>(left)) == 1;
}

// A connected non-blocking TCP socket to host:port (IPv4), or an error once
// `deadline` passes.
absl::StatusOr<int> ConnectBefore(const std::string& host, int port,
                                  Clock::time_point deadline) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address: ", host));
  }
  addr.sin_port = htons(port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status error;
    if (errno != EINPROGRESS) {
      error = ErrnoToStatus(errno, "connect");
    } else if (!PollUntil(fd, POLLOUT, deadline)) {
      error = absl::DeadlineExceededError("connect");
    } else {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) error = ErrnoToStatus(err, "connect");
    }
    if (!error.ok()) {
      close(fd);
      return error;
    }
  }
  return fd;
}

// The pending OpenSSL errors as text (and clears them).
std::string SslErrors() {
  std::string text;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    absl::StrAppend(&text, text.empty() ? "" : "; ", buf);
  }
  return text.empty() ? "no OpenSSL error" : text;
}

// `cmd` over TLS on a connected socket: handshake (the server's chain
// checked against tls.ca_pem, tls's client certificate presented), then
// everything the server sends until it closes. Takes ownership of fd.
absl::StatusOr<std::string> TlsFourLetterWord(int fd, const ZkTlsOptions& tls,
                                              const std::string& cmd,
                                              Clock::time_point deadline) {
  // Blocking I/O bounded by socket timeouts: the time left, re-armed before
  // every call.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  auto arm = [fd, deadline]() -> bool {
    const int64_t left = MillisUntil(deadline);
    if (left <= 0) return false;
    timeval tv{static_cast<time_t>(left / 1000),
               static_cast<suseconds_t>(left % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return true;
  };
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(
      SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(nullptr, SSL_free);
  auto fail = [&](const std::string& what) {
    close(fd);
    return absl::UnavailableError(absl::StrCat(what, ": ", SslErrors()));
  };
  if (ctx == nullptr) return fail("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_pem.c_str(), nullptr) !=
      1) {
    return fail("CA " + tls.ca_pem);
  }
  if (!tls.client_cert_pem.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx.get(),
                                          tls.client_cert_pem.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), tls.client_key_pem.c_str(),
                                   SSL_FILETYPE_PEM) != 1)) {
    return fail("client certificate " + tls.client_cert_pem);
  }
  ssl.reset(SSL_new(ctx.get()));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), fd) != 1) return fail("SSL_new");
  if (!arm() || SSL_connect(ssl.get()) != 1) return fail("TLS handshake");
  if (!arm() || SSL_write(ssl.get(), cmd.data(), static_cast<int>(cmd.size())) !=
                    static_cast<int>(cmd.size())) {
    return fail("TLS write");
  }
  std::string reply;
  char buf[4096];
  while (reply.size() < (1 << 20)) {
    if (!arm()) return fail("TLS read: deadline");
    const int n = SSL_read(ssl.get(), buf, sizeof(buf));
    if (n > 0) {
      reply.append(buf, n);
      continue;
    }
    const int error = SSL_get_error(ssl.get(), n);
    // The server closes the connection after its answer, with or without
    // a close_notify.
    if (error == SSL_ERROR_ZERO_RETURN ||
        (error == SSL_ERROR_SYSCALL && errno == 0) ||
        (error == SSL_ERROR_SSL && !reply.empty())) {
      break;
    }
    return fail(absl::StrCat("TLS read (", error, ")"));
  }
  ssl.reset();
  close(fd);
  return reply;
}

}  // namespace

absl::StatusOr<std::string> PlaintextFourLetterWord(const std::string& host,
                                                    int port,
                                                    const std::string& cmd,
                                                    int timeout_ms) {
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(timeout_ms);
  KESS_ASSIGN_OR_RETURN(int fd, ConnectBefore(host, port, deadline));
  auto fail = [fd](absl::Status s) {
    close(fd);
    return s;
  };
  if (send(fd, cmd.data(), cmd.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(cmd.size())) {
    return fail(ErrnoToStatus(errno, "send"));
  }
  std::string reply;
  char buf[4096];
  while (reply.size() < (1 << 20)) {
    if (!PollUntil(fd, POLLIN, deadline)) {
      return fail(absl::DeadlineExceededError("read"));
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return fail(ErrnoToStatus(errno, "read"));
    }
    reply.append(buf, n);
  }
  close(fd);
  return reply;
}

absl::StatusOr<std::string> ZkEnsemble::FourLetterWord(int i,
                                                       const std::string& cmd,
                                                       int timeout_ms) const {
  if (ClientPort(i) != 0 || !options_.tls.has_value()) {
    return PlaintextFourLetterWord(options_.host, ClientPort(i), cmd,
                                   timeout_ms);
  }
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(timeout_ms);
  KESS_ASSIGN_OR_RETURN(
      int fd, ConnectBefore(options_.host, SecureClientPort(i), deadline));
  return TlsFourLetterWord(fd, *options_.tls, cmd, deadline);
}

}  // namespace testing
}  // namespace kess
