#include "tests/harness/run_command.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace kess {
namespace testing {
namespace {

TEST(RunCommandTest, CapturesStdoutAndExitCode) {
  absl::StatusOr<CommandResult> r = RunCommand(
      {"sh", "-c", "echo out; echo err >&2; exit 3"}, absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(RunCommandTest, ExecFailureIs127) {
  absl::StatusOr<CommandResult> r =
      RunCommand({"/nonexistent/kess-binary"}, absl::Seconds(30));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 127);
}

TEST(RunCommandTest, KilledAtTheTimeout) {
  absl::StatusOr<CommandResult> r = RunCommand(
      {"sh", "-c", "echo started; exec sleep 60"}, absl::Milliseconds(300));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("started"), std::string::npos);
}

TEST(RunCommandTest, StdoutClosedButStillRunningIsKilledToo) {
  absl::StatusOr<CommandResult> r = RunCommand(
      {"sh", "-c", "exec >&-; exec sleep 60"}, absl::Milliseconds(300));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
}

TEST(RunCommandTest, EmptyArgvIsInvalid) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(RunCommand({}, absl::Seconds(1)).status()));
}

}  // namespace
}  // namespace testing
}  // namespace kess
