#include "agent/check_runner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "glog/logging.h"

extern char** environ;

namespace kess {
namespace agent {

// One run of one check, owned by its Check; reports once through `done`.
class CheckRunner::Probe {
 public:
  using Done = std::function<void(CheckStatus, std::string)>;
  virtual ~Probe() = default;
};

// HTTP and TCP: a non-blocking connect, then (http) one request and the
// answer until the server closes or enough of it arrived.
class CheckRunner::SocketProbe : public CheckRunner::Probe,
                                 public transport::EventLoop::Handler {
 public:
  SocketProbe(transport::EventLoop* loop, const CheckSpec& spec,
              size_t max_output, Done done)
      : loop_(loop), spec_(spec), max_output_(max_output), done_(std::move(done)) {}

  ~SocketProbe() override { Close(); }

  void Start() {
    what_ = spec_.kind == CheckKind::kHttp
                ? absl::StrCat("HTTP GET ", spec_.url)
                : absl::StrCat("TCP connect ", spec_.ip, ":", spec_.port);
    timer_ = loop_->RunAfter(spec_.timeout, [this] {
      timer_ = 0;
      Complete(CheckStatus::kCritical,
               absl::StrCat(what_, ": timed out after ",
                            absl::FormatDuration(spec_.timeout)));
    });
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      Complete(CheckStatus::kCritical,
               absl::StrCat(what_, ": socket: ", strerror(errno)));
      return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(spec_.port));
    inet_pton(AF_INET, spec_.ip.c_str(), &addr.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
        errno != EINPROGRESS) {
      Complete(CheckStatus::kCritical,
               absl::StrCat(what_, ": ", strerror(errno)));
      return;
    }
    absl::Status added = loop_->Add(fd_, EPOLLOUT, this);
    if (!added.ok()) {
      Complete(CheckStatus::kCritical, absl::StrCat(what_, ": ", added.message()));
      return;
    }
    registered_ = true;
  }

  void OnEvents(uint32_t events) override {
    if (finished_) return;
    if (!connected_) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        Complete(CheckStatus::kCritical, absl::StrCat(what_, ": ", strerror(err)));
        return;
      }
      if ((events & EPOLLOUT) == 0) return;
      connected_ = true;
      if (spec_.kind == CheckKind::kTcp) {
        Complete(CheckStatus::kPassing, absl::StrCat(what_, ": success"));
        return;
      }
      request_ = absl::StrCat("GET ", spec_.path, " HTTP/1.0\r\nHost: ",
                              spec_.ip, ":", spec_.port,
                              "\r\nUser-Agent: kess-agent-check\r\n"
                              "Accept: */*\r\nConnection: close\r\n\r\n");
    }
    if (sent_ < request_.size()) {
      ssize_t n = send(fd_, request_.data() + sent_, request_.size() - sent_,
                       MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        Complete(CheckStatus::kCritical,
                 absl::StrCat(what_, ": send: ", strerror(errno)));
        return;
      }
      if (n > 0) sent_ += static_cast<size_t>(n);
      if (sent_ == request_.size()) loop_->Modify(fd_, EPOLLIN, this).IgnoreError();
      return;
    }
    // Reading the answer, until the server closes or enough arrived.
    char buf[4096];
    bool complete = false;
    for (int i = 0; i < 16 && !complete; ++i) {
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        answer_.append(buf, static_cast<size_t>(n));
        complete = answer_.size() >= max_output_ + 8192;
      } else if (n == 0) {
        complete = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if ((events & (EPOLLHUP | EPOLLERR)) == 0) return;  // more to come
        complete = true;
      } else if (answer_.empty()) {
        Complete(CheckStatus::kCritical,
                 absl::StrCat(what_, ": recv: ", strerror(errno)));
        return;
      } else {
        complete = true;
      }
    }
    if (!complete) return;  // the loop calls again
    Judge();
  }

 private:
  void Judge() {
    const size_t eol = answer_.find("\r\n");
    const std::string status_line =
        answer_.substr(0, eol == std::string::npos ? 128 : std::min<size_t>(eol, 128));
    int code = 0;
    if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0 ||
        !absl::SimpleAtoi(status_line.substr(9, 3), &code)) {
      Complete(CheckStatus::kCritical,
               absl::StrCat(what_, ": not an HTTP answer: ",
                            answer_.substr(0, 64)));
      return;
    }
    const size_t head_end = answer_.find("\r\n\r\n");
    std::string body =
        head_end == std::string::npos ? "" : answer_.substr(head_end + 4);
    CheckStatus result;
    if (spec_.expect_status != 0) {
      result = code == spec_.expect_status ? CheckStatus::kPassing
                                           : CheckStatus::kCritical;
    } else if (code >= 200 && code < 300) {
      result = CheckStatus::kPassing;
    } else if (code == 429) {
      result = CheckStatus::kWarning;
    } else {
      result = CheckStatus::kCritical;
    }
    std::string output = absl::StrCat(what_, ": ", status_line.substr(9));
    if (!body.empty()) absl::StrAppend(&output, "\n", body);
    Complete(result, std::move(output));
  }

  void Complete(CheckStatus result, std::string output) {
    if (finished_) return;
    finished_ = true;
    Close();
    Done done = std::move(done_);
    done(result, std::move(output));  // may delete this soon (DeleteSoon)
  }

  void Close() {
    if (timer_ != 0) {
      loop_->CancelTimer(timer_);
      timer_ = 0;
    }
    if (fd_ >= 0) {
      if (registered_) loop_->Remove(fd_);
      close(fd_);
      fd_ = -1;
      registered_ = false;
    }
  }

  transport::EventLoop* const loop_;
  const CheckSpec spec_;
  const size_t max_output_;
  Done done_;
  std::string what_;
  int fd_ = -1;
  bool registered_ = false;
  bool connected_ = false;
  bool finished_ = false;
  std::string request_;
  size_t sent_ = 0;
  std::string answer_;
  transport::EventLoop::TimerId timer_ = 0;
};

