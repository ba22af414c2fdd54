#include "common/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "glog/logging.h"

namespace kess {
namespace metrics {
namespace {

enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };

const char* TypeName(int type) {
  switch (type) {
    case kCounter:
      return "counter";
    case kGauge:
      return "gauge";
    default:
      return "histogram";
  }
}

bool ValidMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(const std::string& name) {
  return ValidMetricName(name) && name.find(':') == std::string::npos;
}

void AtomicAdd(std::atomic<double>* a, double v) {
  double old = a->load(std::memory_order_relaxed);
  while (!a->compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  // Shortest of %.15g / %.17g that reads back as the same double.
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  if (std::strtod(buf, nullptr) != v) {
    std::snprintf(buf, sizeof(buf), "%.17g", v);
  }
  return buf;
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="1",b="2"} with `extra` (e.g. le="0.5") appended; "" when empty.
std::string FormatLabels(const Labels& labels, const std::string& extra = "") {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + EscapeLabelValue(v) + "\"";
  }
  if (!extra.empty()) {
    if (!first) out += ",";
    out += extra;
  }
  out += "}";
  return out;
}

}  // namespace

void Counter::Increment(double v) {
  DCHECK_GE(v, 0);
  if (v < 0) return;
  AtomicAdd(&value_, v);
}

void Gauge::Add(double v) { AtomicAdd(&value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    CHECK_LT(bounds_[i - 1], bounds_[i]) << "histogram bounds must increase";
  }
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    s.cumulative_counts.push_back(running);
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
}

struct Registry::Family {
  std::string name;
  std::string help;
  int type = kCounter;
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
  std::map<Labels, std::function<double()>> callbacks;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry& Registry::Default() {
  static Registry* registry = new Registry();
  return *registry;
}

Registry::Family* Registry::GetFamily(const std::string& name,
                                      const std::string& help, int type) {
  CHECK(ValidMetricName(name)) << "invalid metric name: " << name;
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>();
    family->name = name;
    family->help = help;
    family->type = type;
    it = families_.emplace(name, std::move(family)).first;
  }
  CHECK_EQ(it->second->type, type)
      << "metric " << name << " already registered as "
      << TypeName(it->second->type);
  return it->second.get();
}

static void CheckLabels(const Labels& labels) {
  for (const auto& kv : labels) {
    CHECK(ValidLabelName(kv.first)) << "invalid label name: " << kv.first;
    CHECK(kv.first != "le") << "label name 'le' is reserved";
  }
}

Counter* Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  CheckLabels(labels);
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = GetFamily(name, help, kCounter);
  auto& slot = f->counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Registry::GetGauge(const std::string& name, const std::string& help,
                          const Labels& labels) {
  CheckLabels(labels);
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = GetFamily(name, help, kGauge);
  auto& slot = f->gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Registry::GetHistogram(const std::string& name,
                                  const std::string& help,
                                  const std::vector<double>& bounds,
                                  const Labels& labels) {
  CheckLabels(labels);
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = GetFamily(name, help, kHistogram);
  auto& slot = f->histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return slot.get();
}

void Registry::SetCallbackGauge(const std::string& name,
                                const std::string& help, const Labels& labels,
                                std::function<double()> fn) {
  CheckLabels(labels);
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = GetFamily(name, help, kGauge);
  f->callbacks[labels] = std::move(fn);
}

void Registry::RemoveCallbackGauge(const std::string& name,
                                   const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second->callbacks.erase(labels);
}

std::string Registry::RenderText() const {
  std::ostringstream out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, f] : families_) {
    out << "# HELP " << name << " " << EscapeHelp(f->help) << "\n";
    out << "# TYPE " << name << " " << TypeName(f->type) << "\n";
    for (const auto& [labels, c] : f->counters) {
      out << name << FormatLabels(labels) << " " << FormatValue(c->Value())
          << "\n";
    }
    // Plain and callback gauges share a family; a label set present in both
    // is rendered once (the callback wins).
    for (const auto& [labels, g] : f->gauges) {
      if (f->callbacks.count(labels)) continue;
      out << name << FormatLabels(labels) << " " << FormatValue(g->Value())
          << "\n";
    }
    for (const auto& [labels, fn] : f->callbacks) {
      out << name << FormatLabels(labels) << " " << FormatValue(fn()) << "\n";
    }
    for (const auto& [labels, h] : f->histograms) {
      Histogram::Snapshot s = h->Snap();
      for (size_t i = 0; i < s.cumulative_counts.size(); ++i) {
        std::string le =
            i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
        out << name << "_bucket"
            << FormatLabels(labels, "le=\"" + le + "\"") << " "
            << s.cumulative_counts[i] << "\n";
      }
      out << name << "_sum" << FormatLabels(labels) << " "
          << FormatValue(s.sum) << "\n";
      out << name << "_count" << FormatLabels(labels) << " " << s.count
          << "\n";
    }
  }
  return out.str();
}

}  // namespace metrics
}  // namespace kess
