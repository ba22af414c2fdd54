#include "agent/testing/agent_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "Poco/Exception.h"
#include "Poco/Net/HTTPClientSession.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/StreamCopier.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/file_cache/env.h"

namespace kess {
namespace agent {
namespace testing {

bool AgentProcess::Start() {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& a : args_) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log_fd < 0) return false;
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  return pid_ > 0;
}

int AgentProcess::Stop(int sig) {
  if (pid_ <= 0) return 0;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::string Runfile(const std::string& relative) {
  const char* srcdir = getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/kess/" + relative;
}

std::string TestTmpDir() {
  const char* d = getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

namespace {
// Whether `pid` (a child not reaped yet) has exited: gone or a zombie.
bool Exited(pid_t pid) {
  auto stat = file_cache::Env::Default()->ReadFile(
      absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return true;
  const size_t paren = stat->rfind(')');
  return paren == std::string::npos || paren + 2 >= stat->size() ||
         (*stat)[paren + 2] == 'Z';
}
}  // namespace

int WaitForPortFile(const std::string& path, int64_t timeout_ms, pid_t pid) {
  for (int64_t waited = 0; waited <= timeout_ms; waited += 10) {
    auto text = file_cache::Env::Default()->ReadFile(path);
    int port = 0;
    if (text.ok() &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port) &&
        port > 0) {
      return port;
    }
    if (pid > 0 && waited % 100 == 0 && Exited(pid)) return 0;
    usleep(10000);
  }
  return 0;
}

int HttpCall(int port, const std::string& method, const std::string& path,
             const std::string& body, std::string* reply) {
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(30, 0));
    Poco::Net::HTTPRequest request(method, path, "HTTP/1.1");
    request.setContentLength(body.size());
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::ostringstream out;
    Poco::StreamCopier::copyStream(in, out);
    *reply = out.str();
    return response.getStatus();
  } catch (const Poco::Exception& e) {
    *reply = e.displayText();
    return 0;
  }
}

}  // namespace testing
}  // namespace agent
}  // namespace kess