// exec: a child in its own process group writing to a pipe.
class CheckRunner::ExecProbe : public CheckRunner::Probe,
                               public transport::EventLoop::Handler {
 public:
  // `add_zombie` takes a killed child that could not be reaped at once.
  ExecProbe(transport::EventLoop* loop, const CheckSpec& spec,
            size_t max_output, Done done, std::function<void(pid_t)> add_zombie)
      : loop_(loop),
        spec_(spec),
        max_output_(max_output),
        done_(std::move(done)),
        add_zombie_(std::move(add_zombie)) {}

  ~ExecProbe() override {
    Close();
    KillChild();
  }

  void Start() {
    timer_ = loop_->RunAfter(spec_.timeout, [this] {
      timer_ = 0;
      Complete(CheckStatus::kCritical,
               absl::StrCat(Output(), Output().empty() ? "" : "\n",
                            "killed: timed out after ",
                            absl::FormatDuration(spec_.timeout)));
    });
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      Complete(CheckStatus::kCritical, absl::StrCat("pipe: ", strerror(errno)));
      return;
    }
    fd_ = fds[0];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    // Every other descriptor is closed in the child, even one opened
    // without O_CLOEXEC by a library (defence in depth; glibc 2.34+).
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
      sigaddset(&defaults, sig);
    }
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                         POSIX_SPAWN_SETSIGDEF |
                                         POSIX_SPAWN_SETPGROUP);
    std::vector<char*> argv;
    for (const std::string& a : spec_.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int err =
        posix_spawn(&pid_, spec_.args[0].c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (err != 0) {
      pid_ = 0;
      Complete(CheckStatus::kCritical,
               absl::StrCat("cannot run ", spec_.args[0], ": ", strerror(err)));
      return;
    }
    absl::Status added = loop_->Add(fd_, EPOLLIN, this);
    if (!added.ok()) {
      Complete(CheckStatus::kCritical, std::string(added.message()));
      return;
    }
    registered_ = true;
  }

  void OnEvents(uint32_t events) override {
    if (finished_) return;
    char buf[4096];
    bool eof = false;
    for (int i = 0; i < 16 && !eof; ++i) {
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n > 0) {
        if (output_.size() < max_output_) {
          output_.append(buf, std::min(static_cast<size_t>(n),
                                       max_output_ - output_.size()));
        }
        continue;  // beyond max_output_ it is drained and dropped
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      eof = true;  // the child (and whoever shared its stdout) closed it
    }
    if (!eof) return;  // the loop calls again
    if (registered_) {
      loop_->Remove(fd_);
      registered_ = false;
    }
    close(fd_);
    fd_ = -1;
    WaitExit();
  }

 private:
  std::string Output() const { return output_; }

  // Reaps the child; until it exits, looks again every 10 ms (the timeout
  // timer bounds it).
  void WaitExit() {
    if (finished_) return;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) {
      poll_timer_ = loop_->RunAfter(absl::Milliseconds(10), [this] {
        poll_timer_ = 0;
        WaitExit();
      });
      return;
    }
    pid_ = 0;
    if (r < 0) {
      Complete(CheckStatus::kCritical,
               absl::StrCat(output_, "\nwaitpid: ", strerror(errno)));
      return;
    }
    CheckStatus result = CheckStatus::kCritical;
    std::string how;
    if (WIFEXITED(status)) {
      const int code = WEXITSTATUS(status);
      result = code == 0   ? CheckStatus::kPassing
               : code == 1 ? CheckStatus::kWarning
                           : CheckStatus::kCritical;
      if (code != 0) how = absl::StrCat("exit status ", code);
    } else if (WIFSIGNALED(status)) {
      how = absl::StrCat("killed by signal ", WTERMSIG(status));
    }
    std::string output = output_;
    if (!how.empty()) {
      absl::StrAppend(&output, output.empty() ? "" : "\n", how);
    }
    Complete(result, std::move(output));
  }

  void Complete(CheckStatus result, std::string output) {
    if (finished_) return;
    finished_ = true;
    Close();
    KillChild();
    Done done = std::move(done_);
    done(result, std::move(output));
  }

  void Close() {
    if (timer_ != 0) {
      loop_->CancelTimer(timer_);
      timer_ = 0;
    }
    if (poll_timer_ != 0) {
      loop_->CancelTimer(poll_timer_);
      poll_timer_ = 0;
    }
    if (fd_ >= 0) {
      if (registered_) loop_->Remove(fd_);
      registered_ = false;
      close(fd_);
      fd_ = -1;
    }
  }

  // A child still running (timed out, or the check was removed) is killed
  // with its group; if it cannot be reaped at once the runner reaps it later.
  void KillChild() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGKILL);
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) add_zombie_(pid_);
    pid_ = 0;
  }

  transport::EventLoop* const loop_;
  const CheckSpec spec_;
  const size_t max_output_;
  Done done_;
  const std::function<void(pid_t)> add_zombie_;
  pid_t pid_ = 0;
  int fd_ = -1;
  bool registered_ = false;
  bool finished_ = false;
  std::string output_;
  transport::EventLoop::TimerId timer_ = 0;
  transport::EventLoop::TimerId poll_timer_ = 0;
};

