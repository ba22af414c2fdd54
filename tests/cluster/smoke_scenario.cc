#include "tests/cluster/smoke_scenario.h"

#include <sys/random.h>

#include <cstdint>
#include <iostream>
#include <map>
#include <utility>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "tests/cluster/cluster_tls.h"
#include "common/json_util.h"
#include "common/status.h"
#include "common/testing/wait_for.h"
#include "model/file_cache/env.h"

namespace kess {
namespace testing {
namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

// The bounds of the waits (see the header).
constexpr absl::Duration kPropagation = absl::Seconds(30);
constexpr absl::Duration kPropagationAfterHeal = absl::Seconds(60);
constexpr absl::Duration kDiscovery = absl::Seconds(60);
constexpr absl::Duration kConsumerUsesNew = absl::Seconds(20);
constexpr absl::Duration kAgentsMove = absl::Seconds(45);
constexpr absl::Duration kNewLeader = absl::Seconds(60);
constexpr absl::Duration kPartitionMode = absl::Seconds(60);
constexpr absl::Duration kHeal = absl::Seconds(120);
// A Python provider's check state in every route table: a failing check is
// seen within its interval plus its timeout (critical at the first
// failure), then travels to the mandators, the route-table leader (its
// cycle), ZooKeeper, the distributors and every agent within this.
constexpr absl::Duration kCheckPropagation = absl::Seconds(8);
constexpr absl::Duration kCheckHealthy = absl::Seconds(30);
// demo_consumer's --call_timeout_ms default plus its route polling: after
// this, a consumer has no call to a suspect instance in flight.
constexpr absl::Duration kCallsSettle = absl::Seconds(3);
// How long the consumers' counters are watched for calls to it.
constexpr absl::Duration kNoCallsWindow = absl::Seconds(5);
// Per HTTP request.
constexpr absl::Duration kRequest = absl::Seconds(5);
constexpr absl::Duration kWrite = absl::Seconds(10);

std::string RandomHex(int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    unsigned char b = 0;
    for (int tries = 0; tries < 100 && getrandom(&b, 1, 0) != 1; ++tries) {
    }
    absl::StrAppend(&out, absl::Hex(b, absl::kZeroPad2));
  }
  return out;
}

std::string Seconds(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Seconds(d), " s");
}

std::string Millis(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Milliseconds(d), " ms");
}

// A string field of a JSON object ("" if missing).
std::string Field(const Object::Ptr& o, const std::string& key) {
  return o ? o->optValue<std::string>(key, "") : "";
}

// What the scenario needs of one DC, from the cluster's description.
struct DcFacts {
  std::string name;
  // HTTP addresses.
  std::vector<std::string> mandators;
  // Name and agents' address of each distributor.
  std::vector<std::pair<std::string, std::string>> distributors;
  // Host id and HTTP address of each agent.
  std::vector<std::pair<std::string, std::string>> agents;
  std::string consumer_host;
  std::string consumer_stats;  // the first consumer's stats file
  // The first Python provider (agent/examples:echo_provider) of the DC:
  // its instance id and check timing; id "" if none.
  std::string py_provider;
  absl::Duration py_check_interval, py_check_timeout;
  int zk_servers = 0;
};

// One consumer's counters (sdk/examples/demo_consumer.cc --stats_file).
struct ConsumerStats {
  int64_t calls = 0, ok = 0, failed = 0;
  std::map<std::string, int64_t> by_instance, by_dc;

  std::string ToString() const {
    std::vector<std::string> instances;
    for (const auto& [id, n] : by_instance) {
      instances.push_back(absl::StrCat(id, ": ", n));
    }
    return absl::StrCat(calls, " calls, ", ok, " ok, ", failed,
                        " failed, by instance {",
                        absl::StrJoin(instances, ", "), "}");
  }
};

class Scenario {
 public:
  Scenario(LocalCluster& cluster, const SmokeOptions& options)
      : cluster_(cluster), options_(options) {}

  SmokeResult Run();

 private:
  // Printing.
  void Print(const std::string& line) const;
  void Say(const std::string& line) const;     // with a timestamp
  void Detail(const std::string& line) const;  // indented, before its check
  // Runs `check` and prints its PASS or FAIL line; false once cancelled.
  bool Check(const std::string& what,
             const std::function<absl::Status()>& check);
  bool Cancelled() const { return options_.cancelled && options_.cancelled(); }
  // WaitFor, given up when cancelled (then false).
  bool Wait(const std::function<bool()>& condition, absl::Duration timeout,
            absl::Duration poll = absl::Milliseconds(100)) const;

  // The cluster.
  absl::Status ReadFacts();
  int Hosts() const;
  const DcFacts& Main() const { return dcs_[0]; }
  const DcFacts* FindDc(const std::string& name) const;
  std::vector<std::pair<std::string, std::string>> Auth() const;
  absl::StatusOr<ConsumerStats> Consumer(const DcFacts& dc) const;
  int64_t ConsumersSum(int64_t ConsumerStats::*field) const;
  absl::StatusOr<Object::Ptr> GetJson(const std::string& address,
                                      const std::string& uri) const;
  absl::StatusOr<Object::Ptr> AgentStatus(const std::string& http) const;
  absl::StatusOr<std::string> PartitionMode(const std::string& dc);
  bool RouteHealthy(const DcFacts& dc, const std::string& instance) const;
  std::string RouteOf(const DcFacts& dc) const;
  absl::Status SetWanState(const std::string& a, const std::string& b,
                           const std::string& state) const;

