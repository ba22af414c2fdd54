// Encrypted values end to end (docs/security.md, "Encrypted values"): two
// DCs of real processes (ZooKeeper, a mandator, a distributor and an agent
// per DC, plus an agent in dc2 without the key ring) on 127.0.0.1.
//  - namespace "vault" is made secret through PUT
//    /api/v1/namespaces/vault/settings; a value written through the HTTP API
//    is an envelope in both DCs' ZooKeeper (read directly), in the HTTP API's
//    answer, and in what the distributors serve (the agent without the ring
//    writes exactly what it got); the plaintext is in no distributor's
//    memory (its /proc/<pid>/mem scanned, the envelope found there as the
//    control);
//  - the agents with the ring hold the plaintext in a 0600 cache file; the
//    agent without it holds the envelope (0600) and counts it as no_key;
//  - rotation: key 2 goes to the agents' rings, then the mandators'; `kessctl
//    secrets reencrypt` writes every value back, both DCs then hold
//    envelopes under key 2, the agents with the new ring read the plaintext
//    at the new revision; with key 1 dropped from every ring, a new value
//    still reaches them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "kessctl/commands.h"
#include "model/file_cache/reader.h"
#include "model/secrets/envelope.h"
#include "model/secrets/key_dir.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/dc_snapshot.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_cluster.h"

namespace kess {
namespace {

using file_cache::CacheKey;
using testing::AgentHost;
using testing::CacheTierCluster;
using testing::CacheTierClusterOptions;

constexpr absl::Duration kWait = absl::Seconds(60);
constexpr char kNs[] = "vault";
constexpr char kKey[] = "db.password";

std::string MakeDir(const std::string& path) {
  mkdir(path.c_str(), 0700);
  return path;
}

// Every readable, writable mapping of process `pid` (heap, anonymous
// memory, stacks) contains `needle` somewhere. Bounded: at most 256 MiB per
// mapping.
absl::StatusOr<bool> MemoryContains(pid_t pid, const std::string& needle) {
  std::ifstream maps(absl::StrCat("/proc/", pid, "/maps"));
  if (!maps) return absl::UnavailableError("no /proc/<pid>/maps");
  const int fd = open(absl::StrCat("/proc/", pid, "/mem").c_str(), O_RDONLY);
  if (fd < 0) return absl::UnavailableError("cannot open /proc/<pid>/mem");
  std::string line;
  bool found = false;
  std::string carry;
  int64_t scanned = 0;
  while (!found && std::getline(maps, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 2 || f[1].size() < 2 || f[1][0] != 'r' || f[1][1] != 'w') {
      continue;
    }
    std::vector<std::string> range = absl::StrSplit(f[0], '-');
    const uint64_t begin = std::stoull(range[0], nullptr, 16);
    const uint64_t end =
        std::min<uint64_t>(std::stoull(range[1], nullptr, 16),
                           begin + (uint64_t{256} << 20));
    std::string buffer(1 << 20, '\0');
    carry.clear();
    for (uint64_t at = begin; at < end && !found;) {
      const size_t want = std::min<uint64_t>(buffer.size(), end - at);
      const ssize_t n = pread(fd, buffer.data(), want, static_cast<off_t>(at));
      if (n <= 0) break;
      scanned += n;
      std::string window = carry + buffer.substr(0, static_cast<size_t>(n));
      if (window.find(needle) != std::string::npos) found = true;
      carry = window.substr(window.size() > needle.size()
                                ? window.size() - needle.size()
                                : 0);
      at += static_cast<uint64_t>(n);
    }
  }
  close(fd);
  if (scanned == 0) return absl::UnavailableError("nothing readable");
  return found;
}

absl::StatusOr<file_cache::CacheEntry> Cached(const AgentHost& agent) {
  return file_cache::FileCacheReader(agent.cache_dir())
      .Read(CacheKey::Config(kNs, kKey));
}

int FileMode(const AgentHost& agent) {
  struct stat st;
  const std::string path =
      absl::StrCat(agent.cache_dir(), "/configs/", kNs, "/", kKey, ".json");
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777)
                                      : -1;
}

// The value of vault/db.password in a DC's ZooKeeper, read directly.
std::string StoredIn(zk::ZkApi& zk, const zk::Layout& layout) {
  absl::StatusOr<testing::DcSnapshot> dc = testing::ReadDc(zk, layout);
  if (!dc.ok()) return "<" + dc.status().ToString() + ">";
  auto it = dc->configs.find(absl::StrCat(kNs, "/", kKey));
  return it == dc->configs.end() ? "<absent>" : it->second.value;
}

class SecretValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string base = MakeDir(::testing::TempDir() + "/secret-e2e");
    mandator_keys_ = MakeDir(base + "/mandator-keys");
    agent_keys_ = MakeDir(base + "/agent-keys");
    empty_keys_ = MakeDir(base + "/no-keys");
    for (const std::string& dir : {mandator_keys_, agent_keys_}) {
      unlink(absl::StrCat(dir, "/", kNs, ".key").c_str());
    }
    ring_ = secrets::AddNewKey({}).value();
    WriteRing(mandator_keys_, ring_);
    WriteRing(agent_keys_, ring_);

