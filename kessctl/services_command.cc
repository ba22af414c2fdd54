#include "kessctl/services_command.h"

#include <map>
#include <string>
#include <vector>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/value_encoding.h"
#include "kessctl/table.h"
#include "model/names.h"

namespace kess {
namespace kessctl {
namespace {

using Object = Poco::JSON::Object::Ptr;

int Usage(const Io& io, const std::string& message) {
  *io.err << "kessctl: " << message << "\nRun 'kessctl --help' for usage.\n";
  return kExitUsage;
}

int Fail(const Io& io, const std::string& what, const absl::Status& status) {
  *io.err << "kessctl: " << what << ": " << status.message() << "\n";
  return ExitCodeFor(status);
}

int64_t Int(const Object& o, const std::string& name) {
  return o->optValue<Poco::Int64>(name, 0);
}

std::string Str(const Object& o, const std::string& name) {
  std::string s = o->optValue<std::string>(name, "");
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

// ---- list and get (a mandator) ----

int List(const Client& client, const Options& options, const Io& io) {
  auto raw = client.Call({"GET", "/api/v1/services", {}, ""});
  if (!raw.ok()) return Fail(io, "services list", raw.status());
  if (options.output == "json") {
    *io.out << *raw << "\n";
    return kExitOk;
  }
  auto answer = ParseJsonObject(*raw);
  if (!answer.ok()) return Fail(io, "services list", answer.status());
  Table table({"SERVICE", "REVISION", "INSTANCES", "HEALTHY", "SUSPECT",
               "DISABLED", "DATACENTERS"});
  auto services = (*answer)->getArray("services");
  for (size_t i = 0; services && i < services->size(); ++i) {
    Object s = services->getObject(static_cast<unsigned>(i));
    int64_t healthy = 0, suspect = 0, disabled = 0;
    std::vector<std::string> dcs;
    Object by_dc = s->getObject("datacenters");
    if (by_dc) {
      for (const auto& [dc, value] : *by_dc) {
        Object states = by_dc->getObject(dc);
        int64_t h = Int(states, "healthy"), su = Int(states, "suspect"),
                d = Int(states, "disabled");
        healthy += h;
        suspect += su;
        disabled += d;
        dcs.push_back(absl::StrCat(dc, ":", h + su + d));
      }
    }
    table.AddRow({Str(s, "name"), std::to_string(Int(s, "revision")),
                  std::to_string(Int(s, "instances")), std::to_string(healthy),
                  std::to_string(suspect), std::to_string(disabled),
                  Dash(absl::StrJoin(dcs, " "))});
  }
  table.Print(*io.out);
  return kExitOk;
}

struct Instance {
  std::string id, dc, host, address, state, health, check, output;
  int64_t weight = 0;
  std::string Line() const {
    return absl::StrCat(id, " ", Dash(dc), " ", Dash(address), " ", state,
                        " weight ", weight,
                        check.empty() ? "" : " check " + check,
                        output.empty() ? "" : " (" + output + ")");
  }
  bool operator==(const Instance& o) const {
    return dc == o.dc && host == o.host && address == o.address &&
           state == o.state && health == o.health && check == o.check &&
           output == o.output && weight == o.weight;
  }
};

std::map<std::string, Instance> Instances(const Object& table) {
  std::map<std::string, Instance> out;
  auto list = table ? table->getArray("instances") : nullptr;
  for (size_t i = 0; list && i < list->size(); ++i) {
    Object o = list->getObject(static_cast<unsigned>(i));
    Instance in;
    in.id = Str(o, "id");
    in.dc = Str(o, "datacenter");
    in.host = Str(o, "host");
    in.address = Str(o, "address");
    in.state = Str(o, "state");
    in.health = Str(o, "health");
    in.check = Str(o, "check_status");
    in.output = Str(o, "check_output");
    in.weight = Int(o, "weight");
    out[in.id] = in;
  }
  return out;
}

std::string Counts(const std::map<std::string, Instance>& instances) {
  std::map<std::string, int> by_state;
  for (const auto& [id, in] : instances) ++by_state[in.state];
  std::vector<std::string> parts;
  for (const auto& [state, n] : by_state) {
    parts.push_back(absl::StrCat(state, " ", n));
  }
  return absl::StrCat(instances.size(), " instances",
                      parts.empty() ? "" : ": ", absl::StrJoin(parts, ", "));
}

int Get(const Client& client, const Options& options, const Io& io,
        const std::string& service) {
  auto raw = client.Call({"GET", "/api/v1/services/" + service, {}, ""});
  if (!raw.ok()) return Fail(io, "services get " + service, raw.status());
  if (options.output == "json") {
    *io.out << *raw << "\n";
    return kExitOk;
  }
  auto answer = ParseJsonObject(*raw);
  if (!answer.ok()) return Fail(io, "services get", answer.status());
  Object table = (*answer)->getObject("table");
  Object ages = (*answer)->getObject("heartbeat_age_ms");
  auto instances = Instances(table);
  *io.out << service << ": revision " << Int(*answer, "revision") << ", "
          << Counts(instances) << "\n";
  Table t({"ID", "DC", "HOST", "ADDRESS", "STATE", "WEIGHT", "HEALTH",
           "CHECK", "HEARTBEAT", "OUTPUT"});
  for (const auto& [id, in] : instances) {
    std::string age = "-";
    if (ages && ages->has(id) && !ages->isNull(id)) {
      age = absl::StrCat(ages->getValue<Poco::Int64>(id), " ms ago");
    }
    t.AddRow({id, Dash(in.dc), Dash(in.host), Dash(in.address),
              Dash(in.state), std::to_string(in.weight), Dash(in.health),
              Dash(in.check), age, Dash(in.output)});
  }
  t.Print(*io.out, "  ");
  return kExitOk;
}

// ---- watch (the local agent) ----

absl::StatusOr<Object> AgentJson(const Options& options, const std::string& method,
                                 const std::string& uri,
                                 const std::string& body,
                                 absl::Duration timeout, std::string* raw,
                                 bool* unreachable = nullptr) {
  auto reply = ::kess::HttpCall(options.agent, method, uri, body, timeout);
  if (unreachable != nullptr) *unreachable = !reply.ok();
  if (!reply.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "agent at ", options.agent, ": ", reply.status().message(),
        " (set --agent or KESS_AGENT)"));
  }
  if (reply->status / 100 != 2) {
    HttpAnswer a{reply->status, reply->body, ""};
    return Client::StatusFromAnswer(a);
  }
  *raw = reply->body;
  auto object = ParseJsonObject(reply->body);
  if (!object.ok()) {
    return absl::InternalError("malformed answer from the agent: " +
                               std::string(object.status().message()));
  }
  return object;
}

std::string Clock() {
  return absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone());
}

int Watch(const Options& options, const Io& io, const std::string& service) {
  const std::string what = "services watch " + service;
  std::string raw;
  auto subscribed = AgentJson(
      options, "POST", "/v1/subscriptions",
      // Its own owner at the agent, apart from the applications'.
      absl::StrCat("{\"app\":\"kessctl\",\"routes\":[", JsonQuote(service),
                   "]}"),
      options.timeout, &raw);
  if (!subscribed.ok()) return Fail(io, what, subscribed.status());
  std::string epoch;
  int64_t index = 0;
  std::map<std::string, Instance> held;
  bool have_table = false;
  int answers = 0;
  const int64_t poll_s = 60;
  int failures = 0;  // the agent unreachable, in a row
  constexpr int kMaxFailures = 60;
  constexpr absl::Duration kRetryDelay = absl::Seconds(1);
  while (options.watch_changes <= 0 || answers < options.watch_changes) {
    std::string uri = absl::StrCat("/v1/watch?service=", service,
                                   "&timeout=", poll_s, "s");
    if (index > 0) absl::StrAppend(&uri, "&index=", index, "&epoch=", epoch);
    bool unreachable = false;
    auto answer = AgentJson(options, "GET", uri, "",
                            absl::Seconds(poll_s) + options.timeout, &raw,
                            &unreachable);
    if (!answer.ok()) {
      // The agent restarting: retried (about a minute) from the full state
      // (index 0); its subscription is persisted. An answer is final.
      if (!unreachable || ++failures > kMaxFailures) {
        return Fail(io, what, answer.status());
      }
      if (failures == 1) {
        *io.err << Clock() << " " << service << ": "
                << answer.status().message() << "; retrying\n";
        io.err->flush();
      }
      index = 0;
      epoch.clear();
      absl::SleepFor(kRetryDelay);
      continue;
    }
    failures = 0;
    epoch = Str(*answer, "epoch");
    index = Int(*answer, "index");
    auto changes = (*answer)->getArray("changes");
    const bool full = (*answer)->optValue<bool>("full", false);
    if ((!changes || changes->size() == 0) && !full) continue;  // timed out
    ++answers;
    if (options.output == "json") {
      *io.out << raw;
      if (raw.empty() || raw.back() != '\n') *io.out << "\n";
      io.out->flush();
      continue;
    }
    if (!changes || changes->size() == 0) {
      *io.out << Clock() << " " << service
              << ": no route table in the agent's cache yet\n";
      io.out->flush();
      continue;
    }
    Object file = changes->getObject(changes->size() - 1);
    if (file->optValue<bool>("absent", false)) {
      *io.out << Clock() << " " << service << ": deleted at revision "
              << Int(file, "revision") << "\n";
      held.clear();
      have_table = false;
      io.out->flush();
      continue;
    }
    auto value = DecodeValue(Str(file, "value"), Str(file, "encoding"));
    if (!value.ok()) return Fail(io, what, value.status());
    auto table = ParseJsonObject(*value);
    if (!table.ok()) return Fail(io, what, table.status());
    auto now = Instances(*table);
    *io.out << Clock() << " " << service << ": revision "
            << Int(file, "revision") << ", " << Counts(now) << "\n";
    for (const auto& [id, in] : now) {
      auto before = held.find(id);
      if (!have_table || before == held.end()) {
        *io.out << "  + " << in.Line() << "\n";
      } else if (!(before->second == in)) {
        *io.out << "  ~ " << in.Line() << "  (was " << before->second.state
                << ", weight " << before->second.weight
                << (before->second.check.empty()
                        ? ""
                        : ", check " + before->second.check)
                << ")\n";
      }
    }
    for (const auto& [id, in] : held) {
      if (now.find(id) == now.end()) *io.out << "  - " << in.Line() << "\n";
    }
    io.out->flush();
    held = std::move(now);
    have_table = true;
  }
  return kExitOk;
}

}  // namespace