  // The steps.
  absl::Status UiWorks();
  absl::StatusOr<int64_t> Put(const std::string& value);
  absl::Status PutAndWait(const std::string& value, absl::Duration timeout);
  absl::Status NewInstanceDiscovered();
  absl::Status ConsumersOk();
  absl::Status LocalFirst();
  // The Python provider registered through its agent (py_dc_).
  absl::Status SubscribeAllAgents();
  // `state` and `check_status` of py_provider in every agent's table; the
  // hosts where not, as details, in *wrong.
  bool PyInAllTables(const std::string& state, const std::string& check,
                     std::vector<std::string>* wrong) const;
  absl::Status WaitPyCalled(const std::string& when);
  absl::Status PyProviderServing();
  absl::Status PyProviderPaused();
  absl::Status PyProviderResumed();
  absl::Status AgentsMoved();
  absl::Status TrafficUnaffected();
  absl::Status NewLeader();
  absl::Status CutAndRegister();
  absl::Status Heal();
  absl::Status CleanStop();

  LocalCluster& cluster_;
  const SmokeOptions& options_;
  SmokeResult result_;

  std::vector<DcFacts> dcs_;
  std::string service_;
  std::string admin_user_, admin_password_;  // empty: no admin secret
  std::string wan_control_;
  // Set by the steps, for the ones after them.
  std::map<std::string, ConsumerStats> before_;  // by DC, at the start
  std::string new_instance_;                     // started in dc1
  std::string victim_, dead_address_;            // the killed distributor
  int64_t failed_before_kill_ = 0, ok_before_kill_ = 0;
  std::string old_leader_, old_leader_id_;  // the killed mandator
  std::string cut_instance_;                // started in cut_dc
  const DcFacts* py_dc_ = nullptr;          // the DC of the Python provider
};

void Scenario::Print(const std::string& line) const {
  if (options_.print) {
    options_.print(line);
  } else {
    std::cout << line << std::endl;
  }
}

void Scenario::Say(const std::string& line) const {
  Print(absl::StrCat(
      absl::FormatTime("%H:%M:%S ", absl::Now(), absl::LocalTimeZone()), line));
}

void Scenario::Detail(const std::string& line) const { Print("    " + line); }

bool Scenario::Check(const std::string& what,
                     const std::function<absl::Status()>& check) {
  if (Cancelled()) return false;
  const absl::Status status = check();
  if (Cancelled()) {
    Say("interrupted during: " + what);
    return false;
  }
  if (status.ok()) {
    Say("PASS  " + what);
    ++result_.passed;
  } else {
    Say(absl::StrCat("FAIL  ", what, ": ", status.message()));
    ++result_.failed;
  }
  return true;
}

bool Scenario::Wait(const std::function<bool()>& condition,
                    absl::Duration timeout, absl::Duration poll) const {
  const bool done =
      WaitFor([&] { return Cancelled() || condition(); }, timeout, poll);
  return done && !Cancelled();
}

absl::Status Scenario::ReadFacts() {
  KESS_ASSIGN_OR_RETURN(Object::Ptr d, ParseJsonObject(cluster_.Describe()));
  service_ = Field(d, "service");
  if (Object::Ptr admin = d->getObject("admin")) {
    admin_user_ = Field(admin, "user");
    KESS_ASSIGN_OR_RETURN(
        std::string secret,
        file_cache::Env::Default()->ReadFile(Field(admin, "password_file")));
    admin_password_ = std::string(absl::StripAsciiWhitespace(secret));
  }
  if (Object::Ptr wan = d->getObject("wan"))
    wan_control_ = Field(wan, "control");
  Array::Ptr dcs = d->getArray("dcs");
  for (size_t i = 0; dcs && i < dcs->size(); ++i) {
    Object::Ptr dc = dcs->getObject(i);
    DcFacts facts;
    facts.name = Field(dc, "name");
    auto each = [&dc](const std::string& group,
                      const std::function<void(const Object::Ptr&)>& f) {
      Array::Ptr list = dc->getArray(group);
      for (size_t j = 0; list && j < list->size(); ++j) f(list->getObject(j));
    };
    each("mandators", [&](const Object::Ptr& m) {
      facts.mandators.push_back(Field(m, "http"));
    });
    each("distributors", [&](const Object::Ptr& x) {
      facts.distributors.push_back({Field(x, "name"), Field(x, "address")});
    });
    each("agents", [&](const Object::Ptr& a) {
      facts.agents.push_back({Field(a, "host"), Field(a, "http")});
    });
    each("consumers", [&](const Object::Ptr& c) {
      if (!facts.consumer_stats.empty()) return;
      facts.consumer_host = Field(c, "host");
      facts.consumer_stats = Field(c, "stats_file");
    });
    each("zookeeper", [&](const Object::Ptr&) { ++facts.zk_servers; });
    each("python_providers", [&](const Object::Ptr& p) {
      if (!facts.py_provider.empty()) return;
      facts.py_provider = Field(p, "id");
      facts.py_check_interval =
          absl::Milliseconds(p->optValue<int64_t>("check_interval_ms", 0));
      facts.py_check_timeout =
          absl::Milliseconds(p->optValue<int64_t>("check_timeout_ms", 0));
    });
    if (facts.consumer_stats.empty()) {
      return absl::FailedPreconditionError(facts.name + " has no consumer");
    }
    dcs_.push_back(std::move(facts));
  }
  if (dcs_.empty()) return absl::FailedPreconditionError("no DC");
  for (const DcFacts& dc : dcs_) {
    if (py_dc_ == nullptr && !dc.py_provider.empty()) py_dc_ = &dc;
  }
  if (Main().mandators.size() < 2 || Main().distributors.size() < 2) {
    return absl::FailedPreconditionError(
        Main().name + " needs at least 2 mandators and 2 distributors");
  }
  if (!options_.cut_dc.empty()) {
    if (wan_control_.empty()) {
      return absl::FailedPreconditionError("cut_dc " + options_.cut_dc +
                                           " without a WAN emulator");
    }
    if (FindDc(options_.cut_dc) == nullptr || options_.cut_dc == Main().name) {
      return absl::InvalidArgumentError("cut_dc " + options_.cut_dc +
                                        " is not a slave DC of the cluster");
    }
  }
  return absl::OkStatus();
}