    CacheTierClusterOptions options;
    options.dcs.extra_flags = {"--secret_keys_dir=" + mandator_keys_};
    options.distributors_per_dc = 1;
    options.agents_per_dc = 1;
    options.agent_flags = {"--secret_keys_dir=" + agent_keys_};
    auto started = CacheTierCluster::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    cluster_ = std::move(started).value();
    // A host of dc2 without the ring: the same agent, its flag pointing at
    // an empty directory (gflags: the last one counts).
    const std::string wrapper = base + "/agent-without-keys.sh";
    std::string agent = testing::ClusterBinary("", "agent/agent");
    if (agent.empty() || agent[0] != '/') {
      char cwd[4096];
      ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
      agent = absl::StrCat(cwd, "/", agent);
    }
    {
      std::ofstream out(wrapper);
      out << "#!/bin/sh\nexec '" << agent << "' \"$@\" "
          << "--secret_keys_dir=" << empty_keys_ << "\n";
    }
    chmod(wrapper.c_str(), 0755);
    auto nokey = cluster_->AddAgent(cluster_->slave(), "nokey", wrapper);
    ASSERT_TRUE(nokey.ok()) << nokey.status();
    no_key_ = *nokey;
    with_key_ = {cluster_->main().agents[0].get(),
                 cluster_->slave().agents[0].get()};
  }

  void WriteRing(const std::string& dir, const secrets::KeyRing& ring) {
    ASSERT_TRUE(secrets::WriteKeyRingFile(absl::StrCat(dir, "/", kNs, ".key"),
                                          ring, kNs)
                    .ok());
  }

  std::string LeaderHttp() {
    testing::MandatorProcess* leader =
        testing::WaitLeader(cluster_->dcs().main(), kWait);
    return leader == nullptr ? "" : leader->http_address();
  }

  absl::StatusOr<HttpReply> Leader(const std::string& method,
                                   const std::string& path,
                                   const std::string& body = "") {
    return HttpCall(LeaderHttp(), method, path, body, absl::Seconds(20));
  }

  // Both DCs' ZooKeeper hold an envelope of `plain` sealed by `key_id`.
  void ExpectSealedInBothDcs(const std::string& plain, uint32_t key_id,
                             int64_t revision) {
    auto main_zk = cluster_->dcs().ConnectMainReader();
    auto slave_zk = cluster_->dcs().ConnectSlaveReader();
    ASSERT_TRUE(main_zk.ok() && slave_zk.ok());
    std::string slave_value;
    // Replication is asynchronous: wait for the revision in dc2.
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          auto dc = testing::ReadDc(**slave_zk, cluster_->dcs().layout());
          return dc.ok() && dc->revision >= revision;
        },
        kWait, absl::Milliseconds(50)));
    for (zk::ZkApi* zk : {static_cast<zk::ZkApi*>(main_zk->get()),
                          static_cast<zk::ZkApi*>(slave_zk->get())}) {
      const std::string stored = StoredIn(*zk, cluster_->dcs().layout());
      EXPECT_TRUE(absl::StartsWith(stored, absl::StrCat("kess:enc:v1:",
                                                         key_id, ":")))
          << stored;
      EXPECT_EQ(stored.find(plain), std::string::npos);
      absl::StatusOr<secrets::KeyRing> ring = secrets::LoadKeyRingFile(
          absl::StrCat(mandator_keys_, "/", kNs, ".key"));
      ASSERT_TRUE(ring.ok());
      EXPECT_EQ(secrets::Open(*ring, kNs, kKey, stored).value_or("<no>"),
                plain);
    }
  }

  std::string mandator_keys_, agent_keys_, empty_keys_;
  secrets::KeyRing ring_;
  std::unique_ptr<CacheTierCluster> cluster_;
  AgentHost* no_key_ = nullptr;
  std::vector<AgentHost*> with_key_;
};

