// What every fault-scenario binary of tests/faults shares: the write stream
// whose acknowledgements feed the InvariantChecker, the FAULTS| report
// line that scripts/faults.sh turns into docs/reliability.md's table, small
// probes of agents (which distributor, metrics) and of the mandators'
// metrics, and a gtest fixture for
// the binaries built on one shared CacheTierCluster.
//
//   class MyFaultsTest : public CacheTierFaultTest {
//    protected:
//     static void SetUpTestSuite() { StartCluster(options, FaultKeys("ns")); }
//   };
//   TEST_F(MyFaultsTest, Something) {
//     std::vector<std::string> faults;
//     {
//       AckedWriter writes(cluster_, checker_.get(), keys(), "tag");
//       ... inject, record in `faults`, lift ...
//     }
//     Finish("something", faults);  // checks the invariants, prints, expects
//   }
//
// A binary has exactly one fixture derived from CacheTierFaultTest (the
// cluster is a static of the base). Thread-compatible, except AckedWriter.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/faults/invariant_checker.h"

namespace kess {
namespace testing {

// "Did not hang" bounds of the scenarios.
inline constexpr absl::Duration kConverge = absl::Seconds(60);
inline constexpr absl::Duration kPatience = absl::Seconds(30);

// ns/k0 .. ns/k<count-1>.
ConfigKeys FaultKeys(const std::string& ns, int count = 4);
// The agent subscription body for `keys` (tests/cluster ConfigSubscription).
std::string SubscriptionBody(const ConfigKeys& keys);
std::vector<std::string> CacheDirs(const std::vector<AgentHost*>& agents);

// The transport address of the distributor `agent` is subscribed at; "" if
// it is not connected (or does not answer).
std::string DistributorOf(const AgentHost& agent);
// `agent`'s /metrics text; "" if it does not answer 200.
std::string AgentMetrics(const AgentHost& agent);
// One sample of `name{labels}` in `metrics_text`; -1 if there is none.
double Metric(const std::string& metrics_text, const std::string& name,
              const std::string& labels = "");
// The sum of every sample of `name`, whatever its labels (every kind of
// kess_replication_errors_total), over the /metrics of `mandators`; one
// that does not answer 200 counts 0.
double MetricSum(const MandatorList& mandators, const std::string& name);
// The mandators' counter of failed replication rounds (label `kind`).
inline constexpr char kReplicationErrors[] = "kess_replication_errors_total";

// Runs a daemon under libfaketime with its wall clock offset read from a
// file the test rewrites ("+0", "-1h", "+2h"; re-read every second);
// monotonic clocks stay real, as a real clock jump leaves them.
class FaketimeWrapper {
 public:
  static bool Installed();
  // Writes <dir>/<name> (a shell script that execs `binary` — a path below
  // $TEST_SRCDIR/kess, e.g. "agent/agent" — keeping the pid) and the offset
  // file <dir>/<name>.offset at "+0".
  FaketimeWrapper(const std::string& dir, const std::string& name,
                  const std::string& binary);
  const std::string& path() const { return path_; }
  void SetOffset(const std::string& offset) const;

 private:
  std::string path_;
  std::string offset_file_;
};

// PUTs to `keys` round robin at the main DC's leader until stopped; each
// acknowledged PUT goes to the checker. A failed PUT (leader gone,
// ZooKeeper busy; CacheTierCluster::Put already retried) is not
// acknowledged and the next value is tried after 200 ms.
class AckedWriter {
 public:
  AckedWriter(CacheTierCluster* cluster, InvariantChecker* checker,
              ConfigKeys keys, std::string tag,
              absl::Duration pause = absl::Milliseconds(20));
  ~AckedWriter() { Stop(); }
  void Stop();

  int64_t acked() const { return acked_; }
  int64_t failed() const { return failed_; }
  // The longest single Put (with CacheTierCluster::Put's retries).
  int64_t max_put_ms() const { return max_put_ms_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acked_{0}, failed_{0}, max_put_ms_{0};
  std::thread thread_;
};

// Prints "FAULTS|<scenario>|<faults, comma separated>|<writes>|<files>|
// <reads>|<violations>[|<route samples>[|<DC samples>]]" (the route column
// when `with_routes`, empty when only `with_dcs`; the DC column, the
// DcRevisionMonitor samples of dc_invariants.h, when `with_dcs`) and
// flushes stdout.
void PrintFaultsLine(const std::string& scenario,
                     const std::vector<std::string>& faults,
                     const InvariantResult& result, bool with_routes,
                     bool with_dcs = false);

// A fixture over one CacheTierCluster shared by every test of the binary,
// with a fresh InvariantChecker and CacheReaderLoop (over every agent) per
// test.
class CacheTierFaultTest : public ::testing::Test {
 protected:
  // From SetUpTestSuite: starts the cluster and subscribes every agent to
  // `keys`. Fails the suite (ASSERT) when it cannot.
  static void StartCluster(const CacheTierClusterOptions& options,
                           ConfigKeys keys);
  static void TearDownTestSuite();
  void SetUp() override;

  static const ConfigKeys& keys() { return *keys_; }

  // Stops the reader, checks invariants 6, 7 and 2 of docs/design.md over
  // keys() (InvariantChecker::Check), prints the FAULTS| line, expects
  // writes were checked and no violation.
  void Finish(const std::string& scenario,
              const std::vector<std::string>& faults);

  // Starts one more agent in `dc` (binary "" = the plain agent; a wrapper
  // must exec it so the pid stays the agent's; distributors {} = the DC's),
  // subscribes it to keys() and restarts the reader loop over every agent.
  // nullptr (with a test failure) if it cannot.
  AgentHost* AddAgent(CacheTierDc& dc, const std::string& host_id,
                      const std::string& binary = "",
                      std::vector<std::string> distributors = {});
  // Stops `agent` (added by AddAgent) and removes it from `dc`, after the
  // scenario's Finish.
  void RemoveAgent(CacheTierDc& dc, AgentHost* agent);

  static CacheTierCluster* cluster_;
  std::unique_ptr<InvariantChecker> checker_;
  std::unique_ptr<CacheReaderLoop> reader_;

 private:
  static ConfigKeys* keys_;
};

}  // namespace testing
}  // namespace kess
