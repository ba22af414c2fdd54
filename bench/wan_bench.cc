// bench/wan_bench: main-DC -> slave-DC replication across emulated WAN
// links (tests/wan: delay, jitter, loss in userspace; the kernel here has no
// netem). Three standalone ZooKeeper servers on this host stand for the
// main DC and two slave DCs; every byte between a slave's replicator and
// the main ZooKeeper crosses a WanLink, where it is counted.
//
// Part 1, RTT sweep (one slave DC per RTT, fresh trees each time):
//   - single change: the writer's ack (ConfigStore::Put on main, the
//     leader's write path) -> the slave DC's ZooKeeper holds it, p50/p99;
//     beside it the floor (one-way notification + one read round trip =
//     1.5 RTT) and the same figure for the sequential baseline (the
//     previous algorithm: per revision, read the change record, read the
//     record, commit; ChangeApplier) in the same run;
//   - bursts of distinct-key writes at the writer's full rate: time from
//     the last ack until the slave holds everything;
//   - drain: a backlog written while replication was stopped, then the
//     time to replicate it (changes/s); the baseline drains a smaller
//     backlog (it is slow) in the same run;
//   - bytes crossing the link per change (both directions, drain of the
//     first burst), beside the size of one record.
// Part 2, three DCs at once: dc2 at 20 ms RTT, dc3 at 80 ms RTT with 5 ms
// jitter and 1 % loss, both replicating from the same main: single change
// and a burst.
// Prints Markdown tables; see bench/README.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/init.h"
#include "common/metrics.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/core/config_store.h"
#include "mandator/replication/change_applier.h"
#include "mandator/replication/record_sync.h"
#include "mandator/replication/replicator.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/wan/wan_link.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/zk_client.h"

DEFINE_string(rtts_ms, "0,10,50,150", "round-trip times of the sweep");
DEFINE_int32(singles, 30, "single changes per RTT");
DEFINE_string(bursts, "1000,10000", "burst sizes (distinct keys each)");
DEFINE_int32(drain, 1000, "backlog replicated after a stop (kess)");
DEFINE_int32(baseline_drain, 60,
             "backlog for the sequential baseline (it needs ~3 RTT each)");
DEFINE_int32(baseline_singles, 10, "single changes for the baseline");
DEFINE_int32(value_bytes, 256, "bytes per value");
DEFINE_bool(three_dcs, true, "run part 2 (three DCs)");
DEFINE_int32(zk_heap_mib, 1024, "-Xmx of each ZooKeeper server");
DEFINE_string(base_dir, "", "ZooKeeper data directories (default: /tmp/...)");

namespace kess {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;
using mandator::replication::ChangeApplier;
using mandator::replication::LocalHead;
using mandator::replication::RecordSync;
using mandator::replication::Replicator;

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * v.size());
  return v[std::min(rank, v.size() - 1)];
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>> Connect(
    const std::string& connect_string) {
  zk::ZkClientOptions options;
  options.connect_string = connect_string;
  options.session_timeout = absl::Seconds(10);
  options.connect_timeout = absl::Seconds(30);
  return zk::ZkClient::Create(options);
}

