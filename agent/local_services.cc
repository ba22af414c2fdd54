#include "agent/local_services.h"

#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <utility>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "common/transport/event_loop.h"
#include "glog/logging.h"
#include "model/file_cache/env.h"
#include "model/instance_info.h"
#include "model/names.h"
#include "model/protocol/discovery.pb.h"
#include "model/route_table.h"

namespace kess {
namespace agent {
namespace {

constexpr int kStateFormat = 1;

std::string Key(const std::string& service, const std::string& id) {
  return absl::StrCat(service, "/", id);
}

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(what);
}

}  // namespace

absl::StatusOr<LocalInstanceSpec> ParseLocalInstance(
    const std::string& service, const std::string& id,
    const Poco::JSON::Object::Ptr& body, const LocalServicesOptions& options) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, service));
  {
    absl::Status s = ValidateName(NameKind::kKey, id);
    if (!s.ok()) return Bad(absl::StrCat("instance id: ", s.message()));
  }
  LocalInstanceSpec spec;
  spec.service = service;
  spec.id = id;
  static const std::set<std::string> kFields = {
      "address", "weight", "metadata", "checks", "owner", "service", "id"};
  for (const auto& [name, value] : *body) {
    if (kFields.count(name) == 0) {
      return Bad(absl::StrCat("unknown field \"", name.substr(0, 64),
                              "\" (known: address, weight, metadata, checks, "
                              "owner)"));
    }
  }
  try {
    if (!body->has("address") || !body->get("address").isString()) {
      return Bad("\"address\" (host:port, a string) is required");
    }
    spec.address = body->getValue<std::string>("address");
    if (body->has("owner") && !body->isNull("owner")) {
      if (!body->get("owner").isString()) {
        return Bad("\"owner\" must be a string");
      }
      spec.owner = body->getValue<std::string>("owner");
      if (!spec.owner.empty()) {
        absl::Status s = ValidateName(NameKind::kKey, spec.owner);
        if (!s.ok()) return Bad(absl::StrCat("owner: ", s.message()));
      }
    }
    if (body->has("weight") && !body->isNull("weight")) {
      const Poco::Dynamic::Var w = body->get("weight");
      if (!w.isInteger()) return Bad("\"weight\" must be an integer");
      const int64_t weight = w.convert<int64_t>();
      if (weight < 1 || weight > kMaxInstanceWeight) {
        return Bad(absl::StrCat("weight ", weight, " is outside 1..",
                                kMaxInstanceWeight));
      }
      spec.weight = static_cast<int>(weight);
    }
    if (body->has("metadata") && !body->isNull("metadata")) {
      Poco::JSON::Object::Ptr meta;
      try {
        meta = body->getObject("metadata");
      } catch (const Poco::Exception&) {
      }
      if (meta.isNull()) return Bad("\"metadata\" must be an object");
      for (const auto& [k, v] : *meta) {
        if (!v.isString()) {
          return Bad(absl::StrCat("metadata \"", k.substr(0, 64),
                                  "\" must be a string"));
        }
        spec.metadata[k] = v.extract<std::string>();
      }
    }
    // The rest of the instance's rules (address, metadata) as the
    // mandators apply them.
    protocol::InstanceInfo info;
    info.set_service(service);
    info.set_id(id);
    info.set_host(options.host_id);
    info.set_datacenter(options.datacenter);
    info.set_address(spec.address);
    info.set_weight(spec.weight);
    info.set_health("up");
    info.mutable_metadata()->insert(spec.metadata.begin(), spec.metadata.end());
    KESS_RETURN_IF_ERROR(ValidateInstanceInfo(info));

    if (body->has("checks") && !body->isNull("checks")) {
      Poco::JSON::Array::Ptr checks;
      try {
        checks = body->getArray("checks");
      } catch (const Poco::Exception&) {
      }
      if (checks.isNull()) return Bad("\"checks\" must be an array");
      if (checks->size() > options.max_checks_per_instance) {
        return Bad(absl::StrCat("at most ", options.max_checks_per_instance,
                                " checks per instance"));
      }
      std::set<std::string> ids;
      for (size_t i = 0; i < checks->size(); ++i) {
        Poco::JSON::Object::Ptr c;
        try {
          c = checks->getObject(static_cast<unsigned>(i));
        } catch (const Poco::Exception&) {
        }
        if (c.isNull()) return Bad(absl::StrCat("checks[", i, "] must be an object"));
        KESS_ASSIGN_OR_RETURN(
            CheckSpec check,
            ParseCheckSpec(c, absl::StrCat(service, ".", id, ".", i + 1),
                           spec.address, options.checks));
        if (!ids.insert(check.id).second) {
          return Bad(absl::StrCat("check id \"", check.id, "\" appears twice"));
        }
        spec.checks.push_back(std::move(check));
      }
    }
  } catch (const Poco::Exception& e) {
    return Bad(absl::StrCat("bad registration: ", e.displayText()));
  }
  return spec;
}

