// sdk::Registration against three real schedulers (mandator/scheduler) in
// this process, over the transport on 127.0.0.1 with ephemeral ports.
// Timeouts only bound "did not hang".
#include "sdk/registration.h"
#include "sdk/registration_pool.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/rendezvous.h"
#include "common/testing/wait_for.h"
#include "common/transport/event_loop.h"
#include "gtest/gtest.h"
#include "mandator/scheduler/scheduler.h"

namespace kess {
namespace {

using mandator::scheduler::Scheduler;
using testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(20);

// A TCP proxy on 127.0.0.1 in front of one server that can turn every
// connection it holds into a black hole: their bytes are read and dropped
// both ways, nothing is closed and no RST is sent (a stateful firewall or
// NAT that lost its table). Connections made afterwards pass normally.
class BlackHoleProxy {
 public:
  explicit BlackHoleProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (listen_fd_ < 0 ||
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~BlackHoleProxy() {
    stop_ = true;
    if (accept_thread_.joinable()) accept_thread_.join();
    for (std::thread& t : pumps_) t.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  bool ok() const { return port_ != 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  // Every connection open now drops its bytes from here on.
  void BlackHoleOpenConnections() { ++epoch_; }
  int accepted() const { return accepted_; }

 private:
  void AcceptLoop() {
    // Bounded: stop_ ends it; each turn waits at most 20 ms.
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const int down = accept(listen_fd_, nullptr, nullptr);
      if (down < 0) continue;
      const int up = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(upstream_port_);
      if (up < 0 ||
          connect(up, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        close(down);
        if (up >= 0) close(up);
        continue;
      }
      ++accepted_;
      const int epoch = epoch_;
      pumps_.emplace_back([this, down, up, epoch] { Pump(down, up, epoch); });
    }
  }

  void Pump(int down, int up, int epoch) {
    char buf[16384];
    while (!stop_) {
      pollfd p[2] = {{down, POLLIN, 0}, {up, POLLIN, 0}};
      if (poll(p, 2, 20) <= 0) continue;
      bool closed = false;
      for (int k = 0; k < 2 && !closed; ++k) {
        if (p[k].revents == 0) continue;
        const ssize_t n = read(p[k].fd, buf, sizeof(buf));
        if (n <= 0) {
          closed = true;
          break;
        }
        if (epoch_ != epoch) continue;  // a black hole: dropped
        const int to = k == 0 ? up : down;
        for (ssize_t off = 0; off < n;) {
          const ssize_t w = write(to, buf + off, n - off);
          if (w <= 0) {
            closed = true;
            break;
          }
          off += w;
        }
      }
      if (closed) break;
    }
    close(down);
    close(up);
  }

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> epoch_{0};
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  // Only the accept thread adds to it; the destructor joins that one first.
  std::vector<std::thread> pumps_;
};

class RegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      registries_.push_back(std::make_unique<metrics::Registry>());
      ports_.push_back(0);
      servers_.push_back(nullptr);
      StartServer(i);
      addresses_.push_back(servers_[i]->address());
    }
  }

  void StartServer(int i) {
    mandator::scheduler::SchedulerOptions o;
    o.mandator_id = absl::StrCat("m", i);
    o.datacenter = "dc1";
    o.port = ports_[i];  // the same port again after a restart
    o.num_loops = 1;
    o.max_batch = max_batch_;
    o.registry = registries_[i].get();
    auto s = Scheduler::Create(o);
    ASSERT_TRUE(s.ok()) << s.status();
    servers_[i] = std::move(s).value();
    ports_[i] = servers_[i]->port();
  }

  sdk::RegistrationOptions Options(const std::string& id) {
    sdk::RegistrationOptions o;
    o.mandators = addresses_;
    o.instance.service = "checkout";
    o.instance.id = id;
    o.instance.host = "web-1";
    o.instance.address = "127.0.0.1:8080";
    o.instance.datacenter = "dc1";
    o.instance.metadata["version"] = "1.0";
    o.heartbeat_interval = absl::Milliseconds(100);
    o.call_timeout = absl::Seconds(2);
    o.return_interval = absl::Milliseconds(500);
    o.registry = &sdk_registry_;
    return o;
  }

  // The indexes of the two servers HRW prefers for `id`.
  std::set<int> Preferred(const std::string& id) {
    std::vector<std::string> order =
        RendezvousOrder(absl::StrCat("checkout/", id), addresses_);
    std::set<int> out;
    for (int k = 0; k < 2; ++k) {
      for (int i = 0; i < 3; ++i) {
        if (addresses_[i] == order[k]) out.insert(i);
      }
    }
    return out;
  }

