#include "common/metrics.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace kess {
namespace metrics {
namespace {

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(MetricsTest, CounterSamePointerForSameLabels) {
  Registry r;
  Counter* a = r.GetCounter("kess_x_total", "x", {{"reason", "eof"}});
  Counter* b = r.GetCounter("kess_x_total", "ignored", {{"reason", "eof"}});
  Counter* c = r.GetCounter("kess_x_total", "x", {{"reason", "reset"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  a->Increment();
  b->Increment(2);
  EXPECT_EQ(a->Value(), 3);
  EXPECT_EQ(c->Value(), 0);
}

TEST(MetricsTest, RendersPrometheusText) {
  Registry r;
  r.GetCounter("kess_frames_total", "Frames seen.", {{"dir", "in"}})
      ->Increment(5);
  r.GetGauge("kess_connections", "Open connections.")->Set(7);
  Histogram* h = r.GetHistogram("kess_latency_seconds", "Latency.",
                                {0.1, 1}, {{"op", "put"}});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(3);
  std::string text = r.RenderText();
  EXPECT_TRUE(Contains(text, "# HELP kess_frames_total Frames seen.\n"));
  EXPECT_TRUE(Contains(text, "# TYPE kess_frames_total counter\n"));
  EXPECT_TRUE(Contains(text, "kess_frames_total{dir=\"in\"} 5\n"));
  EXPECT_TRUE(Contains(text, "# TYPE kess_connections gauge\n"));
  EXPECT_TRUE(Contains(text, "kess_connections 7\n"));
  EXPECT_TRUE(Contains(text, "# TYPE kess_latency_seconds histogram\n"));
  EXPECT_TRUE(
      Contains(text, "kess_latency_seconds_bucket{op=\"put\",le=\"0.1\"} 1\n"));
  EXPECT_TRUE(
      Contains(text, "kess_latency_seconds_bucket{op=\"put\",le=\"1\"} 2\n"));
  EXPECT_TRUE(
      Contains(text, "kess_latency_seconds_bucket{op=\"put\",le=\"+Inf\"} 3\n"));
  EXPECT_TRUE(Contains(text, "kess_latency_seconds_sum{op=\"put\"} 3.55\n"));
  EXPECT_TRUE(Contains(text, "kess_latency_seconds_count{op=\"put\"} 3\n"));
}

TEST(MetricsTest, EscapesLabelValues) {
  Registry r;
  r.GetCounter("kess_e_total", "e", {{"v", "a\"b\\c\nd"}})->Increment();
  EXPECT_TRUE(
      Contains(r.RenderText(), "kess_e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsTest, CallbackGauge) {
  Registry r;
  int depth = 4;
  r.SetCallbackGauge("kess_queue_depth", "Depth.", {{"q", "send"}},
                     [&depth] { return depth; });
  EXPECT_TRUE(Contains(r.RenderText(), "kess_queue_depth{q=\"send\"} 4\n"));
  depth = 9;
  EXPECT_TRUE(Contains(r.RenderText(), "kess_queue_depth{q=\"send\"} 9\n"));
  r.RemoveCallbackGauge("kess_queue_depth", {{"q", "send"}});
  EXPECT_FALSE(Contains(r.RenderText(), "kess_queue_depth{"));
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  Registry r;
  Counter* c = r.GetCounter("kess_c_total", "c");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([c] {
      for (int i = 0; i < 10000; ++i) c->Increment();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->Value(), 40000);
}

TEST(MetricsDeathTest, TypeMismatchIsAProgrammingError) {
  Registry r;
  r.GetCounter("kess_t", "t");
  EXPECT_DEATH(r.GetGauge("kess_t", "t"), "already registered as counter");
  EXPECT_DEATH(r.GetCounter("bad name", "t"), "invalid metric name");
}

}  // namespace
}  // namespace metrics
}  // namespace kess
