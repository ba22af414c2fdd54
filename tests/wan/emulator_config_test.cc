#include "tests/wan/emulator_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kess {
namespace wan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(EmulatorConfigTest, ParsesPairsAndLinks) {
  auto config = ParseEmulatorConfig(R"(
# three DCs
pair dc1 dc2 delay=10ms,jitter=1ms   # dc2 -> dc1 is the same
pair dc1 dc3 delay=40ms
pair dc3 dc1	delay=45ms,loss=0.01
pair dc1 dc1 delay=1ms

link zk_dc2   dc1 dc2 0     127.0.0.1:2181
link api_dc1  dc3 dc1 17001 localhost:8080
link local    dc2 dc2 0     127.0.0.1:9000
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->Profile("dc1", "dc2")->ToString(), "delay=10ms,jitter=1ms");
  EXPECT_EQ(config->Profile("dc2", "dc1")->ToString(), "delay=10ms,jitter=1ms");
  EXPECT_EQ(config->Profile("dc1", "dc3")->ToString(), "delay=40ms");
  EXPECT_EQ(config->Profile("dc3", "dc1")->ToString(), "delay=45ms,loss=0.01");
  EXPECT_EQ(config->Profile("dc1", "dc1")->ToString(), "delay=1ms");
  EXPECT_EQ(config->Profile("dc2", "dc2")->ToString(), "none");
  EXPECT_EQ(config->Profile("dc2", "dc3").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(config->links.size(), 3u);
  const LinkSpec& api = config->links[1];
  EXPECT_EQ(api.name, "api_dc1");
  EXPECT_EQ(api.client_dc, "dc3");
  EXPECT_EQ(api.server_dc, "dc1");
  EXPECT_EQ(api.listen_port, 17001);
  EXPECT_EQ(api.upstream, "localhost:8080");
  EXPECT_THAT(config->dcs, ElementsAre("dc1", "dc2", "dc3"));
}

TEST(EmulatorConfigTest, EmptyConfigIsValid) {
  auto config = ParseEmulatorConfig("# nothing\n\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->links.empty());
}

TEST(EmulatorConfigTest, ErrorsNameTheLine) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"route dc1 dc2 delay=1ms", "line 1: unknown directive \"route\""},
      {"pair dc1 dc2", "line 1: expected `pair"},
      {"pair dc1 dc2 delay=1ms jitter=1ms", "line 1: expected `pair"},
      {"\npair dc1 dc2 delay=-1ms", "line 2: link profile: delay=-1ms"},
      {"pair dc1 dc2 loss=2", "line 1: link profile: loss=2"},
      {"pair dc1 dc2 delay=1ms\npair dc1 dc2 delay=2ms",
       "line 2: the profile from dc1 to dc2 is given twice"},
      {"pair dc/1 dc2 delay=1ms", "line 1: DC \"dc/1\" has the character '/'"},
      {"link a dc1 dc1 0", "line 1: expected `link"},
      {"link a dc1 dc1 x 127.0.0.1:1", "listen port \"x\" is not 0..65535"},
      {"link a dc1 dc1 70000 127.0.0.1:1", "listen port \"70000\""},
      {"link a dc1 dc1 0 127.0.0.1", "upstream \"127.0.0.1\" is not host:port"},
      {"link a dc1 dc1 0 127.0.0.1:0", "is not host:port"},
      {"link control dc1 dc1 0 127.0.0.1:1", "\"control\" is reserved"},
      {"link a dc1 dc1 0 127.0.0.1:1\nlink a dc1 dc1 0 127.0.0.1:2",
       "line 2: link \"a\" given twice"},
      {"link a dc1 dc1 7000 127.0.0.1:1\nlink b dc1 dc1 7000 127.0.0.1:2",
       "line 2: listen port 7000 is also link a's"},
      {"link a! dc1 dc1 0 127.0.0.1:1", "link name \"a!\""},
      {"pair dc1 dc2 delay=1ms\n\nlink a dc1 dc3 0 127.0.0.1:1",
       "line 3: link a: no pair line gives the profile from dc1 to dc3"},
  };
  for (const auto& c : cases) {
    auto config = ParseEmulatorConfig(c.text);
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.message))
        << c.text;
  }
}

TEST(EmulatorConfigTest, LoadNamesTheFile) {
  auto missing = LoadEmulatorConfig("/nonexistent/wan.conf");
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("/nonexistent/wan.conf"));
}

}  // namespace
}  // namespace wan
}  // namespace kess