  // The instance as server i sees it; nullptr if it does not.
  std::unique_ptr<protocol::InstanceSeen> Seen(int i, const std::string& id) {
    if (servers_[i] == nullptr) return nullptr;
    protocol::PartialTable t = servers_[i]->table().Snapshot(0, nullptr);
    for (const auto& seen : t.instances()) {
      if (seen.info().id() == id) {
        return std::make_unique<protocol::InstanceSeen>(seen);
      }
    }
    return nullptr;
  }
  bool Live(int i, const std::string& id) {
    auto seen = Seen(i, id);
    return seen != nullptr && !seen->deregistered();
  }
  std::set<int> Holding(const std::string& id) {
    std::set<int> out;
    for (int i = 0; i < 3; ++i) {
      if (Live(i, id)) out.insert(i);
    }
    return out;
  }
  std::set<int> Registered(const sdk::Registration& r) {
    std::set<int> out;
    for (const std::string& a : r.state().registered) {
      for (int i = 0; i < 3; ++i) {
        if (addresses_[i] == a) out.insert(i);
      }
    }
    return out;
  }

  // What server i counted of `name` (by method for requests).
  double ServerCounter(int i, const std::string& name,
                       const metrics::Labels& labels = {}) {
    return registries_[i]->GetCounter(name, "", labels)->Value();
  }
  double HeartbeatRequests(int i) {
    return ServerCounter(i, "kess_scheduler_requests_total",
                         {{"method", "kess.Heartbeat"}});
  }
  double ServerConnections(int i) {
    return registries_[i]
        ->GetGauge("kess_transport_connections", "", {{"role", "server"}})
        ->Value();
  }

  // Registrations of `prefix`-0.. sharing one loop and one pool.
  struct Pooled {
    std::unique_ptr<transport::EventLoop> loop;
    std::shared_ptr<sdk::RegistrationPool> pool;
    std::vector<std::unique_ptr<sdk::Registration>> regs;
    ~Pooled() {
      regs.clear();  // members first, then the pool, then the loop
      pool.reset();
      loop.reset();
    }
  };
  std::unique_ptr<Pooled> MakePooled(
      const std::string& prefix, int n, size_t max_batch_instances = 1000,
      absl::Duration call_timeout = absl::Seconds(2)) {
    auto p = std::make_unique<Pooled>();
    auto loop = transport::EventLoop::Create("test-pool");
    EXPECT_TRUE(loop.ok()) << loop.status();
    p->loop = std::move(loop).value();
    sdk::RegistrationPoolOptions po;
    po.loop = p->loop.get();
    po.heartbeat_interval = absl::Milliseconds(100);
    po.call_timeout = call_timeout;
    po.max_batch_instances = max_batch_instances;
    po.registry = &pool_registry_;
    auto pool = sdk::RegistrationPool::Create(po);
    EXPECT_TRUE(pool.ok()) << pool.status();
    p->pool = std::move(pool).value();
    for (int k = 0; k < n; ++k) {
      sdk::RegistrationOptions o = Options(absl::StrCat(prefix, k));
      o.call_timeout = call_timeout;
      o.pool = p->pool;
      auto r = sdk::Registration::Create(o);
      EXPECT_TRUE(r.ok()) << r.status();
      p->regs.push_back(std::move(r).value());
    }
    return p;
  }
  // Every pooled instance is live at both of its preferred servers.
  bool AllLiveAtPreferred(const std::string& prefix, int n) {
    for (int k = 0; k < n; ++k) {
      const std::string id = absl::StrCat(prefix, k);
      if (Holding(id) != Preferred(id)) return false;
    }
    return true;
  }

