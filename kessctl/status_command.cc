#include "kessctl/status_command.h"

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "Poco/Exception.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "kessctl/table.h"

namespace kess {
namespace kessctl {
namespace {

// What one mandator said about itself (docs/http-api.md, Status).
struct Report {
  std::string address;
  absl::Status error;     // not OK: no answer, an HTTP error or a bad body
  bool answered = false;  // an HTTP answer came back, error or not
  std::string problem;    // why there is no status, for people
  std::string body;       // the raw answer when OK
  std::string datacenter, member_id, leader_id, leader_address, zookeeper;
  bool is_main = false, is_leader = false;
  // The API sends "revision": null when it cannot read ZooKeeper, and the
  // replication fields only from a slave DC's leader.
  bool has_revision = false, has_lag = false;
  int64_t revision = 0, main_revision = 0, lag_revisions = 0;
  double lag_seconds = 0;
};

Report Ask(const Client& client, const std::string& address) {
  Report r;
  r.address = address;
  absl::StatusOr<HttpAnswer> answer =
      client.Send(address, {"GET", "/api/v1/status", {}, ""});
  if (!answer.ok()) {
    r.error = answer.status();
    r.problem = std::string(r.error.message());
    return r;
  }
  r.answered = true;
  r.error = Client::StatusFromAnswer(*answer);
  if (!r.error.ok()) {
    r.problem = absl::StrCat("HTTP ", answer->status, ": ", r.error.message());
    return r;
  }
  auto object = ParseJsonObject(answer->body);
  if (!object.ok()) {
    r.error = absl::InternalError("malformed answer: " +
                                  std::string(object.status().message()));
    r.problem = std::string(r.error.message());
    return r;
  }
  try {
    const Poco::JSON::Object::Ptr& o = *object;
    r.body = answer->body;
    r.datacenter = o->optValue<std::string>("datacenter", "?");
    r.member_id = o->optValue<std::string>("member_id", "");
    r.zookeeper = o->optValue<std::string>("zookeeper", "");
    r.is_main = o->optValue<bool>("is_main", false);
    r.is_leader = o->optValue<bool>("is_leader", false);
    r.has_revision = o->has("revision") && !o->isNull("revision");
    r.has_lag = o->has("main_revision") && !o->isNull("main_revision");
    r.revision = o->optValue<Poco::Int64>("revision", 0);
    r.main_revision = o->optValue<Poco::Int64>("main_revision", 0);
    r.lag_revisions = o->optValue<Poco::Int64>("replication_lag_revisions", 0);
    r.lag_seconds = o->optValue<double>("replication_lag_seconds", 0);
    if (o->isObject("leader")) {
      Poco::JSON::Object::Ptr leader = o->getObject("leader");
      r.leader_id = leader->optValue<std::string>("id", "");
      r.leader_address = leader->optValue<std::string>("http_address", "");
    }
  } catch (const Poco::Exception& e) {
    r.error = absl::InternalError("malformed answer: " + e.displayText());
    r.problem = std::string(r.error.message());
  }
  return r;
}

std::string Lag(int64_t revisions, double seconds) {
  return absl::StrFormat("%d revisions (%.1f s)", revisions, seconds);
}

// "-" for what the mandator did not report.
std::string Revision(const Report& r) {
  return r.has_revision ? absl::StrCat(r.revision) : "-";
}
std::string Lag(const Report& r) {
  return !r.is_main && r.has_lag ? Lag(r.lag_revisions, r.lag_seconds) : "-";
}

void PrintDatacenter(const std::string& dc, const std::vector<Report>& members,
                     std::ostream& out) {
  // The leader's own answer speaks for the DC; else the first member's.
  const Report* lead = &members[0];
  for (const Report& m : members) {
    if (m.is_leader) lead = &m;
  }
  std::string leader = "none";
  for (const Report& m : members) {
    if (!m.leader_id.empty() || !m.leader_address.empty()) {
      leader = absl::StrCat(m.leader_id.empty() ? "?" : m.leader_id, " at ",
                            m.leader_address.empty() ? "?" : m.leader_address);
      break;
    }
  }
  out << "DC " << dc << (lead->is_main ? " (main)" : "") << ": leader "
      << leader << ", revision " << Revision(*lead);
  if (!lead->is_main && lead->has_lag) {
    out << ", main revision " << lead->main_revision << ", lag " << Lag(*lead);
  }
  out << "\n";
  Table table({"MANDATOR", "ID", "ROLE", "REVISION", "LAG", "ZOOKEEPER"});
  for (const Report& m : members) {
    table.AddRow({m.address, m.member_id, m.is_leader ? "leader" : "follower",
                  Revision(m), Lag(m), m.zookeeper});
  }
  table.Print(out, "  ");
}

void PrintText(const std::vector<Report>& reports, std::ostream& out) {
  // Main DC first, then the others by name.
  std::map<std::pair<bool, std::string>, std::vector<Report>> by_dc;
  std::vector<const Report*> silent;
  for (const Report& r : reports) {
    if (r.error.ok()) {
      by_dc[{!r.is_main, r.datacenter}].push_back(r);
    } else {
      silent.push_back(&r);
    }
  }
  bool first = true;
  for (const auto& [dc, members] : by_dc) {
    if (!first) out << "\n";
    first = false;
    PrintDatacenter(dc.second, members, out);
  }
  if (silent.empty()) return;
  if (!first) out << "\n";
  out << "Not answering:\n";
  Table table({"MANDATOR", "ERROR"});
  for (const Report* r : silent) {
    table.AddRow({r->address, r->problem});
  }
  table.Print(out, "  ");
}

void PrintJson(const std::vector<Report>& reports, std::ostream& out) {
  std::vector<std::string> items;
  for (const Report& r : reports) {
    if (r.error.ok()) {
      items.push_back(absl::StrCat("{\"address\":", JsonQuote(r.address),
                                   ",\"status\":", r.body, "}"));
    } else {
      items.push_back(absl::StrCat(
          "{\"address\":", JsonQuote(r.address), ",\"error\":{\"code\":",
          JsonQuote(absl::StatusCodeToString(r.error.code())),
          ",\"message\":", JsonQuote(std::string(r.error.message())), "}}"));
    }
  }
  out << "{\"mandators\":[" << absl::StrJoin(items, ",") << "]}\n";
}

}  // namespace

absl::Status RunStatus(const Client& client, bool json, std::ostream& out) {
  const std::vector<std::string>& addresses = client.addresses();
  std::vector<Report> reports(addresses.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < addresses.size(); ++i) {
    threads.emplace_back([&, i] { reports[i] = Ask(client, addresses[i]); });
  }
  for (std::thread& t : threads) t.join();

  if (json) {
    PrintJson(reports, out);
  } else {
    PrintText(reports, out);
  }
  // None answered with a status. If one answered with an error (say 401),
  // that error's code is the more useful exit code.
  std::vector<std::string> failures;
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  bool any_answered = false;
  for (const Report& r : reports) {
    if (r.error.ok()) return absl::OkStatus();
    failures.push_back(absl::StrCat(r.address, " (", r.problem, ")"));
    if (r.answered && !any_answered) {
      any_answered = true;
      code = r.error.code();
    }
  }
  return absl::Status(
      code, absl::StrCat(any_answered ? "no mandator answered with its status: "
                                      : "no mandator reachable at ",
                         absl::StrJoin(failures, ", ")));
}

}  // namespace kessctl
}  // namespace kess