std::string CheckRunner::CleanOutput(const std::string& text,
                                     size_t max_bytes) {
  std::string out = text.substr(0, max_bytes);
  for (char& c : out) {
    if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n')) c = '?';
  }
  return out;
}

absl::StatusOr<std::unique_ptr<CheckRunner>> CheckRunner::Create(
    CheckRunnerOptions options, ResultFn on_result) {
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<transport::EventLoop> loop,
                        transport::EventLoop::Create("kess-checks"));
  return std::unique_ptr<CheckRunner>(
      new CheckRunner(options, std::move(on_result), std::move(loop)));
}

CheckRunner::CheckRunner(CheckRunnerOptions options, ResultFn on_result,
                         std::unique_ptr<transport::EventLoop> loop)
    : options_(options),
      on_result_(std::move(on_result)),
      registry_(options.registry != nullptr ? options.registry
                                            : &metrics::Registry::Default()),
      random_(static_cast<uint32_t>(transport::EventLoop::NowMs())),
      loop_(std::move(loop)) {}

CheckRunner::~CheckRunner() {
  absl::Notification done;
  loop_->Post([&] {
    for (auto& [id, check] : checks_) Stop(check);
    checks_.clear();
    if (reap_timer_ != 0) loop_->CancelTimer(reap_timer_);
    // Killed with SIGKILL: each exits at once; none is left a zombie.
    for (pid_t pid : zombies_) waitpid(pid, nullptr, 0);
    done.Notify();
  });
  done.WaitForNotification();
  loop_.reset();
}

void CheckRunner::Add(const CheckSpec& spec) {
  loop_->Post([this, spec] {
    Check& check = checks_[spec.id];
    Stop(check);
    check.spec = spec;
    check.generation = next_generation_++;
    if (spec.kind == CheckKind::kTtl) {
      Schedule(check, spec.ttl);
      return;
    }
    const int64_t spread_ms = std::max<int64_t>(
        1, absl::ToInt64Milliseconds(std::min(spec.interval, absl::Seconds(2))));
    std::uniform_int_distribution<int64_t> first(0, spread_ms - 1);
    Schedule(check, absl::Milliseconds(first(random_)));
  });
}