std::string LocalInstanceToJson(const LocalInstanceSpec& spec) {
  std::vector<std::string> meta, checks;
  for (const auto& [k, v] : spec.metadata) {
    meta.push_back(absl::StrCat(JsonQuote(k), ":", JsonQuote(v)));
  }
  for (const CheckSpec& c : spec.checks) checks.push_back(CheckSpecToJson(c));
  return absl::StrCat(
      "{\"service\":", JsonQuote(spec.service), ",\"id\":", JsonQuote(spec.id),
      ",\"owner\":", JsonQuote(spec.owner),
      ",\"address\":", JsonQuote(spec.address), ",\"weight\":", spec.weight,
      ",\"metadata\":{", absl::StrJoin(meta, ","), "},\"checks\":[",
      absl::StrJoin(checks, ","), "]}");
}

absl::StatusOr<std::unique_ptr<LocalServices>> LocalServices::Create(
    LocalServicesOptions options) {
  std::unique_ptr<LocalServices> services(new LocalServices(std::move(options)));
  KESS_RETURN_IF_ERROR(services->Start());
  return services;
}

LocalServices::LocalServices(LocalServicesOptions options)
    : options_(std::move(options)), agent_uid_(geteuid()) {
  instances_gauge_ = options_.registry->GetGauge(
      "kess_agent_local_instances",
      "Service instances registered through this agent's API.");
  state_changes_ = options_.registry->GetCounter(
      "kess_agent_check_state_changes_total",
      "Health checks that changed state (after flap damping).");
}

absl::Status LocalServices::Start() {
  KESS_ASSIGN_OR_RETURN(loop_, transport::EventLoop::Create("kess-services"));
  KESS_ASSIGN_OR_RETURN(push_loop_,
                        transport::EventLoop::Create("kess-svc-push"));
  sdk::RegistrationPoolOptions po;
  po.loop = loop_.get();
  po.heartbeat_interval = options_.heartbeat_interval;
  po.call_timeout = options_.call_timeout;
  po.connect_timeout = options_.connect_timeout;
  po.registry = options_.registry;
  po.tls = options_.tls;
  po.credential = options_.credential;
  KESS_ASSIGN_OR_RETURN(pool_, sdk::RegistrationPool::Create(po));
  CheckRunnerOptions ro;
  ro.registry = options_.registry;
  KESS_ASSIGN_OR_RETURN(
      runner_, CheckRunner::Create(ro, [this](const std::string& id,
                                              CheckStatus result,
                                              std::string output) {
        OnResult(id, result, std::move(output));
      }));
  return Load();
}

LocalServices::~LocalServices() {
  runner_.reset();  // no more results
  push_loop_.reset();  // no more pushes (a pending state save is dropped)
  std::map<std::string, std::shared_ptr<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.swap(entries_);
  }
  for (auto& [key, entry] : entries) {
    absl::MutexLock push(&entry->push_mu);
    entry->registration.reset();  // deregister_on_destroy = false
  }
  pool_.reset();  // after its members, before its loop
  loop_.reset();
}

