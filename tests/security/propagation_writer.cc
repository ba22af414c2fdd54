#include "tests/security/propagation_writer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/security/abuse_client.h"

namespace kess {
namespace testing {

PropagationWriter::PropagationWriter(Options options)
    : options_(std::move(options)), thread_([this] { Run(); }) {}

void PropagationWriter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

double PropagationWriter::p50() const { return Percentile(Samples(), 50); }
double PropagationWriter::p99() const { return Percentile(Samples(), 99); }

std::string PropagationWriter::first_miss() const {
  absl::MutexLock lock(&mu_);
  return first_miss_;
}

std::vector<double> PropagationWriter::Samples() const {
  absl::MutexLock lock(&mu_);
  return samples_;
}

void PropagationWriter::Run() {
  const std::vector<AgentHost*>& agents = options_.agents;
  for (int i = 0; !stop_ && i < 100000; ++i) {
    const std::string key = options_.key_name(i);
    absl::StatusOr<int64_t> rev = options_.put(key, i);
    if (!rev.ok()) {
      ++failed_puts_;
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    const absl::Time acked = absl::Now();
    std::vector<bool> seen(agents.size(), false);
    size_t remaining = agents.size();
    while (remaining > 0 && absl::Now() - acked < options_.bound) {
      for (size_t a = 0; a < agents.size(); ++a) {
        if (seen[a] || CachedRevision(*agents[a], options_.ns, key) < *rev) {
          continue;
        }
        seen[a] = true;
        --remaining;
        absl::MutexLock lock(&mu_);
        samples_.push_back(absl::ToDoubleMilliseconds(absl::Now() - acked));
      }
      if (remaining > 0) absl::SleepFor(absl::Milliseconds(5));
    }
    ++writes_;
    if (remaining > 0) {
      ++misses_;
      absl::MutexLock lock(&mu_);
      if (first_miss_.empty()) {
        first_miss_ = absl::StrCat(options_.ns, "/", key, " revision ", *rev,
                                   " missing at ", remaining, " agents");
      }
    }
  }
}

}  // namespace testing
}  // namespace kess
