#include "tests/faults/fault_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "common/http_client.h"

namespace kess {
namespace testing {

ConfigKeys FaultKeys(const std::string& ns, int count) {
  ConfigKeys keys;
  for (int i = 0; i < count; ++i) keys.push_back({ns, absl::StrCat("k", i)});
  return keys;
}

std::string SubscriptionBody(const ConfigKeys& keys) {
  return ConfigSubscription(
      std::vector<std::pair<std::string, std::string>>(keys.begin(),
                                                       keys.end()));
}

std::vector<std::string> CacheDirs(const std::vector<AgentHost*>& agents) {
  std::vector<std::string> dirs;
  for (const AgentHost* a : agents) dirs.push_back(a->cache_dir());
  return dirs;
}

std::string DistributorOf(const AgentHost& agent) {
  Poco::JSON::Object::Ptr status = agent.Status();
  if (!status || !status->has("connected") ||
      !status->getValue<bool>("connected")) {
    return "";
  }
  return status->getValue<std::string>("distributor");
}

std::string AgentMetrics(const AgentHost& agent) {
  absl::StatusOr<HttpReply> r = agent.Call("GET", "/metrics");
  return r.ok() && r->status == 200 ? r->body : "";
}

double Metric(const std::string& metrics_text, const std::string& name,
              const std::string& labels) {
  absl::StatusOr<double> v = MetricValue(metrics_text, name, labels);
  return v.ok() ? *v : -1;
}

double MetricSum(const MandatorList& mandators, const std::string& name) {
  double sum = 0;
  for (const auto& m : mandators) {
    absl::StatusOr<HttpReply> r =
        HttpCall(m->http_address(), "GET", "/metrics", "", absl::Seconds(5));
    if (!r.ok() || r->status != 200) continue;
    for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
      // `name{labels} value` or `name value`, not a longer name.
      if (!absl::StartsWith(line, name) || line.size() == name.size() ||
          (line[name.size()] != '{' && line[name.size()] != ' ')) {
        continue;
      }
      double v = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) sum += v;
    }
  }
  return sum;
}

namespace {
constexpr char kFaketimeLib[] =
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
}  // namespace

bool FaketimeWrapper::Installed() { return access(kFaketimeLib, R_OK) == 0; }

FaketimeWrapper::FaketimeWrapper(const std::string& dir,
                                 const std::string& name,
                                 const std::string& binary)
    : path_(absl::StrCat(dir, "/", name)),
      offset_file_(absl::StrCat(dir, "/", name, ".offset")) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  EXPECT_NE(srcdir, nullptr);
  EXPECT_EQ(system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
  SetOffset("+0");
  {
    std::ofstream w(path_, std::ios::trunc);
    w << "#!/bin/sh\n"
      << "export LD_PRELOAD=" << kFaketimeLib << "\n"
      << "export FAKETIME_TIMESTAMP_FILE=" << offset_file_ << "\n"
      << "export FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1\n"
      << "exec " << (srcdir != nullptr ? srcdir : "") << "/kess/" << binary
      << " \"$@\"\n";
  }
  EXPECT_EQ(chmod(path_.c_str(), 0755), 0);
}

void FaketimeWrapper::SetOffset(const std::string& offset) const {
  // Written aside and renamed: libfaketime re-reads the file every second
  // and must never see it empty (which it would take as "+0").
  const std::string temp = offset_file_ + ".new";
  std::ofstream(temp, std::ios::trunc) << offset << "\n";
  EXPECT_EQ(std::rename(temp.c_str(), offset_file_.c_str()), 0) << temp;
}

AckedWriter::AckedWriter(CacheTierCluster* cluster, InvariantChecker* checker,
                         ConfigKeys keys, std::string tag,
                         absl::Duration pause)
    : thread_([this, cluster, checker, keys = std::move(keys),
               tag = std::move(tag), pause] {
        for (int i = 0; !stop_; ++i) {
          const auto& [ns, key] = keys[i % keys.size()];
          const std::string value = absl::StrCat(tag, "-", i);
          const absl::Time start = absl::Now();
          absl::StatusOr<int64_t> rev = cluster->Put(ns, key, value);
          const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
          if (ms > max_put_ms_) max_put_ms_ = ms;
          if (rev.ok()) {
            checker->NoteAck(ns, key, *rev, value);
            ++acked_;
            absl::SleepFor(pause);
          } else {
            ++failed_;
            absl::SleepFor(absl::Milliseconds(200));
          }
        }
      }) {}