  int max_batch_ = 10000;  // the schedulers' (set before SetUp's start)
  metrics::Registry sdk_registry_;
  metrics::Registry pool_registry_;
  std::vector<std::unique_ptr<metrics::Registry>> registries_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<Scheduler>> servers_;
  std::vector<std::string> addresses_;
};

TEST_F(RegistrationTest, PicksTwoByHrwStableAcrossRestarts) {
  const std::set<int> preferred = Preferred("c-1");
  for (int run = 0; run < 2; ++run) {
    auto r = sdk::Registration::Create(Options("c-1"));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
    EXPECT_EQ(Registered(**r), preferred) << "run " << run;
    EXPECT_EQ(Holding("c-1"), preferred) << "run " << run;
    EXPECT_TRUE((*r)->Deregister().ok());
  }
  // Instances spread over all three mandators.
  std::set<int> firsts;
  for (int k = 0; k < 30; ++k) {
    std::set<int> p = Preferred(absl::StrCat("c-", k));
    firsts.insert(p.begin(), p.end());
  }
  EXPECT_EQ(firsts.size(), 3u);
}

TEST_F(RegistrationTest, HeartbeatsRefreshAndUnknownReRegisters) {
  auto r = sdk::Registration::Create(Options("c-2"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  const int i = *Preferred("c-2").begin();
  absl::SleepFor(absl::Milliseconds(300));
  auto seen = Seen(i, "c-2");
  ASSERT_NE(seen, nullptr);
  EXPECT_LT(seen->last_heartbeat_age_ms(), 5000);  // heartbeats arrive
  EXPECT_GT(seen->first_seen_age_ms(), seen->last_heartbeat_age_ms());

  // The mandator forgets it (a tombstone answers "unknown"): the next
  // heartbeat brings a registration.
  google::protobuf::RepeatedPtrField<protocol::InstanceRef> refs;
  refs.Add()->set_service("checkout");
  refs[0].set_id("c-2");
  ASSERT_EQ(servers_[i]->table().Deregister(refs), 1u);
  EXPECT_TRUE(WaitFor([&] { return Live(i, "c-2"); }, kWait));
}

TEST_F(RegistrationTest, HealthAndWeightReachBothMandators) {
  sdk::RegistrationOptions o = Options("c-3");
  o.instance.health = "warming_up";
  auto r = sdk::Registration::Create(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  for (int i : Preferred("c-3")) {
    EXPECT_EQ(Seen(i, "c-3")->info().health(), "warming_up");
  }
  ASSERT_TRUE((*r)->SetHealth("up").ok());
  ASSERT_TRUE((*r)->SetWeight(250).ok());
  for (int i : Preferred("c-3")) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto s = Seen(i, "c-3");
          return s->info().health() == "up" && s->info().weight() == 250;
        },
        kWait));
  }
  EXPECT_EQ((*r)->SetWeight(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->SetWeight(-3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->SetHealth("Warming Up").code(),
            absl::StatusCode::kInvalidArgument);
}

// Many Registrations on one shared loop (what the host agent does), each
// with its own check status; SetInstance replaces the rest but not the
// identity.
TEST_F(RegistrationTest, SharedLoopCheckStatusAndSetInstance) {
  auto loop = transport::EventLoop::Create("test-register");
  ASSERT_TRUE(loop.ok()) << loop.status();
  std::vector<std::unique_ptr<sdk::Registration>> regs;
  for (int k = 0; k < 20; ++k) {
    sdk::RegistrationOptions o = Options(absl::StrCat("shared-", k));
    o.loop = loop->get();
    auto r = sdk::Registration::Create(o);
    ASSERT_TRUE(r.ok()) << r.status();
    regs.push_back(std::move(r).value());
  }
  for (auto& r : regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());
  ASSERT_TRUE(regs[0]->SetCheckStatus("critical", "HTTP GET /: timed out").ok());
  for (int i : Preferred("shared-0")) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto s = Seen(i, "shared-0");
          return s != nullptr && s->info().check_status() == "critical" &&
                 s->info().check_output() == "HTTP GET /: timed out";
        },
        kWait));
  }
  EXPECT_EQ(regs[0]->SetCheckStatus("dead", "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(regs[0]->SetCheckStatus("passing", "bell\x07").code(),
            absl::StatusCode::kInvalidArgument);

  sdk::Instance next = Options("shared-1").instance;
  next.address = "127.0.0.1:9090";
  next.weight = 7;
  ASSERT_TRUE(regs[1]->SetInstance(next).ok());
  for (int i : Preferred("shared-1")) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto s = Seen(i, "shared-1");
          return s != nullptr && s->info().address() == "127.0.0.1:9090" &&
                 s->info().weight() == 7;
        },
        kWait));
  }
  next.host = "web-2";
  EXPECT_EQ(regs[1]->SetInstance(next).code(),
            absl::StatusCode::kInvalidArgument);

  // Destroyed one by one while the loop goes on: each deregisters.
  regs.resize(10);
  for (int k = 10; k < 20; ++k) {
    EXPECT_TRUE(WaitFor(
        [&] { return Holding(absl::StrCat("shared-", k)).empty(); }, kWait))
        << k;
  }
  regs.clear();
}

