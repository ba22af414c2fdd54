// The agent's local API and its address: plain HTTP on loopback; a
// non-loopback --http_host refused at start unless HTTPS is configured
// for it (--http_tls_cert/--http_tls_key, a server certificate of its own)
// or --http_insecure_plaintext is given; with HTTPS the TCP API answers
// over TLS only.
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/tls/testing/test_certs.h"
#include "gtest/gtest.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/run_command.h"

namespace kess {
namespace {

using ::kess::testing::DaemonProcess;
using ::kess::testing::RunCommand;
using ::kess::testing::Runfile;

std::string TmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::vector<std::string> AgentArgs(const std::string& name,
                                   const std::string& ca) {
  return {Runfile("agent/agent"),
          "--host_id=" + name,
          "--dc=dc1",
          "--distributors=127.0.0.1:1",  // nothing there; not needed here
          "--tls_ca=" + ca,
          "--cache_dir=" + TmpDir() + "/" + name,
          "--http_port=0",
          "--http_port_file=" + TmpDir() + "/" + name + ".port"};
}

// A documentation address (TEST-NET-1) that nothing here can bind: an
// agent refused by the address rule exits with status 2 before binding;
// one that passes the rule fails later, at the bind.
constexpr char kNonLoopback[] = "--http_host=192.0.2.1";

TEST(AgentApiTlsTest, ANonLoopbackAddressNeedsHttpsOrAnExplicitPlaintext) {
  absl::StatusOr<tls::testing::TestCerts> certs =
      tls::testing::TestCerts::Create("agent-api");
  ASSERT_TRUE(certs.ok()) << certs.status();
  std::vector<std::string> args = AgentArgs("refused", certs->ca());
  args.push_back(kNonLoopback);
  absl::StatusOr<testing::CommandResult> run =
      RunCommand(args, absl::Seconds(30));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 2) << "an agent would serve plain HTTP there";
  // Told explicitly: past the rule (then the bind fails, not the rule).
  for (const std::string& explicit_flag :
       {std::string("--http_insecure_plaintext"),
        "--http_tls_cert=" + certs->cert("distributor")}) {
    SCOPED_TRACE(explicit_flag);
    args = AgentArgs("told", certs->ca());
    args.push_back(kNonLoopback);
    args.push_back(explicit_flag);
    if (absl::StartsWith(explicit_flag, "--http_tls_cert")) {
      args.push_back("--http_tls_key=" + certs->key("distributor"));
    }
    run = RunCommand(args, absl::Seconds(30));
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_NE(run->exit_code, 2) << "refused although told explicitly";
    EXPECT_NE(run->exit_code, 0) << "192.0.2.1 cannot be bound here";
  }
}

TEST(AgentApiTlsTest, WithACertificateTheTcpApiIsHttpsOnly) {
  absl::StatusOr<tls::testing::TestCerts> certs =
      tls::testing::TestCerts::Create("agent-api");
  ASSERT_TRUE(certs.ok()) << certs.status();
  std::vector<std::string> args = AgentArgs("https", certs->ca());
  args.push_back("--http_host=127.0.0.1");
  args.push_back("--http_tls_cert=" + certs->cert("distributor"));
  args.push_back("--http_tls_key=" + certs->key("distributor"));
  DaemonProcess agent("agent https", TmpDir() + "/agent-https.log");
  ASSERT_TRUE(agent.Start(args).ok());
  absl::StatusOr<int> port =
      agent.WaitForPortFile(TmpDir() + "/https.port", absl::Seconds(30));
  ASSERT_TRUE(port.ok()) << port.status();
  HttpCallOptions options;
  options.ca_file = certs->ca();
  absl::StatusOr<HttpReply> reply =
      HttpCall(absl::StrCat("https://127.0.0.1:", *port), "GET", "/v1/status",
               "", options);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200) << reply->body;
  absl::StatusOr<HttpReply> plain =
      HttpCall(absl::StrCat("127.0.0.1:", *port), "GET", "/v1/status");
  EXPECT_TRUE(!plain.ok() || plain->status == 400)
      << "the TLS port answered plain HTTP: " << plain->body;
  agent.Stop();
}

}  // namespace
}  // namespace kess
