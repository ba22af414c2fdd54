#include "agent/local_services.h"

#include <algorithm>
#include <set>
#include <utility>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
    : options_(std::move(options)) {
  instances_gauge_ = options_.registry->GetGauge(
      "kess_agent_local_instances",
      "Service instances registered through this agent's API.");
  state_changes_ = options_.registry->GetCounter(
      "kess_agent_check_state_changes_total",
      "Health checks that changed state (after flap damping).");
}

absl::Status LocalServices::Start() {
  KESS_ASSIGN_OR_RETURN(loop_, transport::EventLoop::Create("kess-services"));
  CheckRunnerOptions ro;
  ro.registry = options_.registry;
  KESS_ASSIGN_OR_RETURN(
      runner_, CheckRunner::Create(ro, [this](const std::string& id,
                                              CheckStatus result,
                                              std::string output) {
        OnResult(id, result, std::move(output));
      }));
  Load();
  return absl::OkStatus();
}

LocalServices::~LocalServices() {
  runner_.reset();  // no more results
  std::map<std::string, std::shared_ptr<Entry>> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.swap(entries_);
  }
  for (auto& [key, entry] : entries) {
    absl::MutexLock push(&entry->push_mu);
    entry->registration.reset();  // deregister_on_destroy = false
  }
  loop_.reset();
}