TEST_F(RegistrationTest, MovesToTheThirdWhenOneDiesAndComesBack) {
  const std::set<int> preferred = Preferred("c-4");
  int third = 0;
  while (preferred.count(third)) ++third;
  const int victim = *preferred.begin();
  auto r = sdk::Registration::Create(Options("c-4"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());

  servers_[victim].reset();  // its connections close
  std::set<int> moved = preferred;
  moved.erase(victim);
  moved.insert(third);
  EXPECT_TRUE(WaitFor([&] { return Registered(**r) == moved; }, kWait))
      << "registered at " << Registered(**r).size();
  EXPECT_TRUE(Live(third, "c-4"));
  EXPECT_EQ((*r)->state().switches, 1);

  // It comes back on its port: after return_interval the SDK returns to it.
  StartServer(victim);
  EXPECT_TRUE(WaitFor(
      [&] {
        sdk::RegistrationState s = (*r)->state();
        return Registered(**r) == preferred && s.targets.size() == 2;
      },
      kWait));
  EXPECT_TRUE(Live(victim, "c-4"));
  // The third is no longer heartbeated (it ages and is forgotten later).
  auto before = Seen(third, "c-4");
  absl::SleepFor(absl::Milliseconds(400));
  auto after = Seen(third, "c-4");
  ASSERT_TRUE(before && after);
  EXPECT_GE(after->last_heartbeat_age_ms(),
            before->last_heartbeat_age_ms() + 300);
}

TEST_F(RegistrationTest, DeregisterReachesBoth) {
  const std::set<int> preferred = Preferred("c-5");
  auto r = sdk::Registration::Create(Options("c-5"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  EXPECT_TRUE((*r)->Deregister().ok());
  for (int i : preferred) {
    auto seen = Seen(i, "c-5");
    ASSERT_NE(seen, nullptr);
    EXPECT_TRUE(seen->deregistered()) << "server " << i;
  }
  EXPECT_TRUE((*r)->state().deregistered);
  EXPECT_EQ((*r)->SetHealth("up").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*r)->Deregister().ok());  // the first call's result
}

TEST_F(RegistrationTest, DestructorDeregistersAndIsBoundedWhenAllAreDown) {
  {
    auto r = sdk::Registration::Create(Options("c-6"));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  }
  for (int i : Preferred("c-6")) {
    ASSERT_NE(Seen(i, "c-6"), nullptr);
    EXPECT_TRUE(Seen(i, "c-6")->deregistered());
  }
  auto r = sdk::Registration::Create(Options("c-7"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  for (auto& s : servers_) s.reset();
  const absl::Time start = absl::Now();
  r->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));  // did not hang
}

TEST_F(RegistrationTest, CreateRejectsBadOptions) {
  sdk::RegistrationOptions o = Options("c-8");
  o.mandators.clear();
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("../c");
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("c-8");
  o.instance.weight = 0;
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("c-8");
  o.mandators.push_back("no-port");
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- RegistrationPool: shared connections, batched heartbeats ----

// 60 instances on one pool: one connection per server, and per interval
// one kess.Heartbeat request per server carrying all of its instances
// (against 60 * 2 single ones without the pool). Each instance stays
// fresh at exactly its two preferred servers.
TEST_F(RegistrationTest, PoolSendsOneHeartbeatPerMandatorPerInterval) {
  constexpr int kN = 60;
  auto p = MakePooled("pool-", kN);
  for (auto& r : p->regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());
  ASSERT_TRUE(AllLiveAtPreferred("pool-", kN));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ServerConnections(i), 1) << "server " << i;
  }

  std::vector<double> before(3);
  for (int i = 0; i < 3; ++i) before[i] = HeartbeatRequests(i);
  const double refs_before = ServerCounter(0, "kess_scheduler_heartbeats_total") +
                             ServerCounter(1, "kess_scheduler_heartbeats_total") +
                             ServerCounter(2, "kess_scheduler_heartbeats_total");
  const int64_t batches_before = p->pool->batches_sent();
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Seconds(2));  // about 20 intervals of 100 ms
  const double elapsed_intervals =
      absl::FDivDuration(absl::Now() - start, absl::Milliseconds(100));
  double requests = 0;
  for (int i = 0; i < 3; ++i) requests += HeartbeatRequests(i) - before[i];
  const double refs = ServerCounter(0, "kess_scheduler_heartbeats_total") +
                      ServerCounter(1, "kess_scheduler_heartbeats_total") +
                      ServerCounter(2, "kess_scheduler_heartbeats_total") -
                      refs_before;
  // At most 3 requests per tick (+-10 % jitter, 2 ticks of slack), never
  // one per instance.
  EXPECT_LE(requests, 3 * (elapsed_intervals * 1.15 + 2)) << requests;
  EXPECT_GE(requests, 3 * 5);
  EXPECT_EQ(p->pool->batches_sent() - batches_before,
            static_cast<int64_t>(requests));
  // Each request carries on average the 2 * 60 / 3 instances of a server.
  EXPECT_GE(refs / requests, 2.0 * kN / 3 * 0.8) << refs << " / " << requests;
  EXPECT_TRUE(AllLiveAtPreferred("pool-", kN));
  for (int k = 0; k < kN; ++k) {
    for (int i : Preferred(absl::StrCat("pool-", k))) {
      auto seen = Seen(i, absl::StrCat("pool-", k));
      ASSERT_NE(seen, nullptr);
      EXPECT_LT(seen->last_heartbeat_age_ms(), 1000) << k << " at " << i;
    }
  }
}