int Scenario::Hosts() const {
  int n = 0;
  for (const DcFacts& dc : dcs_) n += dc.agents.size();
  return n;
}

const DcFacts* Scenario::FindDc(const std::string& name) const {
  for (const DcFacts& dc : dcs_) {
    if (dc.name == name) return &dc;
  }
  return nullptr;
}

std::vector<std::pair<std::string, std::string>> Scenario::Auth() const {
  if (admin_password_.empty()) return {};
  return {{"Authorization", "Bearer " + admin_password_}};
}

absl::StatusOr<ConsumerStats> Scenario::Consumer(const DcFacts& dc) const {
  KESS_ASSIGN_OR_RETURN(std::string text, file_cache::Env::Default()->ReadFile(
                                              dc.consumer_stats));
  KESS_ASSIGN_OR_RETURN(Object::Ptr d, ParseJsonObject(text));
  ConsumerStats s;
  s.calls = d->optValue<int64_t>("calls", 0);
  s.ok = d->optValue<int64_t>("ok", 0);
  s.failed = d->optValue<int64_t>("failed", 0);
  for (auto [field, map] : {std::make_pair("by_instance", &s.by_instance),
                            std::make_pair("by_dc", &s.by_dc)}) {
    if (Object::Ptr counts = d->getObject(field)) {
      for (const std::string& name : counts->getNames()) {
        (*map)[name] = counts->optValue<int64_t>(name, 0);
      }
    }
  }
  return s;
}

// -1 if a consumer's counters cannot be read.
int64_t Scenario::ConsumersSum(int64_t ConsumerStats::*field) const {
  int64_t total = 0;
  for (const DcFacts& dc : dcs_) {
    absl::StatusOr<ConsumerStats> s = Consumer(dc);
    if (!s.ok()) return -1;
    total += (*s).*field;
  }
  return total;
}

absl::StatusOr<Object::Ptr> Scenario::GetJson(const std::string& address,
                                              const std::string& uri) const {
  KESS_ASSIGN_OR_RETURN(HttpReply reply,
                        HttpCall(address, "GET", uri, "", kRequest, Auth()));
  if (reply.status != 200) {
    return absl::UnavailableError(absl::StrCat(
        "GET ", HttpUrl(address), uri, ": ", reply.status, " ", reply.body));
  }
  return ParseJsonObject(reply.body);
}

absl::StatusOr<Object::Ptr> Scenario::AgentStatus(
    const std::string& http) const {
  return GetJson(http, "/v1/status");
}

absl::StatusOr<std::string> Scenario::PartitionMode(const std::string& dc) {
  KESS_ASSIGN_OR_RETURN(std::string leader_json, cluster_.Leader(dc));
  KESS_ASSIGN_OR_RETURN(Object::Ptr leader, ParseJsonObject(leader_json));
  KESS_ASSIGN_OR_RETURN(Object::Ptr status,
                        GetJson(Field(leader, "http"), "/api/v1/status"));
  return Field(status, "partition_mode");
}

bool Scenario::RouteHealthy(const DcFacts& dc,
                            const std::string& instance) const {
  absl::StatusOr<Object::Ptr> routes =
      ParseJsonObject(cluster_.Routes(service_));
  if (!routes.ok()) return false;
  Object::Ptr table = (*routes)->getObject(dc.name + "/" + dc.consumer_host);
  Object::Ptr instances = table ? table->getObject("instances") : nullptr;
  return Field(instances, instance) == "healthy";
}

std::string Scenario::RouteOf(const DcFacts& dc) const {
  absl::StatusOr<Object::Ptr> routes =
      ParseJsonObject(cluster_.Routes(service_));
  if (!routes.ok()) return routes.status().ToString();
  Object::Ptr table = (*routes)->getObject(dc.name + "/" + dc.consumer_host);
  return table ? ToJson(table) : "none";
}

absl::Status Scenario::SetWanState(const std::string& a, const std::string& b,
                                   const std::string& state) const {
  KESS_ASSIGN_OR_RETURN(
      HttpReply reply,
      HttpCall(wan_control_, "POST",
               absl::StrCat("/state?a=", a, "&b=", b, "&state=", state), "",
               kRequest));
  if (reply.status != 200) {
    return absl::UnavailableError(absl::StrCat("the WAN control API answered ",
                                               reply.status, " to ", a, "-", b,
                                               " ", state, ": ", reply.body));
  }
  return absl::OkStatus();
}

// ---- the steps ----

absl::Status Scenario::UiWorks() {
  const std::string m1 = Main().mandators[0];
  std::vector<std::string> wrong;
  auto expect = [&](const std::string& what,
                    const absl::StatusOr<HttpReply>& reply, int want) {
    const std::string got =
        reply.ok() ? absl::StrCat(reply->status) : reply.status().ToString();
    Detail(absl::StrCat(what, ": ", got));
    if (!reply.ok() || reply->status != want) {
      wrong.push_back(absl::StrCat(what, " answered ", got, ", not ", want));
    }
  };
  expect("GET /ui/", HttpCall(m1, "GET", "/ui/", "", kRequest), 200);
  expect("API without credentials",
         HttpCall(m1, "GET", "/api/v1/configs", "", kRequest), 401);
  Object::Ptr login = new Object;
  login->set("user", admin_user_);
  login->set("password", admin_password_);
  absl::StatusOr<HttpReply> reply =
      HttpCall(m1, "POST", "/ui/login", ToJson(login), kRequest,
               {{"Origin", HttpUrl(m1)}});
  expect(absl::StrCat("POST /ui/login as ", admin_user_,
                      " with the generated password"),
         reply, 200);
  // The session cookie: the first "name=value" of Set-Cookie.
  std::string cookie;
  if (reply.ok()) {
    cookie = reply->Header("set-cookie");
    cookie = cookie.substr(0, cookie.find(';'));
  }
  if (cookie.empty()) {
    wrong.push_back("no session cookie from POST /ui/login");
  } else {
    expect("API with the session cookie",
           HttpCall(m1, "GET", "/api/v1/services/" + service_, "", kRequest,
                    {{"Cookie", cookie}}),
           200);
  }
  if (!wrong.empty()) return absl::InternalError(absl::StrJoin(wrong, "; "));
  return absl::OkStatus();
}