void CheckRunner::Remove(const std::string& id) {
  loop_->Post([this, id] {
    auto it = checks_.find(id);
    if (it == checks_.end()) return;
    Stop(it->second);
    checks_.erase(it);
  });
}

void CheckRunner::Renew(const std::string& id) {
  loop_->Post([this, id] {
    auto it = checks_.find(id);
    if (it == checks_.end() || it->second.spec.kind != CheckKind::kTtl) return;
    Check& check = it->second;
    if (check.timer != 0) loop_->CancelTimer(check.timer);
    check.timer = 0;
    Schedule(check, check.spec.ttl);
  });
}

void CheckRunner::Flush() {
  absl::Notification done;
  loop_->Post([&] { done.Notify(); });
  done.WaitForNotification();
}

void CheckRunner::Schedule(Check& check, absl::Duration delay) {
  const std::string id = check.spec.id;
  const uint64_t generation = check.generation;
  check.timer = loop_->RunAfter(delay, [this, id, generation] {
    auto it = checks_.find(id);
    if (it == checks_.end() || it->second.generation != generation) return;
    it->second.timer = 0;
    Run(id, generation);
  });
}

void CheckRunner::Run(const std::string& id, uint64_t generation) {
  Check& check = checks_[id];
  if (check.spec.kind == CheckKind::kTtl) {
    Finish(id, generation, CheckStatus::kCritical,
           absl::StrCat("TTL of ", absl::FormatDuration(check.spec.ttl),
                        " expired: no update from the application"));
    return;  // the next Renew starts the clock again
  }
  Schedule(check, check.spec.interval);
  if (check.running != nullptr) return;  // cannot happen: timeout < interval
  auto done = [this, id, generation](CheckStatus result, std::string output) {
    Finish(id, generation, result, std::move(output));
  };
  if (check.spec.kind == CheckKind::kExec) {
    auto probe = std::make_unique<ExecProbe>(
        loop_.get(), check.spec, options_.max_output_bytes, done,
        [this](pid_t pid) { AddZombie(pid); });
    ExecProbe* raw = probe.get();
    check.running = std::move(probe);
    raw->Start();
  } else {
    auto probe = std::make_unique<SocketProbe>(
        loop_.get(), check.spec, options_.max_output_bytes, done);
    SocketProbe* raw = probe.get();
    check.running = std::move(probe);
    raw->Start();
  }
}

void CheckRunner::Finish(const std::string& id, uint64_t generation,
                         CheckStatus result, std::string output) {
  auto it = checks_.find(id);
  if (it == checks_.end() || it->second.generation != generation) return;
  Check& check = it->second;
  // The probe may be on the stack: delete it after this event batch.
  if (check.running != nullptr) loop_->DeleteSoon(std::move(check.running));
  registry_
      ->GetCounter("kess_agent_check_runs_total",
                   "Health-check results, by kind and result.",
                   {{"kind", CheckKindName(check.spec.kind)},
                    {"result", CheckStatusName(result)}})
      ->Increment();
  on_result_(id, result, CleanOutput(output, options_.max_output_bytes));
}

void CheckRunner::Stop(Check& check) {
  if (check.timer != 0) loop_->CancelTimer(check.timer);
  check.timer = 0;
  check.running.reset();  // closes its socket, kills its child
}

void CheckRunner::AddZombie(pid_t pid) {
  zombies_.insert(pid);
  if (reap_timer_ == 0) {
    reap_timer_ = loop_->RunAfter(absl::Milliseconds(100), [this] {
      reap_timer_ = 0;
      Reap();
    });
  }
}

void CheckRunner::Reap() {
  for (auto it = zombies_.begin(); it != zombies_.end();) {
    if (waitpid(*it, nullptr, WNOHANG) != 0) {
      it = zombies_.erase(it);
    } else {
      ++it;
    }
  }
  if (!zombies_.empty()) {
    reap_timer_ = loop_->RunAfter(absl::Milliseconds(100), [this] {
      reap_timer_ = 0;
      Reap();
    });
  }
}

}  // namespace agent
}  // namespace kess