TEST_F(SecretValuesTest, CiphertextEverywhereButHostsWithTheKey) {
  // The namespace becomes secret; a settings write without "secret" keeps
  // it.
  absl::StatusOr<HttpReply> set = Leader(
      "PUT", absl::StrCat("/api/v1/namespaces/", kNs, "/settings"),
      R"({"secret":true})");
  ASSERT_TRUE(set.ok() && set->status == 200)
      << (set.ok() ? set->body : set.status().ToString());
  set = Leader("PUT", absl::StrCat("/api/v1/namespaces/", kNs, "/settings"),
               R"({"format":"text"})");
  ASSERT_TRUE(set.ok() && set->status == 200);
  EXPECT_TRUE(absl::StrContains(set->body, "\"secret\":true")) << set->body;

  const std::string plain = "pw-" + testing::RandomSecret();
  absl::StatusOr<int64_t> revision = cluster_->Put(kNs, kKey, plain);
  ASSERT_TRUE(revision.ok()) << revision.status();
  std::vector<AgentHost*> agents = with_key_;
  agents.push_back(no_key_);
  for (AgentHost* a : agents) {
    ASSERT_TRUE(a->Subscribe(testing::ConfigSubscription({{kNs, kKey}})).ok());
  }
  ASSERT_TRUE(testing::WaitCached(agents, kNs, kKey, *revision, kWait));

  // ZooKeeper of both DCs: the envelope.
  ExpectSealedInBothDcs(plain, 1, *revision);
  // The HTTP API answers the envelope.
  absl::StatusOr<HttpReply> get =
      Leader("GET", absl::StrCat("/api/v1/configs/", kNs, "/", kKey));
  ASSERT_TRUE(get.ok() && get->status == 200);
  EXPECT_TRUE(absl::StrContains(get->body, "kess:enc:v1:1:")) << get->body;
  EXPECT_FALSE(absl::StrContains(get->body, plain));

  // Hosts with the ring: the plaintext, 0600.
  for (AgentHost* a : with_key_) {
    absl::StatusOr<file_cache::CacheEntry> e = Cached(*a);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->value, plain) << a->host_id();
    EXPECT_EQ(FileMode(*a), 0600) << a->host_id();
  }
  // The host without it: what the distributor served, the envelope.
  absl::StatusOr<file_cache::CacheEntry> held = Cached(*no_key_);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_TRUE(absl::StartsWith(held->value, "kess:enc:v1:1:")) << held->value;
  EXPECT_EQ(held->value.find(plain), std::string::npos);
  EXPECT_EQ(FileMode(*no_key_), 0600);
  absl::StatusOr<HttpReply> metrics = no_key_->Call("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_GE(testing::MetricValue(metrics->body,
                                 "kess_agent_secret_values_total",
                                 "result=\"no_key\"")
                .value_or(0),
            1);

  // The distributors' memory: the envelope (control), never the plaintext.
  for (testing::CacheTierDc* dc : {&cluster_->main(), &cluster_->slave()}) {
    for (auto& d : dc->distributors) {
      absl::StatusOr<bool> has_envelope =
          MemoryContains(d->pid(), held->value.substr(0, 48));
      ASSERT_TRUE(has_envelope.ok()) << has_envelope.status();
      EXPECT_TRUE(*has_envelope) << "control: the scan sees the envelope";
      absl::StatusOr<bool> has_plain = MemoryContains(d->pid(), plain);
      ASSERT_TRUE(has_plain.ok());
      EXPECT_FALSE(*has_plain) << "plaintext in distributor " << dc->name;
    }
  }

  // Rotation: key 2 to the hosts first, then to the mandators.
  const secrets::KeyRing rotated = secrets::AddNewKey(ring_).value();
  WriteRing(agent_keys_, rotated);
  WriteRing(mandator_keys_, rotated);
  kessctl::Options options;
  options.mandators = {LeaderHttp()};
  options.keys_dir = mandator_keys_;
  options.timeout = absl::Seconds(20);
  std::istringstream in;
  std::ostringstream out, err;
  ASSERT_EQ(kessctl::RunKessctl({"secrets", "reencrypt", kNs}, options,
                                {&in, &out, &err}),
            0)
      << err.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "1 written back")) << out.str();
  absl::StatusOr<HttpReply> after =
      Leader("GET", absl::StrCat("/api/v1/configs/", kNs, "/", kKey));
  ASSERT_TRUE(after.ok() && after->status == 200);
  const int64_t reencrypted =
      testing::JsonBody(after->body)->getValue<int64_t>("revision");
  ASSERT_GT(reencrypted, *revision);
  ASSERT_TRUE(testing::WaitCached(agents, kNs, kKey, reencrypted, kWait));
  ExpectSealedInBothDcs(plain, 2, reencrypted);
  for (AgentHost* a : with_key_) {
    EXPECT_EQ(Cached(*a)->value, plain) << a->host_id();
  }
  EXPECT_TRUE(absl::StartsWith(Cached(*no_key_)->value, "kess:enc:v1:2:"));

  // Key 1 dropped everywhere: new values still reach the hosts.
  const secrets::KeyRing only2 =
      secrets::KeyRing::Create({rotated.newest()}).value();
  WriteRing(agent_keys_, only2);
  WriteRing(mandator_keys_, only2);
  const std::string next = "pw2-" + testing::RandomSecret();
  absl::StatusOr<int64_t> third = cluster_->Put(kNs, kKey, next);
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE(testing::WaitCached(agents, kNs, kKey, *third, kWait));
  for (AgentHost* a : with_key_) {
    EXPECT_EQ(Cached(*a)->value, next) << a->host_id();
  }
  EXPECT_FALSE(absl::StrContains(Cached(*no_key_)->value, next));
}

}  // namespace
}  // namespace kess