// The pool's bound splits a server's instances over several requests.
TEST_F(RegistrationTest, PoolSplitsBatchesAtItsBound) {
  constexpr int kN = 30;
  auto p = MakePooled("split-", kN, /*max_batch_instances=*/4);
  for (auto& r : p->regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());
  const int64_t batches = p->pool->batches_sent();
  const int64_t refs = p->pool->refs_sent();
  absl::SleepFor(absl::Seconds(1));
  const int64_t b = p->pool->batches_sent() - batches;
  const int64_t n = p->pool->refs_sent() - refs;
  ASSERT_GT(b, 0);
  // Never more than 4 per request, so at least n / 4 requests.
  EXPECT_GE(b * 4, n);
  EXPECT_GT(n, b * 2);  // and not one per request either
  EXPECT_TRUE(AllLiveAtPreferred("split-", kN));
}

// A mandator with a smaller batch limit refuses the batch as
// INVALID_ARGUMENT; the pool sends it again in halves and every instance
// stays fresh.
TEST_F(RegistrationTest, PoolHalvesABatchTheMandatorRefuses) {
  for (auto& s : servers_) s.reset();
  max_batch_ = 5;
  for (int i = 0; i < 3; ++i) StartServer(i);
  constexpr int kN = 40;
  auto p = MakePooled("small-", kN);
  for (auto& r : p->regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());
  metrics::Counter* splits = pool_registry_.GetCounter(
      "kess_sdk_heartbeat_batch_splits_total", "");
  EXPECT_TRUE(WaitFor([&] { return splits->Value() > 0; }, kWait));
  const double unknown_before =
      ServerCounter(0, "kess_scheduler_unknown_heartbeats_total");
  // Longer than the ages below: refused heartbeats would show.
  absl::SleepFor(absl::Milliseconds(1500));
  for (int k = 0; k < kN; ++k) {
    for (int i : Preferred(absl::StrCat("small-", k))) {
      auto seen = Seen(i, absl::StrCat("small-", k));
      ASSERT_NE(seen, nullptr);
      EXPECT_LT(seen->last_heartbeat_age_ms(), 1000) << k << " at " << i;
    }
  }
  EXPECT_EQ(ServerCounter(0, "kess_scheduler_unknown_heartbeats_total"),
            unknown_before);
}

// A server that forgets instances answers them unknown in the batch: only
// those re-register. A server that goes away: its instances fail over to
// the third, over the pool's connections, and come back.
TEST_F(RegistrationTest, PoolReRegistersUnknownAndFailsOver) {
  constexpr int kN = 20;
  auto p = MakePooled("pf-", kN);
  for (auto& r : p->regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());

  const std::string forgotten = "pf-3";
  const int i = *Preferred(forgotten).begin();
  google::protobuf::RepeatedPtrField<protocol::InstanceRef> refs;
  refs.Add()->set_service("checkout");
  refs[0].set_id(forgotten);
  const double registrations_before =
      ServerCounter(i, "kess_scheduler_registrations_total");
  ASSERT_EQ(servers_[i]->table().Deregister(refs), 1u);
  EXPECT_TRUE(WaitFor([&] { return Live(i, forgotten); }, kWait));
  absl::SleepFor(absl::Milliseconds(300));
  // Only the forgotten one registered again there.
  EXPECT_EQ(ServerCounter(i, "kess_scheduler_registrations_total") -
                registrations_before,
            1);

  const int victim = 0;
  servers_[victim].reset();
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int k = 0; k < kN; ++k) {
          const std::string id = absl::StrCat("pf-", k);
          if (Holding(id).size() != 2 || Holding(id).count(victim)) {
            return false;
          }
        }
        return true;
      },
      kWait));
  StartServer(victim);
  // Back at the preferred two (the third still holds some, aging).
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int k = 0; k < kN; ++k) {
          const std::string id = absl::StrCat("pf-", k);
          if (Registered(*p->regs[k]) != Preferred(id)) return false;
          for (int i : Preferred(id)) {
            if (!Live(i, id)) return false;
          }
        }
        return true;
      },
      kWait));
  for (int s = 0; s < 3; ++s) {
    EXPECT_TRUE(WaitFor([&] { return ServerConnections(s) == 1; }, kWait))
        << "server " << s << ": " << ServerConnections(s);
  }
}