// PUT through dc1's mandators (a follower forwards it to the leader); the
// first one that answers 200 has committed it.
absl::StatusOr<int64_t> Scenario::Put(const std::string& value) {
  Object::Ptr body = new Object;
  body->set("value", value);
  body->set("comment", "written by the smoke scenario");
  const std::string uri = absl::StrCat("/api/v1/configs/", options_.config_ns,
                                       "/", options_.config_key);
  std::vector<std::string> errors;
  for (const std::string& m : Main().mandators) {
    absl::StatusOr<HttpReply> reply =
        HttpCall(m, "PUT", uri, ToJson(body), kWrite, Auth());
    if (!reply.ok()) {
      errors.push_back(absl::StrCat(m, ": ", reply.status().message()));
      continue;
    }
    if (reply->status != 200) {
      errors.push_back(absl::StrCat(m, ": ", reply->status, " ", reply->body));
      continue;
    }
    KESS_ASSIGN_OR_RETURN(Object::Ptr answer, ParseJsonObject(reply->body));
    const int64_t revision = answer->optValue<int64_t>("revision", 0);
    if (revision <= 0) {
      return absl::InternalError(
          m + " answered without a revision: " + reply->body);
    }
    return revision;
  }
  return absl::UnavailableError("the write failed on every " + Main().name +
                                " mandator: " + absl::StrJoin(errors, "; "));
}

absl::Status Scenario::PutAndWait(const std::string& value,
                                  absl::Duration timeout) {
  const absl::Time start = absl::Now();
  KESS_ASSIGN_OR_RETURN(const int64_t revision, Put(value));
  const auto everywhere = [&] {
    absl::StatusOr<Object::Ptr> cached = ParseJsonObject(
        cluster_.Cached(options_.config_ns, options_.config_key));
    if (!cached.ok() || static_cast<int>((*cached)->size()) != Hosts()) {
      return false;
    }
    for (const std::string& host : (*cached)->getNames()) {
      Object::Ptr entry = (*cached)->getObject(host);
      if (!entry || entry->optValue<int64_t>("revision", 0) != revision ||
          Field(entry, "value") != value) {
        return false;
      }
    }
    return true;
  };
  if (Wait(everywhere, timeout, absl::Milliseconds(10))) {
    Detail(absl::StrCat("revision ", revision, " in all ", Hosts(),
                        " caches after ", Millis(absl::Now() - start)));
    return absl::OkStatus();
  }
  Detail(absl::StrCat("revision ", revision, " not in every cache within ",
                      Seconds(timeout), ":"));
  absl::StatusOr<Object::Ptr> cached =
      ParseJsonObject(cluster_.Cached(options_.config_ns, options_.config_key));
  if (cached.ok()) {
    for (const std::string& host : (*cached)->getNames()) {
      Object::Ptr entry = (*cached)->getObject(host);
      Detail(absl::StrCat("  ", host, ": ",
                          entry->optValue<int64_t>("revision", 0), " ",
                          Field(entry, "value")));
    }
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "revision ", revision, " not in every cache within ", Seconds(timeout)));
}

absl::Status Scenario::NewInstanceDiscovered() {
  const absl::Time start = absl::Now();
  KESS_ASSIGN_OR_RETURN(std::string started,
                        cluster_.AddProvider(Main().name, 2));
  KESS_ASSIGN_OR_RETURN(Object::Ptr answer, ParseJsonObject(started));
  new_instance_ = Field(answer, "id");
  Detail(absl::StrCat("started ", Field(answer, "started"), " (instance ",
                      new_instance_, " on ", Field(answer, "host"), ")"));
  for (const DcFacts& dc : dcs_) {
    if (!Wait([&] { return RouteHealthy(dc, new_instance_); }, kDiscovery)) {
      return absl::DeadlineExceededError(absl::StrCat(
          new_instance_, " not healthy in ", dc.consumer_host,
          "'s route table within ", Seconds(kDiscovery), ": ", RouteOf(dc)));
    }
  }
  Detail(absl::StrCat(new_instance_,
                      " healthy in the route table of every DC's consumer "
                      "host after ",
                      Seconds(absl::Now() - start)));
  return absl::OkStatus();
}

absl::Status Scenario::ConsumersOk() {
  std::vector<std::string> wrong;
  const bool uses_new = Wait(
      [&] {
        absl::StatusOr<ConsumerStats> s = Consumer(Main());
        return s.ok() && s->by_instance[new_instance_] > 0;
      },
      kConsumerUsesNew);
  if (!uses_new) {
    wrong.push_back(
        absl::StrCat("the ", Main().name, " consumer never called ",
                     new_instance_.empty() ? "the new instance" : new_instance_,
                     " within ", Seconds(kConsumerUsesNew)));
  }
  for (const DcFacts& dc : dcs_) {
    absl::StatusOr<ConsumerStats> s = Consumer(dc);
    if (!s.ok()) {
      wrong.push_back(
          absl::StrCat("consumer ", dc.name, ": ", s.status().message()));
      continue;
    }
    Detail(absl::StrCat("consumer ", dc.name, ": ", s->ToString()));
    if (s->failed != 0) {
      wrong.push_back(
          absl::StrCat("consumer ", dc.name, ": ", s->failed, " failed calls"));
    }
    if (s->ok == 0)
      wrong.push_back("consumer " + dc.name + ": no call succeeded");
  }
  if (!wrong.empty()) return absl::InternalError(absl::StrJoin(wrong, "; "));
  return absl::OkStatus();
}

