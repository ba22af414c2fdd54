// The real agent binary and the values of a secret namespace: an earlier
// run left configs/payroll/db_password.json (mode 0600, the plaintext) and
// configs/open/k.json (0644) in the cache. Over loopback TCP the secret
// value is refused (403) while the open one is served; over --api_socket
// root (the agent's user here) reads it and `nobody` is refused, whether
// by GET /v1/configs or by a watch with values.
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "gtest/gtest.h"
#include "model/file_cache/format.h"
#include "tests/harness/daemon_process.h"

namespace kess {
namespace {

using ::kess::testing::DaemonProcess;
using ::kess::testing::Runfile;

constexpr uid_t kNobody = 65534;

std::string TmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

void WriteEntry(const std::string& cache, const std::string& ns,
                const std::string& key, const std::string& value, mode_t mode) {
  file_cache::CacheEntry e;
  e.key = file_cache::CacheKey::Config(ns, key);
  e.revision = 3;
  e.value = value;
  e.content_type = "text/plain";
  for (const std::string& d :
       {cache, cache + "/configs", cache + "/configs/" + ns}) {
    ::mkdir(d.c_str(), 0755);
  }
  const std::string path = cache + "/" + file_cache::RelativePath(e.key);
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  const std::string text = file_cache::EncodeEntry(e);
  ASSERT_EQ(fwrite(text.data(), 1, text.size(), f), text.size());
  fclose(f);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Runs `path` on `address` as uid nobody in a child; its exit code:
// 0 refused with 403 and no value, 10 setuid failed, 11 no answer,
// 12 value leaked, 13 another status.
int AsNobody(const std::string& address, const std::string& path) {
  pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) {
    if (setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(10);
    absl::StatusOr<HttpReply> r = HttpCall(address, "GET", path);
    if (!r.ok()) _exit(11);
    if (r->body.find("hunter2") != std::string::npos) _exit(12);
    _exit(r->status == 403 ? 0 : 13);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(AgentSecretApiTest, SecretValuesOnlyToRootAndTheAgentsUser) {
  const std::string cache = TmpDir() + "/secret-cache";
  WriteEntry(cache, "payroll", "db_password", "hunter2", 0600);
  WriteEntry(cache, "open", "k", "visible", 0644);
  // A short socket path (sun_path) that nobody can reach.
  char made[] = "/tmp/kess-agent-secret-XXXXXX";
  ASSERT_NE(mkdtemp(made), nullptr);
  const std::string dir = made;
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  const std::string socket = dir + "/agent.sock";

  DaemonProcess agent("agent secrets", TmpDir() + "/agent-secrets.log");
  ASSERT_TRUE(agent
                  .Start({Runfile("agent/agent"), "--host_id=h1", "--dc=dc1",
                          "--distributors=127.0.0.1:1",  // not needed here
                          "--insecure_plaintext", "--cache_dir=" + cache,
                          "--http_port=0",
                          "--http_port_file=" + TmpDir() + "/secrets.port",
                          "--api_socket=" + socket, "--api_socket_mode=0666"})
                  .ok());
  absl::StatusOr<int> port =
      agent.WaitForPortFile(TmpDir() + "/secrets.port", absl::Seconds(30));
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string tcp = absl::StrCat("127.0.0.1:", *port);
  const std::string secret = "/v1/configs/payroll/db_password";
  const std::string watch = "/v1/watch?namespace=payroll&timeout=1s";

  // TCP cannot tell the user: refused for everyone, root included.
  for (const std::string& path : {secret, watch}) {
    absl::StatusOr<HttpReply> r = HttpCall(tcp, "GET", path);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 403) << path << ": " << r->body;
    EXPECT_FALSE(absl::StrContains(r->body, "hunter2")) << path;
  }
  absl::StatusOr<HttpReply> open = HttpCall(tcp, "GET", "/v1/configs/open/k");
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ(open->status, 200) << open->body;
  EXPECT_TRUE(absl::StrContains(open->body, "visible")) << open->body;

  // The socket: root (this test and the agent) reads it.
  absl::StatusOr<HttpReply> root = HttpCall("unix:" + socket, "GET", secret);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->status, 200) << root->body;
  EXPECT_TRUE(absl::StrContains(root->body, "hunter2")) << root->body;

  if (geteuid() == 0) {
    pid_t probe = fork();
    ASSERT_GE(probe, 0);
    if (probe == 0) _exit(setgid(kNobody) == 0 && setuid(kNobody) == 0 ? 0 : 1);
    int status = 0;
    ASSERT_EQ(waitpid(probe, &status, 0), probe);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      for (const std::string& address : {tcp, "unix:" + socket}) {
        for (const std::string& path : {secret, watch}) {
          EXPECT_EQ(AsNobody(address, path), 0)
              << address << path
              << " (10: setuid failed, 11: no answer, 12: value leaked, "
                 "13: not 403)";
        }
      }
    }
  }
  agent.Stop();
  ::unlink(socket.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace kess
