// `kessctl certs init`: the files, their modes, the refusal to overwrite,
// and that what it writes makes working TLS contexts.
#include <sys/stat.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/tls/tls_context.h"
#include "gtest/gtest.h"
#include "kessctl/client.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {
namespace {

struct Result {
  int code;
  std::string out, err;
};

Result RunCommand(const std::vector<std::string>& args, const Options& options) {
  std::istringstream in;
  std::ostringstream out, err;
  Io io{&in, &out, &err};
  Result r;
  r.code = RunKessctl(args, options, io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::string NewDir() {
  std::string pattern =
      absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                   "/certs_XXXXXX");
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern + "/tls";  // created by the command
}

int ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

TEST(CertsCommandTest, InitWritesUsableFilesOnce) {
  Options options;
  options.certs_dir = NewDir();
  options.cluster = "prod";
  options.hosts = {"kess-1.example", "127.1.2.3"};
  options.days = 30;
  Result r = RunCommand({"certs", "init"}, options);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("ca.pem"), std::string::npos);
  EXPECT_EQ(ModeOf(options.certs_dir), 0700);
  EXPECT_EQ(ModeOf(options.certs_dir + "/ca.key"), 0600);
  for (const char* role : {"mandator", "distributor", "agent", "client"}) {
    EXPECT_EQ(ModeOf(absl::StrCat(options.certs_dir, "/", role, ".key")), 0600);
    EXPECT_EQ(ModeOf(absl::StrCat(options.certs_dir, "/", role, ".pem")), 0644);
  }
  EXPECT_EQ(ModeOf(options.certs_dir + "/hosts/kess-1.example.key"), 0600);
  EXPECT_EQ(ModeOf(options.certs_dir + "/hosts/127.1.2.3.pem"), 0644);

  tls::TlsOptions tls_options;
  tls_options.cert_file = options.certs_dir + "/mandator.pem";
  tls_options.key_file = options.certs_dir + "/mandator.key";
  tls_options.ca_file = options.certs_dir + "/ca.pem";
  tls_options.reload_interval = absl::ZeroDuration();
  EXPECT_TRUE(tls::TlsContext::Create(tls::TlsSide::kServer, tls_options).ok());

  // Again: refused, nothing changed; with --force: rewritten.
  r = RunCommand({"certs", "init"}, options);
  EXPECT_EQ(r.code, kExitConflict);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  options.force = true;
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitOk);
}

TEST(CertsCommandTest, UsageErrors) {
  Options options;
  options.certs_dir = NewDir();
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitUsage);  // no cluster
  options.cluster = "c";
  EXPECT_EQ(RunCommand({"certs"}, options).code, kExitUsage);
  EXPECT_EQ(RunCommand({"certs", "make"}, options).code, kExitUsage);
  options.days = 0;
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitUsage);
  options.days = 1;
  options.hosts = {"a/b"};
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitInvalid);
  EXPECT_EQ(ModeOf(options.certs_dir), -1);  // nothing written
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