void LocalServices::Load() {
  absl::StatusOr<std::string> text = options_.env->ReadFile(options_.state_path);
  if (absl::IsNotFound(text.status())) return;
  auto corrupt = [this](const std::string& why) {
    const std::string aside = options_.state_path + ".corrupt";
    absl::Status moved = options_.env->Rename(options_.state_path, aside);
    LOG(ERROR) << "local registrations: " << options_.state_path
               << " is unusable (" << why
               << "); starting without local registrations; the file "
               << (moved.ok() ? "is kept as " + aside
                              : "could not be moved aside: " +
                                    std::string(moved.message()));
  };
  if (!text.ok()) {
    corrupt(std::string(text.status().message()));
    return;
  }
  absl::StatusOr<Poco::JSON::Object::Ptr> doc = ParseJsonObject(*text);
  if (!doc.ok()) {
    corrupt(std::string(doc.status().message()));
    return;
  }
  Poco::JSON::Array::Ptr list;
  int format = 0;
  try {
    format = (*doc)->has("format") ? (*doc)->getValue<int>("format") : 0;
    list = (*doc)->getArray("instances");
  } catch (const Poco::Exception& e) {
    corrupt(e.displayText());
    return;
  }
  if (format != kStateFormat || list.isNull()) {
    corrupt(absl::StrCat("format ", format, " or no \"instances\" array"));
    return;
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
      std::string service, id;
      if (!item.isNull() && item->has("service") && item->has("id") &&
          item->get("service").isString() && item->get("id").isString()) {
        service = item->getValue<std::string>("service");
        id = item->getValue<std::string>("id");
      }
      absl::StatusOr<LocalInstanceSpec> spec =
          item.isNull() ? absl::InvalidArgumentError("not an object")
                        : ParseLocalInstance(service, id, item, options_);
      bool clash = false;
      if (spec.ok()) {
        clash = entries_.count(Key(service, id)) > 0;
        for (const CheckSpec& c : spec->checks) {
          clash = clash || check_owner_.count(c.id) > 0;
        }
      }
      if (!spec.ok() || clash) {
        LOG(ERROR) << "local registrations: " << options_.state_path
                   << ": instances[" << i << "] (" << service << "/" << id
                   << ") skipped: "
                   << (spec.ok() ? "duplicate instance or check id"
                                 : std::string(spec.status().message()));
        continue;
      }
      auto entry = std::make_shared<Entry>();
      entry->spec = *std::move(spec);
      for (const CheckSpec& c : entry->spec.checks) {
        entry->checks.emplace(
            c.id, CheckState(c.initial, c.success_before_passing,
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
}

std::string LocalServices::StateJson(
    const std::map<std::string, std::shared_ptr<Entry>>& entries) const {
  std::vector<std::string> items;
  for (const auto& [key, entry] : entries) {
    items.push_back(LocalInstanceToJson(entry->spec));
  }
  return absl::StrCat("{\"format\":", kStateFormat, ",\"instances\":[",
                      absl::StrJoin(items, ",\n"), "]}\n");
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
  o.loop = loop_.get();
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

absl::Status LocalServices::Put(const std::string& service,
                                const std::string& id,
                                const std::string& body) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr json, ParseJsonObject(body));
  KESS_ASSIGN_OR_RETURN(LocalInstanceSpec spec,
                        ParseLocalInstance(service, id, json, options_));
  if (options_.mandators.empty()) {
    return absl::FailedPreconditionError(
        "this agent has no --mandators: it cannot register instances");
  }
  absl::MutexLock api(&api_mu_);
  const std::string key = Key(service, id);
  std::shared_ptr<Entry> old;
  std::vector<CheckSpec> changed_checks;
  std::vector<std::string> removed_checks;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      old = it->second;
      if (old->spec.owner != spec.owner) {
        return absl::FailedPreconditionError(absl::StrCat(
            "instance ", key, " is registered by owner \"", old->spec.owner,
            "\"; register it with that owner, or DELETE it with ?owner=",
            old->spec.owner, " first"));
      }
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
    // Persist first: on a write error nothing changes.
    std::map<std::string, std::shared_ptr<Entry>> next = entries_;
    auto entry = std::make_shared<Entry>();
    entry->spec = spec;
    next[key] = entry;
    KESS_RETURN_IF_ERROR(file_cache::WriteFileAtomically(
        options_.env, options_.state_path, StateJson(next)));

    // Check states: kept for checks whose definition is unchanged.
    std::map<std::string, std::string> old_check_json;
    if (old != nullptr) {
      for (const CheckSpec& c : old->spec.checks) {
        old_check_json[c.id] = CheckSpecToJson(c);
        check_owner_.erase(c.id);
      }
    }
    for (const CheckSpec& c : spec.checks) {
      check_owner_[c.id] = key;
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
    entries_[key] = entry;
    UpdateGauges();
    if (old == nullptr) {
      // Activate below (outside mu_).
    }
  }
  std::shared_ptr<Entry> entry;
  {
    absl::ReaderMutexLock lock(&mu_);
    entry = entries_.at(key);
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
                                   const std::string& owner) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, service));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, id));
  absl::MutexLock api(&api_mu_);
  const std::string key = Key(service, id);
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      return absl::NotFoundError(
          absl::StrCat("instance ", key, " is not registered on this agent"));
    }
    if (it->second->spec.owner != owner) {
      return absl::FailedPreconditionError(absl::StrCat(
          "instance ", key, " is registered by owner \"",
          it->second->spec.owner, "\"; DELETE it with ?owner=",
          it->second->spec.owner));
    }
    std::map<std::string, std::shared_ptr<Entry>> next = entries_;
    next.erase(key);
    KESS_RETURN_IF_ERROR(file_cache::WriteFileAtomically(
        options_.env, options_.state_path, StateJson(next)));
    entry = it->second;
    for (const CheckSpec& c : entry->spec.checks) check_owner_.erase(c.id);
    entries_.erase(it);
    UpdateGauges();
  }
  for (const CheckSpec& c : entry->spec.checks) runner_->Remove(c.id);
  absl::MutexLock push(&entry->push_mu);
  if (entry->registration != nullptr) {
    absl::Status s = entry->registration->Deregister();
    LOG_IF(WARNING, !s.ok()) << "local deregistration of " << key << ": " << s;
    entry->registration.reset();
  }
  return absl::OkStatus();
}

absl::Status LocalServices::UpdateTtl(const std::string& check_id,
                                      CheckStatus status,
                                      const std::string& output) {
  std::shared_ptr<Entry> entry;
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    auto owner = check_owner_.find(check_id);
    if (owner == check_owner_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no check \"", check_id.substr(0, 128),
                       "\" on this agent"));
    }
    entry = entries_.at(owner->second);
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
  if (changed) Push(entry);
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
  Push(entry);
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
      ",\"owner\":", JsonQuote(entry.spec.owner),
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
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [key, entry] : entries_) {
      items.push_back(EntryJson(*entry));
      entries.push_back(entry);
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
  return absl::StrCat("{\"instances\":[", absl::StrJoin(items, ","), "]}\n");
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
