#include "tests/harness/zk_ensemble.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "Poco/Base64Encoder.h"
#include "Poco/SHA1Engine.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"

namespace kess {
namespace testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kZkClasspath[] =
    "/usr/share/java/zookeeper.jar:/etc/zookeeper/conf_example";

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() -
                                                               start)
      .count();
}

absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoToStatus(errno, "mkdir " + partial);
      }
    }
  }
  return absl::OkStatus();
}

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
  std::string parent = requested;
  if (parent.empty()) {
    const char* tmp = getenv("TEST_TMPDIR");
    parent = tmp != nullptr ? tmp : "/tmp";
  }
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
    last = zk->WriteConfigs();
    if (!last.ok()) return last;
    for (int i = 0; i < zk->size() && last.ok(); ++i) last = zk->Launch(i);
    for (int i = 0; i < zk->size() && last.ok(); ++i) {
      int64_t remaining = options.start_timeout_ms;
      last = zk->WaitServing(i, static_cast<int>(remaining));
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
  for (Server& s : servers_) {
    KESS_ASSIGN_OR_RETURN(s.client_port, PickFreePort());
    KESS_ASSIGN_OR_RETURN(s.peer_port, PickFreePort());
    KESS_ASSIGN_OR_RETURN(s.election_port, PickFreePort());
  }
  for (int i = 0; i < size(); ++i) {
    Server& s = servers_[i];
    s.dir = absl::StrCat(dir_, "/server", i + 1);
    KESS_RETURN_IF_ERROR(MakeDirs(s.dir + "/data"));
    std::string cfg = absl::StrCat(
        "tickTime=", options_.tick_ms, "\n", "initLimit=20\n", "syncLimit=10\n",
        "dataDir=", s.dir, "/data\n", "clientPort=", s.client_port, "\n",
        "clientPortAddress=", options_.host, "\n", "maxClientCnxns=0\n",
        "admin.enableServer=false\n",
        "4lw.commands.whitelist=ruok,srvr,mntr,stat,cons,wchs\n",
        "autopurge.purgeInterval=0\n");
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
  Server& s = servers_[i];
  if (s.pid > 0) return absl::FailedPreconditionError("server already running");
  std::string cfg = s.dir + "/zoo.cfg";
  std::string log = s.dir + "/zookeeper.log";
  std::vector<std::string> args = {
      "java",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-Djava.net.preferIPv4Stack=true",
      "-Dzookeeper.jmx.log4j.disable=true",
  };
  args.insert(args.end(), options_.jvm_flags.begin(), options_.jvm_flags.end());
  args.push_back("-cp");
  args.push_back(kZkClasspath);
  if (!options_.super_password.empty()) {
    args.push_back("-Dzookeeper.DigestAuthenticationProvider.superDigest=" +
                   SuperDigest(options_.super_password));
  }
  args.push_back("org.apache.zookeeper.server.quorum.QuorumPeerMain");
  args.push_back(cfg);
  args.insert(args.begin(), options_.command_prefix.begin(),
              options_.command_prefix.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    // Child: die with the test process (a crashed or killed test must not
    // leave ZooKeeper behind), own process group, output to the log file.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  s.pid = pid;
  s.paused = false;
  return absl::OkStatus();
}

bool ZkEnsemble::IsRunning(int i) const {
  const Server& s = servers_[i];
  if (s.pid <= 0) return false;
  return waitpid(s.pid, nullptr, WNOHANG) == 0;
}

absl::Status ZkEnsemble::WaitServing(int i, int timeout_ms) {
  Clock::time_point start = Clock::now();
  std::string last_reply;
  while (MillisSince(start) < timeout_ms) {
    Server& s = servers_[i];
    int status = 0;
    if (s.pid > 0 && waitpid(s.pid, &status, WNOHANG) == s.pid) {
      s.pid = -1;
      return absl::UnavailableError(
          absl::StrCat("ZooKeeper server ", i + 1, " of ", options_.name,
                       " exited during start-up (status ", status, "); see ",
                       s.dir, "/zookeeper.log"));
    }
    absl::StatusOr<std::string> reply = FourLetterWord(i, "srvr", 1000);
    if (reply.ok()) {
      last_reply = *reply;
      if (reply->find("Mode: ") != std::string::npos) return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "ZooKeeper server ", i + 1, " of ", options_.name, " not serving after ",
      timeout_ms, " ms (last srvr reply: '", last_reply.substr(0, 100),
      "'); see ", servers_[i].dir, "/zookeeper.log"));
}

absl::Status ZkEnsemble::StopServer(int i) {
  if (i < 0 || i >= size()) return absl::OutOfRangeError("no such server");
  Server& s = servers_[i];
  if (s.pid <= 0) return absl::OkStatus();
  if (s.paused) kill(s.pid, SIGCONT);
  kill(s.pid, SIGTERM);
  Clock::time_point start = Clock::now();
  while (waitpid(s.pid, nullptr, WNOHANG) == 0) {
    if (MillisSince(start) > 5000) {
      kill(s.pid, SIGKILL);
      waitpid(s.pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  s.pid = -1;
  s.paused = false;
  return absl::OkStatus();
}

absl::Status ZkEnsemble::StartServer(int i) {
  if (i < 0 || i >= size()) return absl::OutOfRangeError("no such server");
  KESS_RETURN_IF_ERROR(Launch(i));
  // A lone member of a 3-server ensemble cannot serve until a quorum is up;
  // wait only for the process to answer then.
  Clock::time_point start = Clock::now();
  while (MillisSince(start) < options_.start_timeout_ms) {
    if (!IsRunning(i)) {
      servers_[i].pid = -1;
      return absl::UnavailableError(
          absl::StrCat("ZooKeeper server ", i + 1, " exited; see ",
                       servers_[i].dir, "/zookeeper.log"));
    }
    absl::StatusOr<std::string> reply = FourLetterWord(i, "ruok", 1000);
    if (reply.ok() && *reply == "imok") {
      int up = 0;
      for (int j = 0; j < size(); ++j) up += servers_[j].pid > 0 ? 1 : 0;
      if (up * 2 <= size()) return absl::OkStatus();  // no quorum possible
      return WaitServing(i, options_.start_timeout_ms);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError("ZooKeeper server did not answer ruok");
}

absl::Status ZkEnsemble::PauseServer(int i) {
  if (i < 0 || i >= size() || servers_[i].pid <= 0) {
    return absl::FailedPreconditionError("server not running");
  }
  if (kill(servers_[i].pid, SIGSTOP) != 0) return ErrnoToStatus(errno, "kill");
  servers_[i].paused = true;
  return absl::OkStatus();
}

absl::Status ZkEnsemble::ResumeServer(int i) {
  if (i < 0 || i >= size() || servers_[i].pid <= 0) {
    return absl::FailedPreconditionError("server not running");
  }
  if (kill(servers_[i].pid, SIGCONT) != 0) return ErrnoToStatus(errno, "kill");
  servers_[i].paused = false;
  return absl::OkStatus();
}

void ZkEnsemble::Stop() {
  for (int i = 0; i < size(); ++i) {
    if (servers_[i].pid > 0) {
      if (servers_[i].paused) kill(servers_[i].pid, SIGCONT);
      kill(servers_[i].pid, SIGTERM);
    }
  }
  for (int i = 0; i < size(); ++i) StopServer(i).IgnoreError();
}

int ZkEnsemble::ClientPort(int i) const { return servers_.at(i).client_port; }

std::string ZkEnsemble::ConnectString() const {
  std::vector<std::string> parts;
  for (const Server& s : servers_) {
    parts.push_back(absl::StrCat(options_.host, ":", s.client_port));
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

absl::StatusOr<std::string> ZkEnsemble::FourLetterWord(int i,
                                                       const std::string& cmd,
                                                       int timeout_ms) const {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, options_.host.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address: ", options_.host));
  }
  addr.sin_port = htons(ClientPort(i));
  Clock::time_point start = Clock::now();
  auto fail = [fd](absl::Status s) {
    close(fd);
    return s;
  };
  auto wait_for = [&](short events) -> bool {
    int64_t left = timeout_ms - MillisSince(start);
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    return poll(&p, 1, static_cast<int>(left)) == 1;
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) return fail(ErrnoToStatus(errno, "connect"));
    if (!wait_for(POLLOUT)) return fail(absl::DeadlineExceededError("connect"));
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(ErrnoToStatus(err, "connect"));
  }
  if (send(fd, cmd.data(), cmd.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(cmd.size())) {
    return fail(ErrnoToStatus(errno, "send"));
  }
  std::string reply;
  char buf[4096];
  while (reply.size() < (1 << 20)) {
    if (!wait_for(POLLIN)) return fail(absl::DeadlineExceededError("read"));
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

}  // namespace testing
}  // namespace kess
