// Collector against in-test transport servers that answer
// kess.GetPartialTable (stand-ins for the mandators' scheduler).
#include "mandator/routes/collector.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "model/protocol/discovery_methods.h"
#include "common/transport/server.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

// A fake mandator: `instances` instances of service "svc"; answers after
// `delay` (0 = at once), honouring paging.
class FakeMandator {
 public:
  FakeMandator(std::string id, int instances) : id_(std::move(id)) {
    for (int i = 0; i < instances; ++i) {
      protocol::InstanceSeen* seen = all_.add_instances();
      seen->mutable_info()->set_service("svc");
      seen->mutable_info()->set_id(absl::StrCat("i", 10000 + i));
      seen->set_last_heartbeat_age_ms(100);
    }
    transport::HandlerMap handlers;
    handlers[protocol::kGetPartialTableMethod] =
        [this](transport::Request request, transport::Responder responder) {
          ++calls_;
          const absl::Duration delay = delay_.load();
          if (delay == absl::ZeroDuration()) {
            responder.Respond(Answer(request.payload));
            return;
          }
          // Answered from the thread without touching `this` (the fake may
          // be gone by then; the server's Responder then does nothing).
          std::thread([delay, answer = Answer(request.payload),
                       r = std::move(responder)]() mutable {
            absl::SleepFor(delay);
            r.Respond(std::move(answer));
          }).detach();
        };
    transport::ServerOptions options;
    options.registry = &registry_;
    server_ = std::move(transport::Server::Create(options, handlers)).value();
  }

  Peer peer() const {
    return Peer{id_, "dc1", absl::StrCat("127.0.0.1:", server_->port())};
  }
  void set_delay(absl::Duration d) { delay_ = d; }
  int calls() const { return calls_; }

 private:
  std::string Answer(const std::string& payload) {
    protocol::PartialTableRequest request;
    request.ParseFromString(payload);
    protocol::PartialTable page;
    page.set_mandator_id(id_);
    page.set_datacenter("dc1");
    page.set_uptime_ms(60000);
    int start = 0;
    if (request.has_after()) {
      while (start < all_.instances_size() &&
             all_.instances(start).info().id() <= request.after().id()) {
        ++start;
      }
    } else {
      page.add_hosts()->set_host_id("h1");
    }
    const int limit = request.max_instances() > 0 ? request.max_instances()
                                                  : all_.instances_size();
    int i = start;
    for (; i < all_.instances_size() && i - start < limit; ++i) {
      *page.add_instances() = all_.instances(i);
    }
    if (i < all_.instances_size()) {
      page.mutable_next_after()->set_service("svc");
      page.mutable_next_after()->set_id(all_.instances(i - 1).info().id());
    }
    return page.SerializeAsString();
  }

  const std::string id_;
  protocol::PartialTable all_;
  std::atomic<absl::Duration> delay_{absl::ZeroDuration()};
  std::atomic<int> calls_{0};
  metrics::Registry registry_;
  std::unique_ptr<transport::Server> server_;
};

class CollectorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Collector> NewCollector(int page_size = 20000) {
    Collector::Options options;
    options.requester_id = "leader";
    options.policy.normal_timeout = absl::Milliseconds(800);
    options.policy.degraded_timeout = absl::Milliseconds(100);
    options.page_size = page_size;
    options.registry = &registry_;
    return std::move(Collector::Create(options)).value();
  }
  metrics::Registry registry_;
};

TEST_F(CollectorTest, CollectsEveryPeerWithPages) {
  FakeMandator m1("m1", 25), m2("m2", 7);
  std::unique_ptr<Collector> collector = NewCollector(/*page_size=*/10);
  std::vector<PeerReport> reports = collector->Collect({m1.peer(), m2.peer()});
  ASSERT_EQ(reports.size(), 2u);
  ASSERT_TRUE(reports[0].answered);
  EXPECT_EQ(reports[0].table.instances_size(), 25);
  EXPECT_EQ(reports[0].table.hosts_size(), 1);
  EXPECT_FALSE(reports[0].table.has_next_after());
  EXPECT_EQ(m1.calls(), 3);  // 10 + 10 + 5
  ASSERT_TRUE(reports[1].answered);
  EXPECT_EQ(reports[1].table.instances_size(), 7);
  EXPECT_EQ(reports[1].id, "m2");
}

TEST_F(CollectorTest, ADeadPeerIsReportedAsNotAnswering) {
  FakeMandator m1("m1", 1);
  std::unique_ptr<Collector> collector = NewCollector();
  // A port nobody listens on (bound and closed by a server).
  std::string dead;
  {
    FakeMandator gone("gone", 0);
    dead = gone.peer().address;
  }
  std::vector<PeerReport> reports =
      collector->Collect({m1.peer(), Peer{"gone", "dc1", dead}});
  EXPECT_TRUE(reports[0].answered);
  EXPECT_FALSE(reports[1].answered);
  EXPECT_EQ(collector->TimeoutOf(Peer{"gone", "dc1", dead}),
            absl::Milliseconds(800));  // an error is not a timeout
}

TEST_F(CollectorTest, ASlowPeerDropsToTheShortTimeoutAndRecovers) {
  FakeMandator fast("fast", 10), slow("slow", 10);
  slow.set_delay(absl::Seconds(3));
  std::unique_ptr<Collector> collector = NewCollector();
  const std::vector<Peer> peers = {fast.peer(), slow.peer()};
  for (int cycle = 0; cycle < 3; ++cycle) {
    const absl::Time start = absl::Now();
    std::vector<PeerReport> reports = collector->Collect(peers);
    const absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(reports[0].answered) << cycle;
    EXPECT_FALSE(reports[1].answered) << cycle;
    EXPECT_LT(took, absl::Milliseconds(800) + absl::Seconds(1)) << cycle;
  }
  EXPECT_EQ(collector->TimeoutOf(slow.peer()), absl::Milliseconds(100));
  // Degraded: a cycle now costs about 100 ms, not 800.
  const absl::Time start = absl::Now();
  std::vector<PeerReport> reports = collector->Collect(peers);
  EXPECT_TRUE(reports[0].answered);
  EXPECT_FALSE(reports[1].answered);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(600));

  // Healthy again: 10 successes (within 100 ms each) bring 800 ms back.
  slow.set_delay(absl::Milliseconds(1));
  int answered = 0;
  for (int i = 0; i < 40 && answered < 10; ++i) {
    if (collector->Collect(peers)[1].answered) ++answered;
  }
  EXPECT_EQ(answered, 10);
  EXPECT_EQ(collector->TimeoutOf(slow.peer()), absl::Milliseconds(800));
  EXPECT_EQ(registry_.GetGauge("kess_routes_degraded_peers", "")->Value(), 0);
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
