#include "tests/wan/link_profile.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kess {
namespace wan {
namespace {

using ::testing::HasSubstr;

TEST(LinkProfileTest, ParsesEveryKey) {
  auto p = ParseLinkProfile("delay=25ms,jitter=5ms,loss=0.01,bw=1mbit");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->delay, absl::Milliseconds(25));
  EXPECT_EQ(p->jitter, absl::Milliseconds(5));
  EXPECT_DOUBLE_EQ(p->loss, 0.01);
  EXPECT_EQ(p->bandwidth_bps, 1000000);
}

TEST(LinkProfileTest, KeysInAnyOrderAndMissingOnesAreZero) {
  auto p = ParseLinkProfile("bw=512kbit,delay=1.5s");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->delay, absl::Milliseconds(1500));
  EXPECT_EQ(p->jitter, absl::ZeroDuration());
  EXPECT_EQ(p->loss, 0);
  EXPECT_EQ(p->bandwidth_bps, 512000);
}

TEST(LinkProfileTest, EmptyAndNoneAreAPlainRelay) {
  for (const char* text : {"", "none"}) {
    auto p = ParseLinkProfile(text);
    ASSERT_TRUE(p.ok()) << text << ": " << p.status();
    EXPECT_EQ(*p, LinkProfile()) << text;
  }
  EXPECT_EQ(LinkProfile().ToString(), "none");
}

TEST(LinkProfileTest, RateUnitsAndPercentLoss) {
  EXPECT_EQ(ParseLinkProfile("bw=100")->bandwidth_bps, 100);
  EXPECT_EQ(ParseLinkProfile("bw=100bit")->bandwidth_bps, 100);
  EXPECT_EQ(ParseLinkProfile("bw=2kbit")->bandwidth_bps, 2000);
  EXPECT_EQ(ParseLinkProfile("bw=1.5mbit")->bandwidth_bps, 1500000);
  EXPECT_EQ(ParseLinkProfile("bw=10gbit")->bandwidth_bps, 10000000000);
  EXPECT_EQ(ParseLinkProfile("bw=0")->bandwidth_bps, 0);
  EXPECT_DOUBLE_EQ(ParseLinkProfile("loss=2%")->loss, 0.02);
  EXPECT_DOUBLE_EQ(ParseLinkProfile("loss=1")->loss, 1.0);
  EXPECT_EQ(ParseLinkProfile("delay=0")->delay, absl::ZeroDuration());
}

TEST(LinkProfileTest, ToStringRoundTrips) {
  for (const char* text :
       {"delay=25ms,jitter=5ms,loss=0.01,bw=1mbit", "delay=1m30s",
        "jitter=250us", "loss=0.333333", "bw=1500kbit", "bw=123bit",
        "delay=10ms,bw=10gbit"}) {
    auto p = ParseLinkProfile(text);
    ASSERT_TRUE(p.ok()) << text << ": " << p.status();
    EXPECT_EQ(p->ToString(), text);
    auto again = ParseLinkProfile(p->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *p) << text;
  }
}

TEST(LinkProfileTest, RefusesBadInputWithAClearMessage) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"delay=-5ms", "must be finite and >= 0"},
      {"jitter=-1s", "must be finite and >= 0"},
      {"delay=inf", "must be finite and >= 0"},
      {"delay=25", "is not a duration"},
      {"delay=fast", "is not a duration"},
      {"delay=", "is not a duration"},
      {"loss=1.5", "must be a probability in [0, 1]"},
      {"loss=-0.1", "must be a probability in [0, 1]"},
      {"loss=101%", "must be a probability in [0, 1]"},
      {"loss=nan", "is not a probability"},
      {"loss=some", "is not a probability"},
      {"bw=-1mbit", "must be >= 0"},
      {"bw=1mbps", "is not a rate"},
      {"bw=fast", "is not a rate"},
      {"bw=0.5", "below 1 bit/s"},
      {"bw=100000000000gbit", "too large"},
      {"bw=1e6", "is not a rate"},
      {"latency=5ms", "unknown key \"latency\""},
      {"delay=5ms,delay=6ms", "delay given twice"},
      {"delay=5ms,", "is not key=value"},
      {"garbage", "is not key=value"},
      {"=5", "is not key=value"},
      {"delay=5ms jitter=1ms", "is not a duration"},
  };
  for (const auto& c : cases) {
    auto p = ParseLinkProfile(c.text);
    ASSERT_FALSE(p.ok()) << c.text << " parsed as " << p->ToString();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(c.message))
        << c.text;
  }
}

TEST(LinkProfileTest, ValidateRefusesWhatParseWould) {
  LinkProfile p;
  EXPECT_TRUE(ValidateLinkProfile(p).ok());
  p.loss = 2;
  EXPECT_FALSE(ValidateLinkProfile(p).ok());
  p = LinkProfile();
  p.bandwidth_bps = -1;
  EXPECT_FALSE(ValidateLinkProfile(p).ok());
  p = LinkProfile();
  p.delay = -absl::Milliseconds(1);
  EXPECT_FALSE(ValidateLinkProfile(p).ok());
}

}  // namespace
}  // namespace wan
}  // namespace kess
