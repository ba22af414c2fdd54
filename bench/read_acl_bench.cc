// bench/read_acl_bench: what read rights cost the distributor. The
// distributor's subscription path in one process, without the network: a
// DataSet (namespaces of keys, and a read ACL on every namespace), the real
// SubscriptionHub behind the real ReadGuard, and connections with host
// principals that every ACL allows (so both runs deliver the same bytes).
// Per run, CPU time (CLOCK_PROCESS_CPUTIME_ID) of
//   - subscribe: every connection subscribes its namespaces and keys;
//   - fan-out: single changes, each pushed to its subscribers;
//   - pull: every connection's periodic pull of everything it holds.
// The same run with ReadGuard enforcing (the ACLs checked) and not (no
// principals: straight to the hub), alternated --repeats times; the median
// of each and their ratio are printed as a Markdown table. Without the
// network and TLS the ratio is an upper bound of what the checks add to a
// distributor's CPU.
#include <time.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/init.h"
#include "distributor/read_guard.h"
#include "gflags/gflags.h"

DEFINE_int32(connections, 5000, "agent connections");
DEFINE_int32(namespaces, 20, "namespaces, each with a read ACL");
DEFINE_int32(keys_per_namespace, 50, "config keys per namespace");
DEFINE_int32(namespaces_per_connection, 2, "whole namespaces subscribed");
DEFINE_int32(keys_per_connection, 10, "single keys subscribed");
DEFINE_int32(changes, 200, "single changes fanned out");
DEFINE_int32(pulls, 3, "pull rounds of every connection");
DEFINE_int32(acl_hosts, 100, "exact host ids in each ACL besides patterns");
DEFINE_int32(value_bytes, 256, "bytes per value");
DEFINE_int32(repeats, 3, "runs of each mode (alternated); the median counts");
DEFINE_string(only, "", "\"on\" or \"off\": run that mode alone (profiling)");