absl::Status LocalServices::Load() {
  absl::StatusOr<std::string> text = options_.env->ReadFile(options_.state_path);
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  // An I/O error (EACCES, EIO, EMFILE, a symbolic link) says nothing about
  // the file: starting without it would overwrite it at the next PUT.
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read ", options_.state_path, ": ",
                                     text.status().message()));
  }
  auto corrupt = [this](const std::string& why) -> absl::Status {
    const std::string aside = absl::StrCat(options_.state_path, ".corrupt-",
                                           absl::ToUnixSeconds(absl::Now()));
    absl::Status moved = options_.env->Rename(options_.state_path, aside);
    if (!moved.ok()) {
      return absl::Status(moved.code(),
                          absl::StrCat(options_.state_path, " is unusable (",
                                       why, ") and cannot be moved aside: ",
                                       moved.message()));
    }
    LOG(ERROR) << "local registrations: " << options_.state_path
               << " is unusable (" << why
               << "); starting without local registrations; the file is kept "
                  "as "
               << aside;
    return absl::OkStatus();
  };
  absl::StatusOr<Poco::JSON::Object::Ptr> doc = ParseJsonObject(*text);
  if (!doc.ok()) return corrupt(std::string(doc.status().message()));
  Poco::JSON::Array::Ptr list;
  int format = 0;
  try {
    format = (*doc)->has("format") ? (*doc)->getValue<int>("format") : 0;
    list = (*doc)->getArray("instances");
  } catch (const Poco::Exception& e) {
    return corrupt(e.displayText());
  }
  if (format != kStateFormat || list.isNull()) {
    return corrupt(absl::StrCat("format ", format, " or no \"instances\" array"));
  }
  std::vector<std::shared_ptr<Entry>> loaded;
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < list->size(); ++i) {
      Poco::JSON::Object::Ptr item;
      try {
        item = list->getObject(static_cast<unsigned>(i));
      } catch (const Poco::Exception&) {
      }
      std::string service, id, raw;
      if (!item.isNull()) {
        std::ostringstream out;
        item->stringify(out);
        raw = out.str();
        if (item->has("service") && item->has("id") &&
            item->get("service").isString() && item->get("id").isString()) {
          service = item->getValue<std::string>("service");
          id = item->getValue<std::string>("id");
        }
      }
      // The agent's own fields (never taken from a PUT body).
      int64_t owner_uid = -1;
      std::map<std::string, CheckStatus> last;
      absl::Status own = absl::OkStatus();
      if (!item.isNull()) {
        try {
          if (item->has("owner_uid")) {
            owner_uid = item->getValue<int64_t>("owner_uid");
            item->remove("owner_uid");
          }
          if (item->has("check_states")) {
            Poco::JSON::Object::Ptr states = item->getObject("check_states");
            if (!states.isNull()) {
              for (const auto& [check_id, v] : *states) {
                absl::StatusOr<CheckStatus> st =
                    ParseCheckStatus(v.convert<std::string>());
                if (st.ok()) last[check_id] = *st;
              }
            }
            item->remove("check_states");
          }
        } catch (const Poco::Exception& e) {
          own = Bad(e.displayText());
        }
      }
      absl::StatusOr<LocalInstanceSpec> spec =
          item.isNull() ? absl::InvalidArgumentError("not an object")
          : !own.ok()   ? absl::StatusOr<LocalInstanceSpec>(own)
                        : ParseLocalInstance(service, id, item, options_);
      std::string problem;
      if (!spec.ok()) {
        problem = std::string(spec.status().message());
      } else {
        if (entries_.count(Key(service, id)) > 0) problem = "duplicate instance";
        for (const CheckSpec& c : spec->checks) {
          if (check_owner_.count(c.id) > 0) problem = "duplicate check id";
        }
      }
      if (!problem.empty()) {
        // Kept in the file, inactive: an entry that became invalid (exec
        // checks after --enable_exec_checks was removed) comes back when it
        // is valid again, or is replaced by a PUT of the same instance.
        LOG(ERROR) << "local registrations: " << options_.state_path
                   << ": instances[" << i << "] (" << service << "/" << id
                   << ") is inactive: " << problem;
        if (!raw.empty()) {
          inactive_.push_back({Key(service, id), raw, problem});
        }
        continue;
      }
      auto entry = std::make_shared<Entry>();
      entry->spec = *std::move(spec);
      entry->spec.owner_uid = owner_uid;
      for (const CheckSpec& c : entry->spec.checks) {
        // The last status before the restart, so that a restart does not
        // send every instance critical (nor an unchecked one passing).
        auto before = last.find(c.id);
        entry->checks.emplace(
            c.id, CheckState(before != last.end() ? before->second : c.initial,
                             c.success_before_passing,
                             c.failures_before_critical));
        check_owner_[c.id] = Key(service, id);
      }
      entries_[Key(service, id)] = entry;
      loaded.push_back(entry);
    }
    UpdateGauges();
  }
  LOG(INFO) << "local registrations: " << loaded.size() << " loaded from "
            << options_.state_path;
  for (const auto& entry : loaded) Activate(entry);
  return absl::OkStatus();
}