absl::Status Scenario::LocalFirst() {
  std::vector<std::string> wrong;
  for (const DcFacts& dc : dcs_) {
    ConsumerStats& before = before_[dc.name];
    int64_t own = 0, foreign = 0;
    // A consumer on a loaded machine may not have called since the start
    // yet (the window is about a second): wait for its next calls, at most
    // 10 s. A call to another DC fails the check at once.
    for (int attempt = 0; attempt < 20; ++attempt) {
      KESS_ASSIGN_OR_RETURN(ConsumerStats now, Consumer(dc));
      own = foreign = 0;
      for (const DcFacts& other : dcs_) {
        const int64_t calls = now.by_dc[other.name] - before.by_dc[other.name];
        (other.name == dc.name ? own : foreign) += calls;
      }
      if (own > 0 || foreign != 0) break;
      absl::SleepFor(absl::Milliseconds(500));
    }
    Detail(absl::StrCat("consumer ", dc.name, ": ", own, " calls to ", dc.name,
                        " instances, ", foreign, " to other DCs'"));
    if (own <= 0 || foreign != 0) {
      wrong.push_back(absl::StrCat("consumer ", dc.name, ": ", own, " own, ",
                                   foreign, " foreign"));
    }
  }
  if (!wrong.empty()) return absl::InternalError(absl::StrJoin(wrong, "; "));
  return absl::OkStatus();
}

absl::Status Scenario::SubscribeAllAgents() {
  Object::Ptr body = new Object;
  body->set("app", "smoke");
  Poco::JSON::Array::Ptr routes = new Poco::JSON::Array;
  routes->add(service_);
  body->set("routes", routes);
  for (const DcFacts& dc : dcs_) {
    for (const auto& [host, http] : dc.agents) {
      KESS_ASSIGN_OR_RETURN(
          HttpReply reply,
          HttpCall(http, "POST", "/v1/subscriptions", ToJson(body), kWrite));
      if (reply.status != 200) {
        return absl::UnavailableError(absl::StrCat(
            host, ": POST /v1/subscriptions: ", reply.status, " ",
            reply.body));
      }
    }
  }
  return absl::OkStatus();
}

bool Scenario::PyInAllTables(const std::string& state,
                             const std::string& check,
                             std::vector<std::string>* wrong) const {
  const std::string& id = py_dc_->py_provider;
  absl::StatusOr<Object::Ptr> routes =
      ParseJsonObject(cluster_.Routes(service_));
  if (!routes.ok() || static_cast<int>((*routes)->size()) != Hosts()) {
    if (wrong != nullptr) wrong->push_back("route tables unreadable");
    return false;
  }
  bool all = true;
  for (const std::string& host : (*routes)->getNames()) {
    Object::Ptr table = (*routes)->getObject(host);
    const std::string is = Field(table->getObject("instances"), id);
    const std::string checked = Field(table->getObject("check_status"), id);
    if (is != state || checked != check) {
      all = false;
      if (wrong != nullptr) {
        wrong->push_back(absl::StrCat(
            host, ": ", is.empty() ? "absent" : is, "/",
            checked.empty() ? "-" : checked, " (revision ",
            table->optValue<int64_t>("revision", 0), ")"));
      }
    }
  }
  return all;
}

absl::Status Scenario::WaitPyCalled(const std::string& when) {
  const std::string& id = py_dc_->py_provider;
  KESS_ASSIGN_OR_RETURN(ConsumerStats before, Consumer(*py_dc_));
  int64_t now = before.by_instance[id];
  const bool called = Wait(
      [&] {
        absl::StatusOr<ConsumerStats> s = Consumer(*py_dc_);
        if (s.ok()) now = s->by_instance[id];
        return now > before.by_instance[id];
      },
      kConsumerUsesNew);
  if (!called) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the ", py_dc_->name, " consumer did not call ", id, " ", when,
        " within ", Seconds(kConsumerUsesNew), " (", now, " calls in all)"));
  }
  Detail(absl::StrCat("the ", py_dc_->name, " consumer calls ", id, " ", when,
                      " (", now, " successful calls in all)"));
  return absl::OkStatus();
}

absl::Status Scenario::PyProviderServing() {
  const std::string& id = py_dc_->py_provider;
  KESS_RETURN_IF_ERROR(SubscribeAllAgents());
  const absl::Time start = absl::Now();
  std::vector<std::string> wrong;
  if (!Wait([&] { return PyInAllTables("healthy", "passing", nullptr); },
            kDiscovery)) {
    PyInAllTables("healthy", "passing", &wrong);
    for (const std::string& w : wrong) Detail(w);
    return absl::DeadlineExceededError(
        absl::StrCat(id, " not healthy/passing in every route table within ",
                     Seconds(kDiscovery)));
  }
  Detail(absl::StrCat(id, " healthy, check passing, in all ", Hosts(),
                      " agents' route tables (", Seconds(absl::Now() - start),
                      ")"));
  return WaitPyCalled("while healthy");
}