int RunServices(const std::vector<std::string>& args, const Options& options,
                const Io& io, const Client* client) {
  if (args.empty()) {
    return Usage(io, "services needs a subcommand: list, get or watch");
  }
  const std::string& verb = args[0];
  if (verb == "list") {
    if (args.size() != 1) return Usage(io, "usage: kessctl services list");
  } else if (verb == "get" || verb == "watch") {
    if (args.size() != 2) {
      return Usage(io, "usage: kessctl services " + verb + " <service>");
    }
    absl::Status valid = ValidateName(NameKind::kService, args[1]);
    if (!valid.ok()) return Fail(io, "services " + verb, valid);
  } else {
    return Usage(io, "unknown command: services " + verb +
                         " (list, get, watch)");
  }
  try {
    if (verb == "watch") return Watch(options, io, args[1]);
    if (client == nullptr) {
      return Usage(io,
                   "no mandator given: set --mandators=host:port,... or "
                   "KESS_MANDATORS");
    }
    if (verb == "list") return List(*client, options, io);
    return Get(*client, options, io, args[1]);
  } catch (const Poco::Exception& e) {
    return Fail(io, "services " + verb,
                absl::InternalError("malformed answer: " + e.displayText()));
  }
}

}  // namespace kessctl
}  // namespace kess