std::string LocalServices::StateJson(
    const std::map<std::string, std::shared_ptr<Entry>>& entries,
    const std::string& dropped_inactive) const {
  std::vector<std::string> items;
  items.reserve(entries.size() + inactive_.size());
  for (const auto& [key, entry] : entries) {
    std::string json = LocalInstanceToJson(entry->spec);
    json.pop_back();  // the closing brace
    if (entry->spec.owner_uid >= 0) {
      absl::StrAppend(&json, ",\"owner_uid\":", entry->spec.owner_uid);
    }
    std::vector<std::string> states;
    for (const auto& [check_id, state] : entry->checks) {
      states.push_back(absl::StrCat(JsonQuote(check_id), ":\"",
                                    CheckStatusName(state.status()), "\""));
    }
    absl::StrAppend(&json, ",\"check_states\":{", absl::StrJoin(states, ","),
                    "}}");
    items.push_back(std::move(json));
  }
  for (const Inactive& i : inactive_) {
    if (i.key != dropped_inactive) items.push_back(i.json);
  }
  return absl::StrCat("{\"format\":", kStateFormat, ",\"instances\":[",
                      absl::StrJoin(items, ",\n"), "]}\n");
}

absl::Status LocalServices::WriteState(const std::string& json) {
  absl::Status s = file_cache::WriteFileAtomically(
      options_.env, options_.state_path, json, /*mode=*/0600);
  if (s.ok()) return s;
  // A full disk is the server's trouble, not the client's (503, not 429).
  return absl::UnavailableError(absl::StrCat(
      "cannot persist the local registrations: ", s.message()));
}

void LocalServices::SaveStatesSoon() {
  if (save_pending_.exchange(true)) return;
  // Coalesced: at most one write a second however often checks change.
  push_loop_->Post([this] {
    push_loop_->RunAfter(absl::Seconds(1), [this] {
      save_pending_ = false;
      absl::MutexLock api(&api_mu_);
      std::string json;
      {
        absl::ReaderMutexLock lock(&mu_);
        json = StateJson(entries_, "");
      }
      absl::Status s = WriteState(json);
      LOG_IF(WARNING, !s.ok()) << "local registrations: checks' states: " << s;
    });
  });
}

sdk::Instance LocalServices::ToSdkInstance(const LocalInstanceSpec& spec,
                                           const std::string& status,
                                           const std::string& output) const {
  sdk::Instance in;
  in.service = spec.service;
  in.id = spec.id;
  in.host = options_.host_id;
  in.address = spec.address;
  in.datacenter = options_.datacenter;
  in.weight = spec.weight;
  in.health = "up";
  in.metadata = spec.metadata;
  in.check_status = status;
  in.check_output = CheckRunner::CleanOutput(output, kMaxCheckOutputBytes);
  return in;
}

void LocalServices::Activate(const std::shared_ptr<Entry>& entry) {
  std::string status, output;
  {
    absl::ReaderMutexLock lock(&mu_);
    Aggregate(*entry, &status, &output);
  }
  sdk::RegistrationOptions o;
  o.mandators = options_.mandators;
  o.instance = ToSdkInstance(entry->spec, status, output);
  o.heartbeat_interval = options_.heartbeat_interval;
  o.call_timeout = options_.call_timeout;
  o.connect_timeout = options_.connect_timeout;
  o.registry = options_.registry;
  o.tls = options_.tls;
  o.loop = loop_.get();
  o.pool = pool_;  // one connection per mandator, batched heartbeats
  o.deregister_on_destroy = false;
  {
    absl::MutexLock push(&entry->push_mu);
    absl::StatusOr<std::unique_ptr<sdk::Registration>> r =
        sdk::Registration::Create(o);
    if (!r.ok()) {
      // Validated before; only a bad mandator list gets here.
      LOG(ERROR) << "local registration of " << Key(entry->spec.service,
                                                     entry->spec.id)
                 << " not sent: " << r.status();
    } else {
      entry->registration = std::move(r).value();
      entry->sent_status = status;
    }
  }
  for (const CheckSpec& c : entry->spec.checks) runner_->Add(c);
}