// Watches a slave DC's /kess/revision (its own client on loopback) and
// records when each revision first appeared there.
class SlaveObserver {
 public:
  SlaveObserver(zk::ZkApi* local, zk::Layout layout)
      : local_(local), layout_(std::move(layout)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~SlaveObserver() {
    stop_ = true;
    thread_.join();
  }
  // Waits until revision >= r (bounded); when it was first seen.
  std::optional<Clock::time_point> WaitFor(int64_t r, absl::Duration limit) {
    absl::MutexLock lock(&mu_);
    auto seen = [this, r]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return revision_ >= r;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&seen), limit)) {
      return std::nullopt;
    }
    auto it = seen_at_.lower_bound(r);
    return it->second;
  }
  int64_t revision() {
    absl::MutexLock lock(&mu_);
    return revision_;
  }

 private:
  void Run() {
    while (!stop_) {
      auto read = zk::ReadRevision(*local_, layout_);
      if (read.ok()) {
        const auto now = Clock::now();
        absl::MutexLock lock(&mu_);
        if (read->first.revision() > revision_) {
          revision_ = read->first.revision();
          seen_at_[revision_] = now;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  }
  zk::ZkApi* const local_;
  const zk::Layout layout_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, Clock::time_point> seen_at_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The previous algorithm, as a baseline in the same run: woken by a watch
// on main's summary (or a 1 s poll), it reads the summary, then per
// revision the change record and the record (ChangeApplier), one commit
// each.
class SequentialBaseline {
 public:
  SequentialBaseline(zk::ZkApi* main, zk::ZkApi* local, zk::Layout layout)
      : main_(main),
        local_(local),
        layout_(layout),
        sync_(main, local, layout, {}),
        applier_(main, &sync_, layout) {
    thread_ = std::thread([this] { Run(); });
  }
  ~SequentialBaseline() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

 private:
  void Run() {
    absl::StatusOr<mandator::replication::LocalHead> head =
        mandator::replication::ReadLocalHead(*local_, layout_);
    while (!Stopping()) {
      if (!head.ok()) {
        head = mandator::replication::ReadLocalHead(*local_, layout_);
        Wait(absl::Milliseconds(100));
        continue;
      }
      auto summary = zk::ReadRevision(*main_, layout_, [this](auto&) {
        absl::MutexLock lock(&mu_);
        signaled_ = true;
      });
      if (!summary.ok()) {
        Wait(absl::Milliseconds(100));
        continue;
      }
      while (head->summary.revision() < summary->first.revision() &&
             !Stopping()) {
        absl::Status s = applier_.Apply(head->summary.revision() + 1, &*head);
        if (!s.ok()) {
          LOG_EVERY_N(WARNING, 10) << "baseline: " << s;
          head = mandator::replication::ReadLocalHead(*local_, layout_);
          break;
        }
      }
      Wait(absl::Seconds(1));
    }
  }
  bool Stopping() {
    absl::MutexLock lock(&mu_);
    return stop_;
  }
  void Wait(absl::Duration limit) {
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return signaled_ || stop_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&woken), limit);
    signaled_ = false;
  }

  zk::ZkApi* const main_;
  zk::ZkApi* const local_;
  const zk::Layout layout_;
  mandator::replication::RecordSync sync_;
  mandator::replication::ChangeApplier applier_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool signaled_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

struct SlaveSpec {
  std::string dc;
  wan::LinkProfile profile;  // each direction
  std::string Describe() const {
    return absl::StrCat(
        dc, ": RTT ", absl::ToDoubleMilliseconds(profile.delay) * 2, " ms",
        profile.jitter > absl::ZeroDuration()
            ? absl::StrCat(", jitter +-", absl::FormatDuration(profile.jitter))
            : "",
        profile.loss > 0 ? absl::StrCat(", loss ", profile.loss * 100, " %")
                         : "");
  }
};

// One slave DC: its link to main, its own clients, a replicator (kess or
// the baseline) and an observer of its ZooKeeper.
class Slave {
 public:
  static absl::StatusOr<std::unique_ptr<Slave>> Create(
      const SlaveSpec& spec, const testing::ZkEnsemble& main_zk,
      const testing::ZkEnsemble& slave_zk, const zk::Layout& layout) {
    auto s = std::unique_ptr<Slave>(new Slave());
    s->spec_ = spec;
    s->layout_ = layout;
    wan::WanLink::Options link;
    link.upstream = absl::StrCat("127.0.0.1:", main_zk.ClientPort(0));
    link.forward = spec.profile;
    link.reverse = spec.profile;
    link.name = spec.dc;
    KESS_ASSIGN_OR_RETURN(s->link_, wan::WanLink::Start(link));
    KESS_ASSIGN_OR_RETURN(s->main_, Connect(s->link_->address()));
    KESS_ASSIGN_OR_RETURN(s->local_, Connect(slave_zk.ConnectString()));
    KESS_ASSIGN_OR_RETURN(s->observe_zk_, Connect(slave_zk.ConnectString()));
    zk::SchemaInfo info;
    info.set_datacenter(spec.dc);
    info.set_is_main(false);
    KESS_RETURN_IF_ERROR(zk::EnsureSkeleton(*s->local_, layout, info, 20000));
    s->observer_ =
        std::make_unique<SlaveObserver>(s->observe_zk_.get(), layout);
    return s;
  }
  ~Slave() {
    StopReplication();
    observer_.reset();
  }

  absl::Status StartKess() {
    StopReplication();
    mandator::replication::Replicator::Options options;
    options.datacenter = spec_.dc;
    options.layout = layout_;
    options.registry = &registry_;
    options.max_changes_per_round = 5000;
    KESS_ASSIGN_OR_RETURN(replicator_,
                          mandator::replication::Replicator::Create(
                              main_.get(), local_.get(), options));
    replicator_->Start();
    return absl::OkStatus();
  }
  void StartBaseline() {
    StopReplication();
    baseline_ = std::make_unique<SequentialBaseline>(main_.get(), local_.get(),
                                                     layout_);
  }
  void StopReplication() {
    if (replicator_ != nullptr) replicator_->Stop();
    replicator_.reset();
    baseline_.reset();
  }
  int64_t LinkBytes() const {
    auto st = link_->stats();
    return st.forward.bytes + st.reverse.bytes;
  }
  SlaveObserver& observer() { return *observer_; }
  const SlaveSpec& spec() const { return spec_; }

 private:
  Slave() = default;
  SlaveSpec spec_;
  zk::Layout layout_;
  std::unique_ptr<wan::WanLink> link_;
  std::unique_ptr<zk::ZkClient> main_, local_, observe_zk_;
  std::unique_ptr<SlaveObserver> observer_;
  metrics::Registry registry_;
  std::unique_ptr<mandator::replication::Replicator> replicator_;
  std::unique_ptr<SequentialBaseline> baseline_;
};

class Writer {
 public:
  Writer(zk::ZkApi* zk, const zk::Layout& layout) : zk_(zk), layout_(layout) {}
  absl::Status Init() {
    zk::SchemaInfo info;
    info.set_datacenter("dc1");
    info.set_is_main(true);
    KESS_RETURN_IF_ERROR(zk::EnsureSkeleton(*zk_, layout_, info, 20000));
    mandator::core::ConfigStore::Options options{layout_, {}, 3, "bench"};
    KESS_ASSIGN_OR_RETURN(store_,
                          mandator::core::ConfigStore::Create(zk_, options));
    return absl::OkStatus();
  }
  // One put; its revision and the time of the ack.
  absl::StatusOr<std::pair<int64_t, Clock::time_point>> Put(
      const std::string& key) {
    std::string value(FLAGS_value_bytes, 'v');
    const std::string stamp = absl::StrCat(++seq_, ":");
    value.replace(0, std::min(stamp.size(), value.size()), stamp, 0,
                  std::min(stamp.size(), value.size()));
    mandator::core::PutRequest request{
        "bench", key, value, "application/octet-stream", {}, "bench", ""};
    KESS_ASSIGN_OR_RETURN(mandator::core::CommitResult put,
                          store_->Put(request));
    return std::make_pair(put.revision, Clock::now());
  }
  // Size of one config record as stored (what a change must carry).
  int64_t RecordBytes() {
    auto node = zk_->Get(*layout_.ConfigPath("bench", "single"));
    return node.ok() ? static_cast<int64_t>(node->data.size()) : -1;
  }

 private:
  zk::ZkApi* const zk_;
  const zk::Layout layout_;
  std::unique_ptr<mandator::core::ConfigStore> store_;
  int64_t seq_ = 0;
};

constexpr absl::Duration kLimit = absl::Seconds(600);

// Single changes, spaced; latency ack -> slave holds it, per slave.
std::vector<std::vector<double>> Singles(Writer& writer,
                                         std::vector<Slave*> slaves, int n) {
  std::vector<std::vector<double>> lat(slaves.size());
  for (int i = 0; i < n; ++i) {
    auto put = writer.Put("single");
    if (!put.ok()) {
      LOG(WARNING) << put.status();
      continue;
    }
    for (size_t s = 0; s < slaves.size(); ++s) {
      auto seen = slaves[s]->observer().WaitFor(put->first, kLimit);
      if (seen) lat[s].push_back(std::max(0.0, Ms(*seen - put->second)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + (i * 37) % 60));
  }
  return lat;
}

struct BurstResult {
  int64_t n = 0;
  double write_seconds = 0;
  std::vector<double> after_last_ack_ms;  // per slave
};

BurstResult Burst(Writer& writer, std::vector<Slave*> slaves, int n,
                  const std::string& prefix) {
  BurstResult r;
  r.n = n;
  int64_t last = 0;
  Clock::time_point last_ack;
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto put = writer.Put(absl::StrCat(prefix, i));
    if (!put.ok()) {
      LOG(WARNING) << put.status();
      continue;
    }
    last = put->first;
    last_ack = put->second;
  }
  r.write_seconds = std::chrono::duration<double>(last_ack - start).count();
  for (Slave* s : slaves) {
    auto seen = s->observer().WaitFor(last, kLimit);
    r.after_last_ack_ms.push_back(seen ? std::max(0.0, Ms(*seen - last_ack))
                                       : -1);
  }
  return r;
}

// Writes `n` changes while replication is stopped, starts it and times the
// catch-up. Returns changes/s and the link bytes per change.
struct DrainResult {
  double per_second = -1;
  double bytes_per_change = -1;
};
DrainResult Drain(Writer& writer, Slave& slave, int n, bool baseline,
                  const std::string& prefix) {
  slave.StopReplication();
  int64_t last = 0;
  for (int i = 0; i < n; ++i) {
    auto put = writer.Put(absl::StrCat(prefix, i));
    if (put.ok()) last = put->first;
  }
  const int64_t bytes_before = slave.LinkBytes();
  const auto start = Clock::now();
  if (baseline) {
    slave.StartBaseline();
  } else {
    absl::Status s = slave.StartKess();
    if (!s.ok()) {
      LOG(ERROR) << s;
      return {};
    }
  }
  auto seen = slave.observer().WaitFor(last, kLimit);
  DrainResult r;
  if (!seen) return r;
  r.per_second = n / std::chrono::duration<double>(*seen - start).count();
  r.bytes_per_change =
      static_cast<double>(slave.LinkBytes() - bytes_before) / n;
  return r;
}

std::string Fmt(double v, const absl::FormatSpec<double>& format = "%.1f") {
  return v < 0 ? std::string("—") : absl::StrFormat(format, v);
}

int Main() {
  std::vector<int> rtts;
  for (absl::string_view s : absl::StrSplit(FLAGS_rtts_ms, ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(s, &v) || v < 0) {
      LOG(ERROR) << "bad --rtts_ms entry " << s;
      return 1;
    }
    rtts.push_back(v);
  }
  std::vector<int> bursts;
  for (absl::string_view s : absl::StrSplit(FLAGS_bursts, ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(s, &v) || v <= 0 || v > 20000) {
      LOG(ERROR) << "bad --bursts entry " << s << " (1..20000)";
      return 1;
    }
    bursts.push_back(v);
  }
  testing::ZkEnsembleOptions zk_options;
  zk_options.servers = 1;
  zk_options.base_dir = FLAGS_base_dir;
  zk_options.jvm_flags =
      testing::ZkEnsembleOptions::JvmFlags(FLAGS_zk_heap_mib);
  zk_options.name = "main";
  auto main_zk = testing::ZkEnsemble::Start(zk_options);
  zk_options.name = "slave-a";
  auto slave_a = testing::ZkEnsemble::Start(zk_options);
  zk_options.name = "slave-b";
  auto slave_b = testing::ZkEnsemble::Start(zk_options);
  if (!main_zk.ok() || !slave_a.ok() || !slave_b.ok()) {
    LOG(ERROR) << "ZooKeeper did not start";
    return 1;
  }
  auto writer_zk = Connect((*main_zk)->ConnectString());
  if (!writer_zk.ok()) {
    LOG(ERROR) << writer_zk.status();
    return 1;
  }

  std::printf(
      "| setup | |\n|---|---|\n"
      "| machine | %u cores, shared by 3 ZooKeeper servers, the writer, the "
      "replicators and the WAN links |\n"
      "| ZooKeeper | 3 standalone servers on 127.0.0.1 (main DC, 2 slave "
      "DCs), heap %d MiB each |\n"
      "| writer | 1 thread on the main DC's loopback, "
      "mandator::core::ConfigStore::Put (the leader's write path: record + "
      "history "
      "+ revision CAS + change record, one multi), closed loop; values of %d "
      "B |\n"
      "| WAN link | tests/wan WanLink between each slave replicator and the "
      "main ZooKeeper: the delay is half the RTT each way; bytes counted at "
      "the link |\n"
      "| kess | mandator::replication::Replicator (watch + 1 s poll, pipelined "
      "reads, "
      "records embedded in change records, several revisions per multi) |\n"
      "| baseline | the previous algorithm in the same run: per revision "
      "read the change record, read the record, one multi "
      "(mandator::replication::ChangeApplier), woken by the same watch |\n"
      "| slave holds r | a client on the slave DC's loopback polls its "
      "/kess/revision every 0.3 ms |\n"
      "| floor | one-way notification + one read round trip = 1.5 x RTT "
      "(the local commit adds ~1 ms on loopback) |\n\n",
      std::thread::hardware_concurrency(), FLAGS_zk_heap_mib,
      FLAGS_value_bytes);

  // Part 1: the RTT sweep.
  std::printf(
      "### Single change and drain, one slave DC per RTT\n\n"
      "| RTT ms | floor ms | kess p50 ms | kess p99 ms | kess p50 / floor | "
      "baseline p50 ms | kess drain changes/s | baseline drain changes/s | "
      "bytes on the link per change | record bytes |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::string burst_rows;
  int exit_code = 0;
  for (size_t i = 0; i < rtts.size(); ++i) {
    const int rtt = rtts[i];
    auto layout = zk::Layout::Create(absl::StrCat("/rtt", rtt, "/kess"));
    if (!layout.ok()) return 1;
    Writer writer(writer_zk->get(), *layout);
    if (absl::Status s = writer.Init(); !s.ok()) {
      LOG(ERROR) << s;
      return 1;
    }
    SlaveSpec spec{"dc2", {}};
    spec.profile.delay = absl::Milliseconds(rtt) / 2;
    auto slave = Slave::Create(spec, **main_zk, **slave_a, *layout);
    if (!slave.ok()) {
      LOG(ERROR) << slave.status();
      return 1;
    }
    Slave& s = **slave;
    // Baseline first (single changes, then a small drain), then kess.
    s.StartBaseline();
    auto base_single = Singles(writer, {&s}, FLAGS_baseline_singles)[0];
    DrainResult base_drain =
        Drain(writer, s, FLAGS_baseline_drain, /*baseline=*/true, "bd");
    if (!s.StartKess().ok()) return 1;
    auto kess_single = Singles(writer, {&s}, FLAGS_singles)[0];
    DrainResult drain = Drain(writer, s, FLAGS_drain, false, "kd");
    const double floor = 1.5 * rtt;
    const double p50 = Percentile(kess_single, 50);
    std::printf("| %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %lld |\n",
                rtt, floor, Fmt(p50).c_str(),
                Fmt(Percentile(kess_single, 99)).c_str(),
                floor > 0 ? Fmt(p50 / floor, "%.2f").c_str() : "—",
                Fmt(Percentile(base_single, 50)).c_str(),
                Fmt(drain.per_second, "%.0f").c_str(),
                Fmt(base_drain.per_second, "%.1f").c_str(),
                Fmt(drain.bytes_per_change, "%.0f").c_str(),
                static_cast<long long>(writer.RecordBytes()));
    std::fflush(stdout);
    if (kess_single.size() < static_cast<size_t>(FLAGS_singles) ||
        drain.per_second < 0) {
      exit_code = 2;
    }
    for (int n : bursts) {
      BurstResult b = Burst(writer, {&s}, n, absl::StrCat("b", n, "-"));
      burst_rows +=
          absl::StrFormat("| %d | %lld | %.1f | %.0f | %s |\n", rtt,
                          static_cast<long long>(b.n), b.write_seconds,
                          b.n / std::max(b.write_seconds, 1e-9),
                          Fmt(b.after_last_ack_ms[0]).c_str());
      if (b.after_last_ack_ms[0] < 0) exit_code = 2;
    }
  }
  std::printf(
      "\n### Bursts at the writer's full rate, one slave DC per RTT\n\n"
      "| RTT ms | changes | writing took s | acks/s | last ack -> slave "
      "holds all, ms |\n|---:|---:|---:|---:|---:|\n%s",
      burst_rows.c_str());
  std::fflush(stdout);

  // Part 2: three DCs.
  if (FLAGS_three_dcs) {
    auto layout = zk::Layout::Create("/three/kess");
    if (!layout.ok()) return 1;
    Writer writer(writer_zk->get(), *layout);
    if (!writer.Init().ok()) return 1;
    SlaveSpec dc2{"dc2", {}};
    dc2.profile.delay = absl::Milliseconds(10);
    SlaveSpec dc3{"dc3", {}};
    dc3.profile.delay = absl::Milliseconds(40);
    dc3.profile.jitter = absl::Milliseconds(5);
    dc3.profile.loss = 0.01;
    auto s2 = Slave::Create(dc2, **main_zk, **slave_a, *layout);
    auto s3 = Slave::Create(dc3, **main_zk, **slave_b, *layout);
    if (!s2.ok() || !s3.ok()) {
      LOG(ERROR) << s2.status() << " / " << s3.status();
      return 1;
    }
    if (!(*s2)->StartKess().ok() || !(*s3)->StartKess().ok()) return 1;
    std::vector<Slave*> both = {s2->get(), s3->get()};
    auto singles = Singles(writer, both, FLAGS_singles);
    BurstResult b = Burst(writer, both, bursts[0], "three-");
    std::printf(
        "\n### Three DCs at once (main dc1; %d single changes, then a burst "
        "of %d)\n\n"
        "| slave DC | link | floor ms | single p50 ms | single p99 ms | burst: "
        "last ack -> slave holds all, ms |\n|---|---|---:|---:|---:|---:|\n",
        FLAGS_singles, bursts[0]);
    for (size_t i = 0; i < both.size(); ++i) {
      const double rtt =
          absl::ToDoubleMilliseconds(both[i]->spec().profile.delay * 2);
      std::printf("| %s | %s | %.0f | %s | %s | %s |\n",
                  both[i]->spec().dc.c_str(),
                  both[i]->spec().Describe().c_str(), 1.5 * rtt,
                  Fmt(Percentile(singles[i], 50)).c_str(),
                  Fmt(Percentile(singles[i], 99)).c_str(),
                  Fmt(b.after_last_ack_ms[i]).c_str());
      if (b.after_last_ack_ms[i] < 0) exit_code = 2;
    }
  }
  return exit_code;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "WAN replication benchmark");
  return kess::bench::Main();
}