namespace kess {
namespace distributor {
namespace {

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Drops every payload; counts them. Both Push forms (no `override`).
class CountingPusher : public Pusher {
 public:
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload) {
    frames += connections.size();
    bytes += payload.size() * connections.size();
  }
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload, std::function<void()> on_written) {
    Push(connections, payload);
    if (on_written) on_written();
  }
  size_t frames = 0;
  size_t bytes = 0;
};

std::string Ns(int n) { return absl::StrCat("ns", n); }
std::string Key(int k) { return absl::StrCat("k", k); }

ItemPtr Config(int ns, int key, int64_t revision) {
  protocol::Resource r;
  r.mutable_key()->set_namespace_name(Ns(ns));
  r.mutable_key()->set_key(Key(key));
  r.set_revision(revision);
  r.set_value(std::string(FLAGS_value_bytes, 'v'));
  return *MakeItem(r);
}

ItemPtr Acl(int ns, int64_t revision) {
  zk::ReadAclRecord record;
  record.set_namespace_name(Ns(ns));
  record.set_revision(revision);
  for (int i = 0; i < FLAGS_acl_hosts; ++i) {
    record.add_hosts(absl::StrCat("db-", ns, "-", i));
  }
  record.add_hosts("cache-?-*");
  record.add_hosts("h-*");  // every benchmark connection
  record.add_identities("service/billing");
  auto item = std::make_shared<Item>();
  item->key = NamespaceAclKeyString(Ns(ns));
  item->revision = revision;
  item->acl = std::make_shared<const zk::CompiledReadAcl>(
      *zk::CompiledReadAcl::Compile(record));
  return item;
}

struct Times {
  double subscribe = 0, fanout = 0, pull = 0;
  size_t frames = 0, bytes = 0;
  double total() const { return subscribe + fanout + pull; }
};

Times Run(bool enforce) {
  DataSet data;
  std::vector<ItemPtr> items;
  int64_t revision = 0;
  for (int n = 0; n < FLAGS_namespaces; ++n) {
    items.push_back(Acl(n, ++revision));
    for (int k = 0; k < FLAGS_keys_per_namespace; ++k) {
      items.push_back(Config(n, k, ++revision));
    }
  }
  data.ApplyFullLoad(data.DiffFullLoad(items, revision), revision);
  metrics::Registry registry;
  DistributorMetrics metrics(&registry);
  CountingPusher pusher;
  HubOptions hub_options;
  SubscriptionHub hub(&data, [] { return false; }, &pusher, hub_options,
                      &metrics);
  ReadGuardOptions options;
  options.access.enforce = enforce;
  options.registry = &registry;
  ReadGuard guard(&data, &hub, [] { return false; },
                  [&pusher](uint64_t c, const std::string& p) {
                    pusher.Push({c}, p);
                  },
                  options);

  // What each connection subscribes and holds.
  std::vector<protocol::PullRequest> held(FLAGS_connections);
  Times t;
  double start = CpuSeconds();
  for (int c = 0; c < FLAGS_connections; ++c) {
    protocol::SubscribeRequest request;
    request.set_host_id(absl::StrCat("h-", c));  // as every agent sends it
    for (int i = 0; i < FLAGS_namespaces_per_connection; ++i) {
      protocol::Known* k = request.add_keys();
      k->mutable_key()->set_type(protocol::ResourceKey::NAMESPACE);
      k->mutable_key()->set_namespace_name(
          Ns((c + i) % FLAGS_namespaces));
    }
    for (int i = 0; i < FLAGS_keys_per_connection; ++i) {
      protocol::Known* k = request.add_keys();
      k->mutable_key()->set_namespace_name(Ns((c * 7 + i) % FLAGS_namespaces));
      k->mutable_key()->set_key(Key((c + i * 3) % FLAGS_keys_per_namespace));
    }
    const std::optional<zk::Reader> reader =
        zk::Reader{"host", absl::StrCat("h-", c)};
    Answer answer = guard.Subscribe(c, request.SerializeAsString(), reader);
    if (!answer.response.ok()) {
      std::cerr << "subscribe: " << answer.response.status() << "\n";
      std::exit(1);
    }
    // It now holds every key it asked for at its current revision.
    for (protocol::Known k : request.keys()) {
      if (k.key().type() == protocol::ResourceKey::NAMESPACE) {
        for (int key = 0; key < FLAGS_keys_per_namespace; ++key) {
          protocol::HeldKey* h = k.add_held();
          h->set_key(Key(key));
          h->set_revision(revision);
        }
      } else {
        k.set_revision(revision);
      }
      *held[c].add_keys() = std::move(k);
    }
  }
  t.subscribe = CpuSeconds() - start;

  start = CpuSeconds();
  for (int i = 0; i < FLAGS_changes; ++i) {
    std::vector<ItemPtr> change = {
        Config(i % FLAGS_namespaces, (i * 13) % FLAGS_keys_per_namespace,
               ++revision)};
    std::vector<ItemPtr> applied = data.ApplyNewer(std::move(change), revision);
    guard.OnChanges(applied, revision);
  }
  t.fanout = CpuSeconds() - start;

  start = CpuSeconds();
  for (int round = 0; round < FLAGS_pulls; ++round) {
    for (int c = 0; c < FLAGS_connections; ++c) {
      const std::optional<zk::Reader> reader =
          zk::Reader{"host", absl::StrCat("h-", c)};
      Answer answer =
          guard.Pull(c, held[c].SerializeAsString(), reader);
      if (!answer.response.ok()) std::exit(1);
    }
  }
  t.pull = CpuSeconds() - start;
  t.frames = pusher.frames;
  t.bytes = pusher.bytes;
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main() {
  std::vector<Times> off, on;
  if (!FLAGS_only.empty()) {
    Times t = Run(FLAGS_only == "on");
    std::cout << FLAGS_only << ": " << t.total() << " s\n";
    return 0;
  }
  for (int r = 0; r < FLAGS_repeats; ++r) {
    off.push_back(Run(false));
    on.push_back(Run(true));
  }
  auto median = [](const std::vector<Times>& runs, double Times::*field) {
    std::vector<double> v;
    for (const Times& t : runs) v.push_back(t.*field);
    return Median(v);
  };
  auto total = [](const std::vector<Times>& runs) {
    std::vector<double> v;
    for (const Times& t : runs) v.push_back(t.total());
    return Median(v);
  };
  std::cout << absl::StrFormat(
      "%d connections (host principals, every one allowed), %d namespaces x "
      "%d keys of %d B, each with a read ACL (%d exact hosts, 2 patterns, "
      "1 identity); per connection %d namespaces + %d keys; %d changes; %d "
      "pull rounds; median of %d runs each.\n\n",
      FLAGS_connections, FLAGS_namespaces, FLAGS_keys_per_namespace,
      FLAGS_value_bytes, FLAGS_acl_hosts, FLAGS_namespaces_per_connection,
      FLAGS_keys_per_connection, FLAGS_changes, FLAGS_pulls, FLAGS_repeats);
  std::cout << "| phase | CPU without ACL checks (s) | CPU with (s) | ratio |\n"
               "|---|---|---|---|\n";
  for (auto [name, field] :
       std::vector<std::pair<const char*, double Times::*>>{
           {"subscribe", &Times::subscribe},
           {"fan-out", &Times::fanout},
           {"pull", &Times::pull}}) {
    const double a = median(off, field), b = median(on, field);
    std::cout << absl::StrFormat("| %s | %.3f | %.3f | %.3f |\n", name, a, b,
                                 a > 0 ? b / a : 0);
  }
  const double a = total(off), b = total(on);
  std::cout << absl::StrFormat("| **total** | %.3f | %.3f | **%.3f** |\n", a,
                               b, a > 0 ? b / a : 0);
  std::cout << absl::StrFormat(
      "\nFrames pushed: %zu without, %zu with (the same deliveries).\n",
      off.front().frames, on.front().frames);
  return 0;
}

}  // namespace
}  // namespace distributor
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "read_acl_bench [--connections=N ...]");
  return kess::distributor::Main();
}