absl::Status LocalServices::MayChange(const LocalInstanceSpec& held,
                                      const std::string& owner,
                                      const Caller& caller) const {
  const std::string key = Key(held.service, held.id);
  if (held.owner_uid >= 0) {
    const bool same_user =
        caller.on_socket &&
        (caller.uid == held.owner_uid || caller.uid == 0 ||
         caller.uid == static_cast<int64_t>(agent_uid_));
    if (!same_user) {
      return absl::PermissionDeniedError(absl::StrCat(
          "instance ", key, " was registered over the API socket by uid ",
          held.owner_uid, "; only that user (or root) may change it, over "
                          "the socket"));
    }
  }
  if (held.owner != owner) {
    // The owner is not echoed: it is what guards the instance on TCP.
    return absl::FailedPreconditionError(absl::StrCat(
        "instance ", key, " is registered by another owner; give its "
        "\"owner\" (PUT) or ?owner= (DELETE, check updates)"));
  }
  return absl::OkStatus();
}

absl::Status LocalServices::Put(const std::string& service,
                                const std::string& id, const std::string& body,
                                const Caller& caller) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr json, ParseJsonObject(body));
  KESS_ASSIGN_OR_RETURN(LocalInstanceSpec spec,
                        ParseLocalInstance(service, id, json, options_));
  if (options_.mandators.empty()) {
    return absl::FailedPreconditionError(
        "this agent has no --mandators: it cannot register instances");
  }
  for (const CheckSpec& c : spec.checks) {
    if (c.kind != CheckKind::kExec) continue;
    // A command runs as the agent's user: only that user (or root) may
    // ask, over the socket, where the kernel says who asks.
    if (!caller.on_socket ||
        (caller.uid != 0 && caller.uid != static_cast<int64_t>(agent_uid_))) {
      return absl::PermissionDeniedError(
          "exec checks are accepted only over the agent's --api_socket, from "
          "root or the agent's own user");
    }
  }
  spec.owner_uid = caller.on_socket ? caller.uid : -1;
  const std::string key = Key(service, id);
  // A DELETE of the same instance still telling the mandators: wait for it
  // (bounded by its deregistration timeout), so that its Deregister cannot
  // arrive after this registration.
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<absl::Notification> pending;
    {
      absl::MutexLock lock(&mu_);
      auto it = deregistering_.find(key);
      if (it != deregistering_.end()) pending = it->second;
    }
    if (pending == nullptr) break;
    if (attempt >= 8 ||
        !pending->WaitForNotificationWithTimeout(absl::Seconds(10))) {
      return absl::UnavailableError(absl::StrCat(
          "instance ", key, " is being deregistered; try again"));
    }
  }
  absl::MutexLock api(&api_mu_);
  std::shared_ptr<Entry> old;
  auto entry = std::make_shared<Entry>();
  entry->spec = spec;
  std::vector<CheckSpec> changed_checks;
  std::vector<std::string> removed_checks;
  std::string next_json;
  {
    // Validate and build the next state under a reader lock: check results
    // keep being recorded meanwhile.
    absl::ReaderMutexLock lock(&mu_);
    if (deregistering_.count(key) > 0) {
      return absl::UnavailableError(absl::StrCat(
          "instance ", key, " is being deregistered; try again"));
    }
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      old = it->second;
      KESS_RETURN_IF_ERROR(MayChange(old->spec, spec.owner, caller));
    } else if (entries_.size() >= options_.max_instances) {
      return absl::ResourceExhaustedError(
          absl::StrCat("at most ", options_.max_instances,
                       " local instances per agent"));
    }
    for (const CheckSpec& c : spec.checks) {
      auto owner = check_owner_.find(c.id);
      if (owner != check_owner_.end() && owner->second != key) {
        return absl::AlreadyExistsError(absl::StrCat(
            "check id \"", c.id, "\" is used by instance ", owner->second,
            "; give this check another \"id\""));
      }
    }
    // Check states: kept for checks whose definition is unchanged.
    std::map<std::string, std::string> old_check_json;
    if (old != nullptr) {
      for (const CheckSpec& c : old->spec.checks) {
        old_check_json[c.id] = CheckSpecToJson(c);
      }
    }
    for (const CheckSpec& c : spec.checks) {
      auto same = old_check_json.find(c.id);
      if (same != old_check_json.end() && same->second == CheckSpecToJson(c)) {
        entry->checks.emplace(c.id, old->checks.at(c.id));
        old_check_json.erase(same);
        continue;
      }
      entry->checks.emplace(c.id, CheckState(c.initial, c.success_before_passing,
                                             c.failures_before_critical));
      changed_checks.push_back(c);
      old_check_json.erase(c.id);
    }
    for (const auto& [check_id, json_text] : old_check_json) {
      removed_checks.push_back(check_id);
    }
    std::map<std::string, std::shared_ptr<Entry>> next = entries_;
    next[key] = entry;
    next_json = StateJson(next, key);
  }
  // Persist first (only api_mu_ held: results are not blocked by the disk);
  // on a write error nothing changes.
  KESS_RETURN_IF_ERROR(WriteState(next_json));
  {
    absl::MutexLock lock(&mu_);
    if (old != nullptr) {
      for (const CheckSpec& c : old->spec.checks) check_owner_.erase(c.id);
      // Results recorded since the copy above are kept.
      for (const CheckSpec& c : spec.checks) {
        bool unchanged = true;
        for (const CheckSpec& d : changed_checks) {
          if (d.id == c.id) unchanged = false;
        }
        auto was = old->checks.find(c.id);
        if (!unchanged || was == old->checks.end()) continue;
        entry->checks.erase(c.id);
        entry->checks.emplace(c.id, was->second);
      }
    }
    for (const CheckSpec& c : spec.checks) check_owner_[c.id] = key;
    inactive_.erase(std::remove_if(inactive_.begin(), inactive_.end(),
                                   [&](const Inactive& i) { return i.key == key; }),
                    inactive_.end());
    entries_[key] = entry;
    UpdateGauges();
  }
  if (old == nullptr) {
    Activate(entry);
    return absl::OkStatus();
  }
  // An update: the registration moves to the new entry and gets the new
  // instance at once.
  for (const std::string& c : removed_checks) runner_->Remove(c);
  {
    absl::MutexLock old_push(&old->push_mu);
    absl::MutexLock new_push(&entry->push_mu);
    entry->registration = std::move(old->registration);
    entry->sent_status = old->sent_status;
  }
  {
    absl::MutexLock push(&entry->push_mu);
    std::string status, output;
    {
      absl::ReaderMutexLock lock(&mu_);
      Aggregate(*entry, &status, &output);
    }
    if (entry->registration != nullptr) {
      absl::Status s = entry->registration->SetInstance(
          ToSdkInstance(entry->spec, status, output));
      if (s.ok()) entry->sent_status = status;
      LOG_IF(WARNING, !s.ok()) << "local registration of " << key << ": " << s;
    }
  }
  for (const CheckSpec& c : changed_checks) runner_->Add(c);
  return absl::OkStatus();
}

