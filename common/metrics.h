// Process metrics in the Prometheus text exposition format (version 0.0.4).
//
// Components register counters, gauges and histograms in a Registry (usually
// Registry::Default()) and keep the returned pointers; the HTTP helper serves
// Registry::RenderText() at /metrics. Metric names must match
// [a-zA-Z_:][a-zA-Z0-9_:]*; by convention they start with "kess_".
//
// Thread-safety: all methods of Registry, Counter, Gauge and Histogram are
// safe to call from any thread. Updates are lock-free (atomics) except
// Histogram::Observe, which takes a per-histogram mutex. Returned pointers
// stay valid for the life of the Registry.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kess {
namespace metrics {

// Label name -> value. Values are escaped when rendered.
using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  // REQUIRES: v >= 0 (counters only go up).
  void Increment(double v = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, strictly increasing; a
  // +Inf bucket is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Snap() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, non-cumulative, last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Default latency buckets in seconds: 0.5 ms .. 10 s.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process-wide registry served by daemons at /metrics.
  static Registry& Default();

  // Returns the metric with this name and labels, creating it on first use;
  // the same (name, labels) always returns the same pointer. `help` is taken
  // from the first registration of `name`. CHECK-fails if `name` is invalid
  // or already registered as another type (a programming error).
  Counter* GetCounter(const std::string& name, const std::string& help,
                      const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help,
                  const Labels& labels = {});
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& bounds,
                          const Labels& labels = {});

  // A gauge whose value is computed at render time (e.g. a queue's size).
  // `fn` must be cheap and thread-safe, and must stay callable for the life
  // of the Registry (or until RemoveCallbackGauge).
  void SetCallbackGauge(const std::string& name, const std::string& help,
                        const Labels& labels, std::function<double()> fn);
  void RemoveCallbackGauge(const std::string& name, const Labels& labels);

  // Everything registered, in the Prometheus text format, families sorted by
  // name.
  std::string RenderText() const;

 private:
  struct Family;
  Family* GetFamily(const std::string& name, const std::string& help,
                    int type);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

}  // namespace metrics
}  // namespace kess
