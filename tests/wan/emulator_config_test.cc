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

TEST(EmulatorConfigTest, ParsesDcSubnets) {
  auto config = ParseEmulatorConfig(R"(
dc dc1 10.77.1.0/24
dc dc2 10.77.2.0/24   # a DC may have several subnets
dc dc2 192.168.0.0/16
dc dc9 10.78.0.0/16   # a DC without a pair line is still a DC
pair dc1 dc2 delay=10ms
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->subnets.size(), 4u);
  EXPECT_EQ(config->subnets[1].dc, "dc2");
  EXPECT_EQ(config->subnets[1].text, "10.77.2.0/24");
  EXPECT_EQ(config->subnets[1].prefix_length, 24);
  EXPECT_EQ(config->subnets[1].network, 0x0A4D0200u);
  EXPECT_EQ(config->DcOf(0x0A4D0102u), "dc1");  // 10.77.1.2
  EXPECT_EQ(config->DcOf(0x0A4D02FFu), "dc2");  // 10.77.2.255
  EXPECT_EQ(config->DcOf(0xC0A80101u), "dc2");  // 192.168.1.1
  EXPECT_EQ(config->DcOf(0x0A4E0505u), "dc9");  // 10.78.5.5
  EXPECT_EQ(config->DcOf(0x0A4D0302u), "");     // 10.77.3.2
  EXPECT_THAT(config->dcs, ElementsAre("dc1", "dc2", "dc9"));
  auto all = ParseEmulatorConfig("dc world 0.0.0.0/0\n");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->DcOf(0x01020304u), "world");
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
      {"route dc1 dc2 delay=1ms",
       "line 1: unknown directive \"route\" (expected pair, link or dc)"},
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
      {"link transparent dc1 dc1 0 127.0.0.1:1", "\"transparent\" is reserved"},
      {"dc dc1", "line 1: expected `dc <name> <subnet"},
      {"dc dc1 10.0.0.0/8 x", "line 1: expected `dc"},
      {"dc dc/1 10.0.0.0/8", "DC \"dc/1\""},
      {"dc dc1 10.0.0.0", "subnet \"10.0.0.0\" has no /len"},
      {"dc dc1 10.0.0.0/33", "has a length that is not 0..32"},
      {"dc dc1 10.0.0.0/x", "has a length that is not 0..32"},
      {"dc dc1 10.0.0/8", "has no IPv4 address"},
      {"dc dc1 10.77.1.2/24", "has host bits set (10.77.1.0/24?)"},
      {"dc dc1 10.77.0.0/16\ndc dc2 10.77.3.0/24",
       "line 2: subnet 10.77.3.0/24 of dc2 overlaps 10.77.0.0/16 of dc1"},
      {"dc dc1 10.77.3.0/24\ndc dc2 10.0.0.0/8",
       "line 2: subnet 10.0.0.0/8 of dc2 overlaps 10.77.3.0/24 of dc1"},
      {"dc dc1 10.77.3.0/24\ndc dc1 10.77.3.0/24", "overlaps"},
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