absl::Status LocalServices::Delete(const std::string& service,
                                   const std::string& id,
                                   const std::string& owner,
                                   const Caller& caller) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, service));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, id));
  const std::string key = Key(service, id);
  std::shared_ptr<Entry> entry;
  auto done = std::make_shared<absl::Notification>();
  {
    absl::MutexLock api(&api_mu_);
    std::string next_json;
    bool inactive = false;
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = entries_.find(key);
      if (it == entries_.end()) {
        for (const Inactive& i : inactive_) inactive = inactive || i.key == key;
        if (!inactive) {
          return absl::NotFoundError(absl::StrCat(
              "instance ", key, " is not registered on this agent"));
        }
        // An inactive entry (it did not load) is only in the file.
        if (caller.on_socket && caller.uid != 0 &&
            caller.uid != static_cast<int64_t>(agent_uid_)) {
          return absl::PermissionDeniedError(
              "an inactive instance is deleted by root or the agent's user");
        }
        next_json = StateJson(entries_, key);
      } else {
        KESS_RETURN_IF_ERROR(MayChange(it->second->spec, owner, caller));
        std::map<std::string, std::shared_ptr<Entry>> next = entries_;
        next.erase(key);
        next_json = StateJson(next, "");
      }
    }
    KESS_RETURN_IF_ERROR(WriteState(next_json));
    absl::MutexLock lock(&mu_);
    if (inactive) {
      inactive_.erase(
          std::remove_if(inactive_.begin(), inactive_.end(),
                         [&](const Inactive& i) { return i.key == key; }),
          inactive_.end());
      return absl::OkStatus();
    }
    auto it = entries_.find(key);
    entry = it->second;
    for (const CheckSpec& c : entry->spec.checks) check_owner_.erase(c.id);
    entries_.erase(it);
    deregistering_[key] = done;
    UpdateGauges();
  }
  // The mandators are told without holding api_mu_ (up to the
  // deregistration timeout with a mandator down): other PUTs and DELETEs
  // go on; a PUT of this instance waits for it.
  for (const CheckSpec& c : entry->spec.checks) runner_->Remove(c.id);
  {
    absl::MutexLock push(&entry->push_mu);
    if (entry->registration != nullptr) {
      absl::Status s = entry->registration->Deregister();
      LOG_IF(WARNING, !s.ok()) << "local deregistration of " << key << ": " << s;
      entry->registration.reset();
    }
  }
  {
    absl::MutexLock lock(&mu_);
    deregistering_.erase(key);
  }
  done->Notify();
  return absl::OkStatus();
}