absl::Status Scenario::PyProviderPaused() {
  const std::string& id = py_dc_->py_provider;
  const absl::Duration bound = py_dc_->py_check_interval +
                               py_dc_->py_check_timeout + kCheckPropagation;
  KESS_ASSIGN_OR_RETURN(std::string paused, cluster_.Pause(id));
  const absl::Time start = absl::Now();
  Detail("SIGSTOP: " + paused);
  std::vector<std::string> wrong;
  if (!Wait([&] { return PyInAllTables("suspect", "critical", nullptr); },
            bound)) {
    PyInAllTables("suspect", "critical", &wrong);
    for (const std::string& w : wrong) Detail(w);
    return absl::DeadlineExceededError(absl::StrCat(
        id, " not suspect/critical in every route table within ",
        Millis(bound), " (check interval ", Millis(py_dc_->py_check_interval),
        " + timeout ", Millis(py_dc_->py_check_timeout), " + ",
        Seconds(kCheckPropagation), ")"));
  }
  Detail(absl::StrCat(id, " suspect, check critical, in all ", Hosts(),
                      " route tables ", Millis(absl::Now() - start),
                      " after SIGSTOP (bound ", Millis(bound), ")"));
  // No call to it in flight any more; then its counters must stand still
  // while the consumer goes on calling the others.
  Wait([] { return false; }, kCallsSettle);
  KESS_ASSIGN_OR_RETURN(ConsumerStats before, Consumer(*py_dc_));
  Wait([] { return false; }, kNoCallsWindow);
  if (Cancelled()) return absl::CancelledError("interrupted");
  KESS_ASSIGN_OR_RETURN(ConsumerStats after, Consumer(*py_dc_));
  Detail(absl::StrCat("consumer ", py_dc_->name, " over ",
                      Seconds(kNoCallsWindow), ": ", after.ok - before.ok,
                      " successful calls, ", after.failed - before.failed,
                      " failed, ",
                      after.by_instance[id] - before.by_instance[id], " to ",
                      id));
  if (after.failed != before.failed ||
      after.by_instance[id] != before.by_instance[id]) {
    return absl::InternalError(absl::StrCat(
        "the ", py_dc_->name, " consumer still picks ", id, ": ",
        after.failed - before.failed, " failed calls in ",
        Seconds(kNoCallsWindow), " after it turned suspect"));
  }
  if (after.ok <= before.ok) {
    return absl::InternalError(absl::StrCat("the ", py_dc_->name,
                                            " consumer made no successful "
                                            "call while ",
                                            id, " was suspect"));
  }
  return absl::OkStatus();
}

absl::Status Scenario::PyProviderResumed() {
  const std::string& id = py_dc_->py_provider;
  KESS_ASSIGN_OR_RETURN(std::string resumed, cluster_.Resume(id));
  const absl::Time start = absl::Now();
  Detail("SIGCONT: " + resumed);
  std::vector<std::string> wrong;
  if (!Wait([&] { return PyInAllTables("healthy", "passing", nullptr); },
            kCheckHealthy)) {
    PyInAllTables("healthy", "passing", &wrong);
    for (const std::string& w : wrong) Detail(w);
    return absl::DeadlineExceededError(absl::StrCat(
        id, " not healthy/passing again in every route table within ",
        Seconds(kCheckHealthy)));
  }
  Detail(absl::StrCat(id, " healthy, check passing, in all ", Hosts(),
                      " route tables ", Millis(absl::Now() - start),
                      " after SIGCONT"));
  return WaitPyCalled("again");
}

absl::Status Scenario::AgentsMoved() {
  if (victim_.empty()) {
    return absl::FailedPreconditionError("no distributor was killed");
  }
  const absl::Time start = absl::Now();
  const auto moved = [&] {
    for (const auto& [host, http] : Main().agents) {
      absl::StatusOr<Object::Ptr> s = AgentStatus(http);
      if (!s.ok() || !(*s)->optValue<bool>("connected", false) ||
          Field(*s, "distributor") == dead_address_) {
        return false;
      }
    }
    return true;
  };
  if (!Wait(moved, kAgentsMove)) {
    for (const auto& [host, http] : Main().agents) {
      absl::StatusOr<Object::Ptr> s = AgentStatus(http);
      Detail(host + ": " + (s.ok() ? ToJson(*s) : s.status().ToString()));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("not every ", Main().name,
                     " agent connected to another distributor within ",
                     Seconds(kAgentsMove)));
  }
  Detail(absl::StrCat(Main().name,
                      " agents all connected to another distributor after ",
                      Seconds(absl::Now() - start)));
  return absl::OkStatus();
}

absl::Status Scenario::TrafficUnaffected() {
  const int64_t failed = ConsumersSum(&ConsumerStats::failed);
  const int64_t ok = ConsumersSum(&ConsumerStats::ok);
  if (failed < 0 || ok < 0) {
    return absl::UnavailableError("a consumer's counters cannot be read");
  }
  Detail(absl::StrCat("since the kill: ", ok - ok_before_kill_,
                      " successful calls, ", failed - failed_before_kill_,
                      " failed"));
  if (failed != failed_before_kill_ || ok <= ok_before_kill_) {
    return absl::InternalError(absl::StrCat(ok - ok_before_kill_, " ok, ",
                                            failed - failed_before_kill_,
                                            " failed since the kill"));
  }
  return absl::OkStatus();
}

absl::Status Scenario::NewLeader() {
  const absl::Time start = absl::Now();
  KESS_ASSIGN_OR_RETURN(std::string killed, cluster_.Kill(old_leader_));
  Detail("killed " + killed);
  std::string leader;
  const bool elected = Wait(
      [&] {
        absl::StatusOr<std::string> l = cluster_.Leader(Main().name);
        if (!l.ok()) return false;
        absl::StatusOr<Object::Ptr> o = ParseJsonObject(*l);
        if (!o.ok() || Field(*o, "id") == old_leader_id_) return false;
        leader = Field(*o, "leader");
        return true;
      },
      kNewLeader, absl::Milliseconds(200));
  if (!elected) {
    return absl::DeadlineExceededError(absl::StrCat("no other ", Main().name,
                                                    " mandator leads within ",
                                                    Seconds(kNewLeader)));
  }
  Detail(absl::StrCat(leader, " leads ", Main().name, " after ",
                      Seconds(absl::Now() - start)));
  return absl::OkStatus();
}