void AckedWriter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PrintFaultsLine(const std::string& scenario,
                     const std::vector<std::string>& faults,
                     const InvariantResult& r, bool with_routes,
                     bool with_dcs) {
  std::printf("FAULTS|%s|%s|%lld|%lld|%lld|%lld", scenario.c_str(),
              absl::StrJoin(faults, ", ").c_str(),
              static_cast<long long>(r.writes_checked),
              static_cast<long long>(r.files_checked),
              static_cast<long long>(r.reads_checked),
              static_cast<long long>(r.violation_count));
  if (with_routes) {
    std::printf("|%lld", static_cast<long long>(r.route_samples_checked));
  } else if (with_dcs) {
    std::printf("|");
  }
  if (with_dcs) {
    std::printf("|%lld", static_cast<long long>(r.dc_samples_checked));
  }
  std::printf("\n");
  std::fflush(stdout);
}

CacheTierCluster* CacheTierFaultTest::cluster_ = nullptr;
ConfigKeys* CacheTierFaultTest::keys_ = nullptr;

void CacheTierFaultTest::StartCluster(const CacheTierClusterOptions& options,
                                      ConfigKeys keys) {
  keys_ = new ConfigKeys(std::move(keys));
  auto cluster = CacheTierCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  cluster_ = std::move(cluster).value().release();
  for (AgentHost* a : cluster_->AllAgents()) {
    ASSERT_TRUE(a->Subscribe(SubscriptionBody(*keys_)).ok()) << a->host_id();
  }
}

void CacheTierFaultTest::TearDownTestSuite() {
  delete cluster_;
  cluster_ = nullptr;
  delete keys_;
  keys_ = nullptr;
}

void CacheTierFaultTest::SetUp() {
  ASSERT_NE(cluster_, nullptr);
  checker_ = std::make_unique<InvariantChecker>(cluster_);
  reader_ = std::make_unique<CacheReaderLoop>(CacheDirs(cluster_->AllAgents()));
}

void CacheTierFaultTest::Finish(const std::string& scenario,
                                const std::vector<std::string>& faults) {
  reader_->Stop();
  InvariantResult r = checker_->Check(keys(), reader_.get(), kConverge);
  PrintFaultsLine(scenario, faults, r, /*with_routes=*/false);
  EXPECT_GT(r.writes_checked, 0);
  EXPECT_TRUE(r.ok()) << scenario << ": " << r.Describe();
}

AgentHost* CacheTierFaultTest::AddAgent(CacheTierDc& dc,
                                        const std::string& host_id,
                                        const std::string& binary,
                                        std::vector<std::string> distributors) {
  absl::StatusOr<AgentHost*> agent =
      cluster_->AddAgent(dc, host_id, binary, std::move(distributors));
  EXPECT_TRUE(agent.ok()) << agent.status();
  if (!agent.ok()) return nullptr;
  absl::Status subscribed = (*agent)->Subscribe(SubscriptionBody(keys()));
  EXPECT_TRUE(subscribed.ok()) << subscribed;
  reader_->Stop();
  reader_ = std::make_unique<CacheReaderLoop>(CacheDirs(cluster_->AllAgents()));
  return *agent;
}

void CacheTierFaultTest::RemoveAgent(CacheTierDc& dc, AgentHost* agent) {
  reader_->Stop();
  for (auto it = dc.agents.begin(); it != dc.agents.end(); ++it) {
    if (it->get() == agent) {
      dc.agents.erase(it);  // ~AgentHost stops it
      return;
    }
  }
  ADD_FAILURE() << "RemoveAgent: not an agent of " << dc.name;
}

}  // namespace testing
}  // namespace kess