absl::Status LocalServices::UpdateTtl(const std::string& check_id,
                                      CheckStatus status,
                                      const std::string& output,
                                      const std::string& owner,
                                      const Caller& caller) {
  std::shared_ptr<Entry> entry;
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    auto held = check_owner_.find(check_id);
    if (held == check_owner_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no check \"", check_id.substr(0, 128),
                       "\" on this agent"));
    }
    entry = entries_.at(held->second);
    KESS_RETURN_IF_ERROR(MayChange(entry->spec, owner, caller));
    const CheckSpec* spec = nullptr;
    for (const CheckSpec& c : entry->spec.checks) {
      if (c.id == check_id) spec = &c;
    }
    if (spec == nullptr || spec->kind != CheckKind::kTtl) {
      return absl::FailedPreconditionError(absl::StrCat(
          "check \"", check_id, "\" is a",
          spec == nullptr ? "n unknown" : absl::StrCat(" ", CheckKindName(spec->kind)),
          " check; only ttl checks are updated by the application"));
    }
    changed = entry->checks.at(check_id).Set(
        status, CheckRunner::CleanOutput(output, 4096));
    if (changed) state_changes_->Increment();
  }
  runner_->Renew(check_id);
  if (changed) {
    Push(entry);
    SaveStatesSoon();
  }
  return absl::OkStatus();
}

void LocalServices::OnResult(const std::string& check_id, CheckStatus result,
                             std::string output) {
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto owner = check_owner_.find(check_id);
    if (owner == check_owner_.end()) return;  // removed meanwhile
    entry = entries_.at(owner->second);
    auto state = entry->checks.find(check_id);
    if (state == entry->checks.end()) return;
    const CheckKind kind = [&] {
      for (const CheckSpec& c : entry->spec.checks) {
        if (c.id == check_id) return c.kind;
      }
      return CheckKind::kHttp;
    }();
    // A TTL expiry is the absence of updates: at once, no damping.
    const bool changed = kind == CheckKind::kTtl
                             ? state->second.Set(result, std::move(output))
                             : state->second.Record(result, std::move(output));
    if (!changed) return;
    state_changes_->Increment();
    LOG(INFO) << "check " << check_id << " of " << owner->second << " is now "
              << CheckStatusName(state->second.status()) << ": "
              << state->second.change_output().substr(0, 200);
  }
  // The check runner's thread never waits for the mandators' loop: the
  // change is sent from the push thread.
  push_loop_->Post([this, entry] { Push(entry); });
  SaveStatesSoon();
}

void LocalServices::Push(const std::shared_ptr<Entry>& entry) {
  absl::MutexLock push(&entry->push_mu);
  if (entry->registration == nullptr) return;
  std::string status, output;
  {
    absl::ReaderMutexLock lock(&mu_);
    Aggregate(*entry, &status, &output);
  }
  if (status == entry->sent_status) return;
  absl::Status s = entry->registration->SetCheckStatus(
      status, CheckRunner::CleanOutput(output, kMaxCheckOutputBytes));
  if (s.ok()) entry->sent_status = status;
}

void LocalServices::Aggregate(const Entry& entry, std::string* status,
                              std::string* output) const {
  status->clear();
  output->clear();
  const CheckState* worst = nullptr;
  for (const auto& [id, state] : entry.checks) {
    if (worst == nullptr || state.status() > worst->status()) worst = &state;
  }
  if (worst == nullptr) return;
  *status = CheckStatusName(worst->status());
  *output = worst->change_output();
}