absl::Status Scenario::CutAndRegister() {
  const absl::Time start = absl::Now();
  const DcFacts& cut = *FindDc(options_.cut_dc);
  for (const DcFacts& other : dcs_) {
    if (other.name != cut.name) {
      KESS_RETURN_IF_ERROR(SetWanState(other.name, cut.name, "cut"));
    }
  }
  Detail(cut.name + " cut off from every other DC");
  std::string mode;
  const bool overlay = Wait(
      [&] {
        absl::StatusOr<std::string> m = PartitionMode(cut.name);
        mode = m.ok() ? *m : m.status().ToString();
        return mode == "overlay";
      },
      kPartitionMode, absl::Milliseconds(250));
  if (!overlay) {
    return absl::DeadlineExceededError(
        absl::StrCat(cut.name, "'s leader not in partition mode within ",
                     Seconds(kPartitionMode), " (", mode, ")"));
  }
  Detail(absl::StrCat(cut.name, " in partition mode (overlay) after ",
                      Seconds(absl::Now() - start)));
  KESS_ASSIGN_OR_RETURN(std::string started, cluster_.AddProvider(cut.name, 2));
  KESS_ASSIGN_OR_RETURN(Object::Ptr answer, ParseJsonObject(started));
  cut_instance_ = Field(answer, "id");
  if (!Wait([&] { return RouteHealthy(cut, cut_instance_); }, kDiscovery)) {
    return absl::DeadlineExceededError(
        absl::StrCat(cut_instance_, " not healthy in ", cut.consumer_host,
                     "'s route table while cut, within ", Seconds(kDiscovery),
                     ": ", RouteOf(cut)));
  }
  if (RouteHealthy(Main(), cut_instance_)) {
    return absl::InternalError(absl::StrCat(cut_instance_, " reached ",
                                            Main().name, " across a cut link"));
  }
  Detail(absl::StrCat(cut_instance_, " discoverable inside ", cut.name,
                      " while cut, ", Seconds(absl::Now() - start),
                      " after the cut"));
  return absl::OkStatus();
}

absl::Status Scenario::Heal() {
  const absl::Time start = absl::Now();
  const DcFacts& cut = *FindDc(options_.cut_dc);
  for (const DcFacts& other : dcs_) {
    if (other.name != cut.name) {
      KESS_RETURN_IF_ERROR(SetWanState(other.name, cut.name, "open"));
    }
  }
  if (cut_instance_.empty()) {
    return absl::FailedPreconditionError(
        "no instance was registered while cut");
  }
  if (!Wait([&] { return RouteHealthy(Main(), cut_instance_); }, kHeal,
            absl::Milliseconds(250))) {
    absl::StatusOr<std::string> mode = PartitionMode(cut.name);
    return absl::DeadlineExceededError(absl::StrCat(
        cut_instance_, " not in ", Main().name, "'s tables within ",
        Seconds(kHeal), " of the heal (", cut.name, ": ",
        mode.ok() ? *mode : mode.status().ToString(), ")"));
  }
  std::string mode;
  const bool replicating = Wait(
      [&] {
        absl::StatusOr<std::string> m = PartitionMode(cut.name);
        mode = m.ok() ? *m : m.status().ToString();
        return mode == "replicating";
      },
      kHeal, absl::Milliseconds(250));
  if (!replicating) {
    return absl::DeadlineExceededError(absl::StrCat(
        cut.name, " not replicating within ", Seconds(kHeal), " (", mode, ")"));
  }
  Detail(absl::StrCat("healed: ", cut_instance_, " in ", Main().name,
                      "'s tables and ", cut.name, " replicating again after ",
                      Seconds(absl::Now() - start)));
  return absl::OkStatus();
}

absl::Status Scenario::CleanStop() {
  const absl::Time start = absl::Now();
  const StopSummary summary = cluster_.StopAll();
  Detail(absl::StrCat("all ", summary.stopped, " processes stopped in ",
                      Seconds(absl::Now() - start)));
  if (!summary.unclean.empty()) {
    return absl::InternalError(
        "not a clean exit: " + absl::StrJoin(summary.unclean, "; ") + " (see " +
        cluster_.base_dir() + "/logs)");
  }
  return absl::OkStatus();
}