// Deregistration through the pool reaches both servers; a pooled
// Registration may not name another loop.
TEST_F(RegistrationTest, PoolDeregistersAndRejectsAnotherLoop) {
  auto p = MakePooled("pd-", 4);
  for (auto& r : p->regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());
  EXPECT_TRUE(p->regs[1]->Deregister().ok());
  for (int i : Preferred("pd-1")) {
    auto seen = Seen(i, "pd-1");
    ASSERT_NE(seen, nullptr);
    EXPECT_TRUE(seen->deregistered()) << "server " << i;
  }
  p->regs[2].reset();  // the destructor deregisters too
  for (int i : Preferred("pd-2")) EXPECT_TRUE(Seen(i, "pd-2")->deregistered());
  EXPECT_TRUE(Live(*Preferred("pd-0").begin(), "pd-0"));

  auto other = transport::EventLoop::Create("test-other");
  ASSERT_TRUE(other.ok());
  sdk::RegistrationOptions o = Options("pd-9");
  o.pool = p->pool;
  o.loop = other->get();
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Every pool connection turns into a black hole (no answer, no RST): the
// calls on it time out, the pool drops it and connects again, and every
// instance keeps heartbeating its two servers, long before they would
// expire it (10 intervals of 5 s) or TCP would give up.
TEST_F(RegistrationTest, PoolReconnectsWhenItsConnectionsBecomeBlackHoles) {
  std::vector<std::unique_ptr<BlackHoleProxy>> proxies;
  for (int i = 0; i < 3; ++i) {
    proxies.push_back(std::make_unique<BlackHoleProxy>(ports_[i]));
    ASSERT_TRUE(proxies[i]->ok());
    addresses_[i] = proxies[i]->address();  // server i behind proxy i
  }
  constexpr int kN = 10;
  auto p = MakePooled("bh-", kN, 1000, absl::Milliseconds(300));
  for (auto& r : p->regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(proxies[i]->accepted(), 1) << i;

  for (auto& proxy : proxies) proxy->BlackHoleOpenConnections();
  const absl::Time holed = absl::Now();
  // Every instance heard from again at two servers, after the black hole.
  auto fresh = [&] {
    const int64_t since_ms = absl::ToInt64Milliseconds(absl::Now() - holed);
    for (int k = 0; k < kN; ++k) {
      int heard = 0;
      for (int i = 0; i < 3; ++i) {
        auto seen = Seen(i, absl::StrCat("bh-", k));
        if (seen != nullptr && !seen->deregistered() &&
            seen->last_heartbeat_age_ms() < since_ms) {
          ++heard;
        }
      }
      if (heard < 2) return false;
    }
    return true;
  };
  EXPECT_TRUE(WaitFor(fresh, absl::Seconds(5)));
  // Each server again over a new connection (the instances that failed
  // over to their third server come back once their probe answers).
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(WaitFor([&] { return proxies[i]->accepted() >= 2; }, kWait))
        << i;
  }
  // And they stay fresh on the new connections.
  absl::SleepFor(absl::Seconds(1));
  for (int k = 0; k < kN; ++k) {
    const std::string id = absl::StrCat("bh-", k);
    int heard = 0;
    for (int i = 0; i < 3; ++i) {
      auto seen = Seen(i, id);
      if (seen != nullptr && !seen->deregistered() &&
          seen->last_heartbeat_age_ms() < 500) {
        ++heard;
      }
    }
    EXPECT_GE(heard, 2) << id;
  }
  p.reset();  // before the proxies
}

}  // namespace
}  // namespace kess