std::string LocalServices::EntryJson(const Entry& entry) const {
  std::string status, output;
  Aggregate(entry, &status, &output);
  std::vector<std::string> checks;
  for (const CheckSpec& c : entry.spec.checks) {
    std::string json = CheckSpecToJson(c);
    json.pop_back();  // the closing brace
    const CheckState& state = entry.checks.at(c.id);
    absl::StrAppend(&json, ",\"state\":\"", CheckStatusName(state.status()),
                    "\",\"output\":", JsonQuote(state.output()),
                    ",\"results\":", state.results(),
                    ",\"pending\":", state.pending(), "}");
    checks.push_back(std::move(json));
  }
  std::vector<std::string> meta;
  for (const auto& [k, v] : entry.spec.metadata) {
    meta.push_back(absl::StrCat(JsonQuote(k), ":", JsonQuote(v)));
  }
  return absl::StrCat(
      "{\"service\":", JsonQuote(entry.spec.service),
      ",\"id\":", JsonQuote(entry.spec.id),
      // Never the owner string: it guards the instance on TCP.
      ",\"owned\":", entry.spec.owner.empty() ? "false" : "true",
      entry.spec.owner_uid >= 0
          ? absl::StrCat(",\"owner_uid\":", entry.spec.owner_uid)
          : std::string(),
      ",\"host\":", JsonQuote(options_.host_id),
      ",\"datacenter\":", JsonQuote(options_.datacenter),
      ",\"address\":", JsonQuote(entry.spec.address),
      ",\"weight\":", entry.spec.weight, ",\"metadata\":{",
      absl::StrJoin(meta, ","), "},\"check_status\":", JsonQuote(status),
      ",\"check_output\":", JsonQuote(output), ",\"checks\":[",
      absl::StrJoin(checks, ","), "]}");
}

std::string LocalServices::ListJson() const {
  std::vector<std::shared_ptr<Entry>> entries;
  std::vector<std::string> items;
  std::vector<std::string> inactive;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [key, entry] : entries_) {
      items.push_back(EntryJson(*entry));
      entries.push_back(entry);
    }
    for (const Inactive& i : inactive_) {
      inactive.push_back(absl::StrCat("{\"instance\":", JsonQuote(i.key),
                                      ",\"error\":", JsonQuote(i.error), "}"));
    }
  }
  // Which mandators acknowledged each (outside mu_: state() locks its own).
  for (size_t i = 0; i < entries.size(); ++i) {
    absl::MutexLock push(&entries[i]->push_mu);
    std::vector<std::string> acked;
    if (entries[i]->registration != nullptr) {
      for (const std::string& m : entries[i]->registration->state().registered) {
        acked.push_back(JsonQuote(m));
      }
    }
    items[i].pop_back();
    absl::StrAppend(&items[i], ",\"registered_with\":[",
                    absl::StrJoin(acked, ","), "]}");
  }
  return absl::StrCat("{\"instances\":[", absl::StrJoin(items, ","),
                      "],\"inactive\":[", absl::StrJoin(inactive, ","), "]}\n");
}

absl::StatusOr<std::string> LocalServices::InstanceJson(
    const std::string& service, const std::string& id) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, service));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, id));
  std::shared_ptr<Entry> entry;
  std::string json;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = entries_.find(Key(service, id));
    if (it == entries_.end()) {
      return absl::NotFoundError(absl::StrCat(
          "instance ", Key(service, id), " is not registered on this agent"));
    }
    entry = it->second;
    json = EntryJson(*entry);
  }
  std::vector<std::string> acked;
  {
    absl::MutexLock push(&entry->push_mu);
    if (entry->registration != nullptr) {
      for (const std::string& m : entry->registration->state().registered) {
        acked.push_back(JsonQuote(m));
      }
    }
  }
  json.pop_back();
  absl::StrAppend(&json, ",\"registered_with\":[", absl::StrJoin(acked, ","),
                  "]}\n");
  return json;
}

size_t LocalServices::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return entries_.size();
}

void LocalServices::UpdateGauges() {
  instances_gauge_->Set(static_cast<double>(entries_.size()));
}

}  // namespace agent
}  // namespace kess