SmokeResult Scenario::Run() {
  if (absl::Status facts = ReadFacts(); !facts.ok()) {
    Say("FAIL  the cluster suits the smoke scenario: " +
        std::string(facts.message()));
    ++result_.failed;
    cluster_.StopAll();
    return result_;
  }
  Say(absl::StrCat("smoke scenario: ", dcs_.size(), " DCs, ", Hosts(),
                   " hosts, ZooKeeper: ", Main().zk_servers,
                   Main().zk_servers == 1 ? " server" : " servers", " per DC"));
  for (const DcFacts& dc : dcs_) {
    absl::StatusOr<ConsumerStats> s = Consumer(dc);
    if (s.ok()) before_[dc.name] = *s;
  }
  const std::string hosts = absl::StrCat(Hosts(), " agent caches");
  const auto done = [this] {
    result_.cancelled = Cancelled();
    return result_;
  };

  // 0. The admin UI.
  if (admin_password_.empty()) {
    Say("SKIP  admin UI: the cluster runs without the admin secret");
  } else if (!Check("admin UI served at /ui/, login with the generated "
                    "password, API refused without it",
                    [&] { return UiWorks(); })) {
    return done();
  }

  // 1. A config write in dc1 reaches every host of every DC.
  if (!Check(absl::StrCat("config put in ", Main().name,
                          " -> same value and revision in all ", hosts, " (",
                          dcs_.size(), " DCs)"),
             [&] {
               return PutAndWait("smoke-1-" + RandomHex(16), kPropagation);
             })) {
    return done();
  }

  // 2. A new provider instance is discovered in every DC; the consumers.
  if (!Check(absl::StrCat("a new instance on ", Main().name,
                          " host 2 appears in the consumers' route tables in "
                          "every DC"),
             [&] { return NewInstanceDiscovered(); }) ||
      !Check(absl::StrCat("consumers' calls succeed (no failed call) and the ",
                          Main().name, " consumer calls the new instance"),
             [&] { return ConsumersOk(); }) ||
      !Check("each consumer calls only its own DC's instances (local first)",
             [&] { return LocalFirst(); })) {
    return done();
  }

  // 3. The Python provider registered through its agent with an HTTP
  //    check: healthy and called; hung (SIGSTOP, its port still accepting)
  //    it turns suspect everywhere and leaves the consumers' picks; healthy
  //    and called again after SIGCONT.
  if (py_dc_ == nullptr) {
    Say("SKIP  Python provider: the cluster runs none");
  } else {
    const std::string& py = py_dc_->py_provider;
    if (!Check(absl::StrCat("the Python provider ", py,
                            " (registered through its agent) is healthy in "
                            "every DC's route tables and receives calls"),
               [&] { return PyProviderServing(); }) ||
        !Check(absl::StrCat("SIGSTOP of ", py,
                            ": suspect (check critical) in every route table "
                            "within check interval + timeout + ",
                            Seconds(kCheckPropagation),
                            ", out of the consumers' picks"),
               [&] { return PyProviderPaused(); }) ||
        !Check(absl::StrCat("SIGCONT of ", py,
                            ": healthy in every route table again and called "
                            "again"),
               [&] { return PyProviderResumed(); })) {
      return done();
    }
  }

  // 4. kill -9 of a distributor: the agents move on, writes still reach
  //    every host, the consumers' traffic is unaffected.
  failed_before_kill_ = ConsumersSum(&ConsumerStats::failed);
  ok_before_kill_ = ConsumersSum(&ConsumerStats::ok);
  {
    const std::string* http = nullptr;
    for (const auto& [host, address] : Main().agents) {
      if (host == Main().consumer_host) http = &address;
    }
    absl::StatusOr<Object::Ptr> s =
        absl::NotFoundError("no agent on " + Main().consumer_host);
    if (http != nullptr) s = AgentStatus(*http);
    dead_address_ = s.ok() ? Field(*s, "distributor") : "";
    std::string victim = Main().distributors[0].first;
    for (const auto& [name, address] : Main().distributors) {
      if (address == dead_address_) victim = name;
    }
    absl::StatusOr<std::string> killed = cluster_.Kill(victim);
    if (killed.ok()) {
      victim_ = victim;
      if (dead_address_.empty()) {
        for (const auto& [name, address] : Main().distributors) {
          if (name == victim) dead_address_ = address;
        }
      }
      Say(absl::StrCat("kill -9 ", victim, ", the distributor ",
                       Main().consumer_host, "'s agent uses: ", *killed));
    } else {
      Say(absl::StrCat("could not kill ", victim, ": ",
                       killed.status().ToString()));
    }
  }
  if (!Check(absl::StrCat("after kill -9 of ",
                          victim_.empty() ? "a distributor" : victim_,
                          " every ", Main().name,
                          " agent is connected to the remaining distributor"),
             [&] { return AgentsMoved(); }) ||
      !Check("the next config write still reaches all " + hosts, [&] {
        return PutAndWait("smoke-2-" + RandomHex(16), kPropagation);
      })) {
    return done();
  }
  // Some traffic after the write, as a consumer calls every few ms.
  Wait([] { return false; }, absl::Seconds(2), absl::Milliseconds(100));
  if (!Check("consumers' traffic unaffected by the distributor's death",
             [&] { return TrafficUnaffected(); })) {
    return done();
  }

  // 5. kill -9 of dc1's leader: another mandator leads, writes go on.
  {
    absl::StatusOr<std::string> leader = cluster_.Leader(Main().name);
    absl::StatusOr<Object::Ptr> o =
        leader.ok() ? ParseJsonObject(*leader)
                    : absl::StatusOr<Object::Ptr>(leader.status());
    if (o.ok()) {
      old_leader_ = Field(*o, "leader");
      old_leader_id_ = Field(*o, "id");
    }
  }
  if (!Check(absl::StrCat("after kill -9 of ", Main().name, "'s leader ",
                          old_leader_.empty() ? "(none found)" : old_leader_,
                          " another ", Main().name, " mandator leads"),
             [&] {
               return old_leader_.empty()
                          ? absl::NotFoundError(Main().name + " has no leader")
                          : NewLeader();
             }) ||
      !Check("a config write after the leader's death reaches all " + hosts +
                 ", the consumers have no failed call",
             [&] {
               KESS_RETURN_IF_ERROR(
                   PutAndWait("smoke-3-" + RandomHex(16), kPropagation));
               const int64_t failed = ConsumersSum(&ConsumerStats::failed);
               if (failed != failed_before_kill_) {
                 return absl::InternalError(absl::StrCat(
                     "consumers' failed calls: ", failed_before_kill_, " -> ",
                     failed));
               }
               return absl::OkStatus();
             })) {
    return done();
  }

  // 6. WAN mode: cut_dc cut off from every other DC. Partition mode lets
  //    an instance registered there be discovered inside it while cut;
  //    after the heal the main DC's tables have it too.
  if (!options_.cut_dc.empty()) {
    if (!Check(options_.cut_dc +
                   " cut off: partition mode, and a new instance registered "
                   "there is discoverable inside " +
                   options_.cut_dc,
               [&] { return CutAndRegister(); }) ||
        !Check(options_.cut_dc + " healed: the instance reaches " +
                   Main().name + "'s tables, " + options_.cut_dc +
                   " replicates again",
               [&] { return Heal(); }) ||
        !Check("a config write after the heal reaches all " + hosts, [&] {
          return PutAndWait("smoke-4-" + RandomHex(16), kPropagationAfterHeal);
        })) {
      return done();
    }
  }

  // 7. Everything stops cleanly.
  Say("stopping the cluster");
  Check("every process started exits cleanly on SIGTERM (exit status 0)",
        [&] { return CleanStop(); });
  return done();
}

}  // namespace

SmokeResult RunSmokeScenario(LocalCluster& cluster,
                             const SmokeOptions& options) {
  return Scenario(cluster, options).Run();
}

}  // namespace testing
}  // namespace kess
