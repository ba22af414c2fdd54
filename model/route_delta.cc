#include "model/route_delta.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "common/value_encoding.h"
#include "model/names.h"
#include "model/route_table_json.h"

namespace kess {
namespace {

bool ById(const RouteInstance& a, const RouteInstance& b) {
  return a.id < b.id;
}

std::vector<const RouteInstance*> SortedView(const RouteTable& table) {
  std::vector<const RouteInstance*> sorted;
  sorted.reserve(table.instances.size());
  for (const RouteInstance& in : table.instances) sorted.push_back(&in);
  std::sort(sorted.begin(), sorted.end(),
            [](const RouteInstance* a, const RouteInstance* b) {
              return a->id < b->id;
            });
  return sorted;
}

// One entry of a delta, for merging in id order.
enum class Op { kAdd, kChange, kRemove };
struct Entry {
  const std::string* id;
  Op op;
  const RouteInstance* instance;  // nullptr for kRemove
};

std::vector<Entry> EntriesOf(const RouteDelta& delta) {
  std::vector<Entry> entries;
  entries.reserve(delta.entries());
  for (const RouteInstance& in : delta.added) {
    entries.push_back({&in.id, Op::kAdd, &in});
  }
  for (const RouteInstance& in : delta.changed) {
    entries.push_back({&in.id, Op::kChange, &in});
  }
  for (const std::string& id : delta.removed) {
    entries.push_back({&id, Op::kRemove, nullptr});
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return *a.id < *b.id; });
  return entries;
}

absl::Status NotForBase(const RouteDelta& delta, absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("route delta of ", delta.service, " ", delta.base_revision,
                   " -> ", delta.revision, " does not fit its base: ", why));
}

// Scans a JSON string starting at json[*pos] == '"'; moves *pos past it.
// Sets *escaped when it holds a backslash.
bool ScanString(absl::string_view json, size_t* pos, bool* escaped) {
  if (*pos >= json.size() || json[*pos] != '"') return false;
  for (size_t i = *pos + 1; i < json.size(); ++i) {
    if (json[i] == '\\') {
      *escaped = true;
      ++i;
      continue;
    }
    if (json[i] == '"') {
      *pos = i + 1;
      return true;
    }
  }
  return false;
}

bool Consume(absl::string_view json, size_t* pos, absl::string_view what) {
  if (json.substr(*pos, what.size()) != what) return false;
  *pos += what.size();
  return true;
}

// The canonical table text (RouteTableToJson) taken apart: the quoted
// service, the revision and each instance's id and text. False when the
// text is not in exactly that form (then the caller parses it).
struct CanonicalTable {
  absl::string_view service_quoted;
  int64_t revision = 0;
  std::vector<std::pair<absl::string_view, absl::string_view>> instances;
};

bool SplitCanonical(absl::string_view json, CanonicalTable* out) {
  size_t pos = 0;
  if (!Consume(json, &pos, "{\"format\":1,\"service\":")) return false;
  const size_t service_start = pos;
  bool escaped = false;
  if (!ScanString(json, &pos, &escaped)) return false;
  out->service_quoted = json.substr(service_start, pos - service_start);
  if (!Consume(json, &pos, ",\"revision\":")) return false;
  const size_t revision_start = pos;
  while (pos < json.size() &&
         ((json[pos] >= '0' && json[pos] <= '9') || json[pos] == '-')) {
    ++pos;
  }
  if (!absl::SimpleAtoi(json.substr(revision_start, pos - revision_start),
                        &out->revision)) {
    return false;
  }
  if (!Consume(json, &pos, ",\"instances\":[")) return false;
  absl::string_view previous_id;
  bool first = true;
  while (pos < json.size() && json[pos] != ']') {
    if (!first && !Consume(json, &pos, ",")) return false;
    first = false;
    const size_t start = pos;
    if (!Consume(json, &pos, "{\"id\":")) return false;
    const size_t id_start = pos;
    escaped = false;
    if (!ScanString(json, &pos, &escaped) || escaped) return false;
    absl::string_view id = json.substr(id_start + 1, pos - id_start - 2);
    if (!out->instances.empty() && !(previous_id < id)) return false;
    // The rest of the object: strings skipped, braces counted.
    int depth = 1;
    while (pos < json.size() && depth > 0) {
      const char c = json[pos];
      if (c == '"') {
        if (!ScanString(json, &pos, &escaped)) return false;
        continue;
      }
      if (c == '{') ++depth;
      if (c == '}') --depth;
      ++pos;
    }
    if (depth != 0) return false;
    out->instances.emplace_back(id, json.substr(start, pos - start));
    previous_id = id;
  }
  return Consume(json, &pos, "]}") && pos == json.size();
}

template <typename T>
absl::Status Field(const Poco::JSON::Object::Ptr& o, const std::string& name,
                   bool required, T* out) {
  if (!o->has(name) || o->isNull(name)) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("route delta: field \"", name, "\" is missing"));
  }
  try {
    *out = o->getValue<T>(name);
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("route delta: field \"", name,
                     "\" has the wrong type: ", e.displayText()));
  }
  return absl::OkStatus();
}

absl::Status InstancesFromJson(const Poco::JSON::Object::Ptr& o,
                               const std::string& name,
                               std::vector<RouteInstance>* out) {
  if (!o->has(name) || o->isNull(name)) return absl::OkStatus();
  Poco::JSON::Array::Ptr list = o->getArray(name);
  if (list.isNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat("route delta: field \"", name, "\" must be an array"));
  }
  if (list->size() > kMaxRouteDeltaEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "route delta: more than ", kMaxRouteDeltaEntries, " entries"));
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string at = absl::StrCat("route delta: ", name, "[", i, "]");
    Poco::JSON::Object::Ptr item = list->getObject(static_cast<unsigned>(i));
    if (item.isNull()) {
      return absl::InvalidArgumentError(absl::StrCat(at, " is not an object"));
    }
    KESS_ASSIGN_OR_RETURN(RouteInstance in,
                          route_json::InstanceFromJson(item, at));
    out->push_back(std::move(in));
  }
  return absl::OkStatus();
}

}  // namespace

bool RouteDelta::operator==(const RouteDelta& o) const {
  return std::tie(service, base_revision, revision, added, changed, removed) ==
         std::tie(o.service, o.base_revision, o.revision, o.added, o.changed,
                  o.removed);
}

RouteDelta ComputeRouteDelta(const RouteTable& from, const RouteTable& to) {
  RouteDelta delta;
  delta.service = to.service;
  delta.base_revision = from.revision;
  delta.revision = to.revision;
  const std::vector<const RouteInstance*> a = SortedView(from);
  const std::vector<const RouteInstance*> b = SortedView(to);
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i]->id < b[j]->id)) {
      delta.removed.push_back(a[i++]->id);
    } else if (i == a.size() || b[j]->id < a[i]->id) {
      delta.added.push_back(*b[j++]);
    } else {
      if (!(*a[i] == *b[j])) delta.changed.push_back(*b[j]);
      ++i;
      ++j;
    }
  }
  return delta;
}

absl::Status ValidateRouteDelta(const RouteDelta& delta) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, delta.service));
  if (delta.base_revision < 0 || delta.revision <= delta.base_revision) {
    return absl::InvalidArgumentError(
        absl::StrCat("route delta: revision ", delta.revision,
                     " does not follow base_revision ", delta.base_revision));
  }
  if (delta.entries() > kMaxRouteDeltaEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "route delta: more than ", kMaxRouteDeltaEntries, " entries"));
  }
  auto sorted_unique = [](const auto& list, auto id_of) {
    for (size_t i = 1; i < list.size(); ++i) {
      if (!(id_of(list[i - 1]) < id_of(list[i]))) return false;
    }
    return true;
  };
  auto instance_id = [](const RouteInstance& in) -> const std::string& {
    return in.id;
  };
  auto plain_id = [](const std::string& id) -> const std::string& {
    return id;
  };
  if (!sorted_unique(delta.added, instance_id) ||
      !sorted_unique(delta.changed, instance_id) ||
      !sorted_unique(delta.removed, plain_id)) {
    return absl::InvalidArgumentError(
        "route delta: a list is not sorted by id or names an id twice");
  }
  for (const auto* list : {&delta.added, &delta.changed}) {
    for (const RouteInstance& in : *list) {
      KESS_RETURN_IF_ERROR(ValidateRouteInstance(in));
    }
  }
  for (const std::string& id : delta.removed) {
    KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, id));
  }
  const std::vector<Entry> entries = EntriesOf(delta);
  for (size_t i = 1; i < entries.size(); ++i) {
    if (*entries[i - 1].id == *entries[i].id) {
      return absl::InvalidArgumentError(absl::StrCat(
          "route delta: instance \"", *entries[i].id, "\" is listed twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RouteTable> ApplyRouteDelta(const RouteTable& base,
                                           const RouteDelta& delta) {
  KESS_RETURN_IF_ERROR(ValidateRouteDelta(delta));
  if (base.service != delta.service) {
    return NotForBase(delta, absl::StrCat("the table is of ", base.service));
  }
  if (base.revision != delta.base_revision) {
    return NotForBase(delta,
                      absl::StrCat("the table is at revision ", base.revision));
  }
  const std::vector<const RouteInstance*> held = SortedView(base);
  const std::vector<Entry> entries = EntriesOf(delta);
  RouteTable out;
  out.service = base.service;
  out.revision = delta.revision;
  out.instances.reserve(held.size() + delta.added.size());
  size_t i = 0, j = 0;
  while (i < held.size() || j < entries.size()) {
    if (j == entries.size() ||
        (i < held.size() && held[i]->id < *entries[j].id)) {
      out.instances.push_back(*held[i++]);
      continue;
    }
    const Entry& e = entries[j++];
    const bool present = i < held.size() && held[i]->id == *e.id;
    switch (e.op) {
      case Op::kAdd:
        if (present) {
          return NotForBase(delta, absl::StrCat("added instance \"", *e.id,
                                                "\" is already there"));
        }
        out.instances.push_back(*e.instance);
        break;
      case Op::kChange:
      case Op::kRemove:
        if (!present) {
          return NotForBase(
              delta, absl::StrCat(e.op == Op::kChange ? "changed" : "removed",
                                  " instance \"", *e.id, "\" is not there"));
        }
        ++i;
        if (e.op == Op::kChange) out.instances.push_back(*e.instance);
        break;
    }
  }
  return out;
}

absl::StatusOr<std::string> ApplyRouteDeltaToJson(absl::string_view base_json,
                                                  const RouteDelta& delta,
                                                  uint32_t expected_crc32) {
  KESS_RETURN_IF_ERROR(ValidateRouteDelta(delta));
  std::string out;
  CanonicalTable base;
  if (SplitCanonical(base_json, &base)) {
    if (base.service_quoted != JsonQuote(delta.service)) {
      return NotForBase(delta, "the table is of another service");
    }
    if (base.revision != delta.base_revision) {
      return NotForBase(
          delta, absl::StrCat("the table is at revision ", base.revision));
    }
    const std::vector<Entry> entries = EntriesOf(delta);
    out.reserve(base_json.size() + 512 * entries.size());
    absl::StrAppend(&out, "{\"format\":", kRouteTableFormat,
                    ",\"service\":", base.service_quoted,
                    ",\"revision\":", delta.revision, ",\"instances\":[");
    bool first = true;
    auto append = [&](absl::string_view text) {
      if (!first) out.push_back(',');
      first = false;
      out.append(text.data(), text.size());
    };
    size_t i = 0, j = 0;
    const auto& held = base.instances;
    while (i < held.size() || j < entries.size()) {
      if (j == entries.size() ||
          (i < held.size() && held[i].first < *entries[j].id)) {
        append(held[i++].second);
        continue;
      }
      const Entry& e = entries[j++];
      const bool present = i < held.size() && held[i].first == *e.id;
      if (e.op == Op::kAdd) {
        if (present) {
          return NotForBase(delta, absl::StrCat("added instance \"", *e.id,
                                                "\" is already there"));
        }
        append(route_json::InstanceToJson(*e.instance));
        continue;
      }
      if (!present) {
        return NotForBase(
            delta, absl::StrCat(e.op == Op::kChange ? "changed" : "removed",
                                " instance \"", *e.id, "\" is not there"));
      }
      ++i;
      if (e.op == Op::kChange) append(route_json::InstanceToJson(*e.instance));
    }
    out.append("]}");
  } else {
    KESS_ASSIGN_OR_RETURN(RouteTable table, RouteTableFromJson(base_json));
    KESS_ASSIGN_OR_RETURN(RouteTable applied, ApplyRouteDelta(table, delta));
    out = RouteTableToJson(applied);
  }
  const uint32_t crc = Crc32(out);
  if (crc != expected_crc32) {
    return absl::DataLossError(
        absl::StrCat("route delta of ", delta.service, " ", delta.base_revision,
                     " -> ", delta.revision, ": the result has CRC-32 ", crc,
                     ", expected ", expected_crc32));
  }
  return out;
}

absl::StatusOr<RouteDelta> ComposeRouteDeltas(const RouteDelta& first,
                                              const RouteDelta& second) {
  KESS_RETURN_IF_ERROR(ValidateRouteDelta(first));
  KESS_RETURN_IF_ERROR(ValidateRouteDelta(second));
  if (first.service != second.service ||
      second.base_revision != first.revision) {
    return absl::FailedPreconditionError(absl::StrCat(
        "route deltas ", first.base_revision, " -> ", first.revision, " and ",
        second.base_revision, " -> ", second.revision, " do not follow"));
  }
  // What each id becomes against first's base.
  struct State {
    Op op;
    const RouteInstance* instance;
  };
  std::map<std::string, State> state;
  for (const Entry& e : EntriesOf(first)) state[*e.id] = {e.op, e.instance};
  auto conflict = [&](const std::string& id) {
    return absl::FailedPreconditionError(
        absl::StrCat("route delta ", second.base_revision, " -> ",
                     second.revision, " cannot follow ", first.base_revision,
                     " -> ", first.revision, " for instance \"", id, "\""));
  };
  for (const Entry& e : EntriesOf(second)) {
    auto it = state.find(*e.id);
    if (it == state.end()) {
      state[*e.id] = {e.op, e.instance};
      continue;
    }
    State& s = it->second;
    switch (e.op) {
      case Op::kAdd:  // only after a removal: it was in the base
        if (s.op != Op::kRemove) return conflict(*e.id);
        s = {Op::kChange, e.instance};
        break;
      case Op::kChange:
        if (s.op == Op::kRemove) return conflict(*e.id);
        s.instance = e.instance;  // an add stays an add
        break;
      case Op::kRemove:
        if (s.op == Op::kRemove) return conflict(*e.id);
        if (s.op == Op::kAdd) {
          state.erase(it);
        } else {
          s = {Op::kRemove, nullptr};
        }
        break;
    }
  }
  RouteDelta out;
  out.service = first.service;
  out.base_revision = first.base_revision;
  out.revision = second.revision;
  for (const auto& [id, s] : state) {  // std::map: in id order
    switch (s.op) {
      case Op::kAdd:
        out.added.push_back(*s.instance);
        break;
      case Op::kChange:
        out.changed.push_back(*s.instance);
        break;
      case Op::kRemove:
        out.removed.push_back(id);
        break;
    }
  }
  return out;
}

std::string RouteDeltaToJson(const RouteDelta& delta) {
  auto instances = [](std::vector<RouteInstance> list) {
    std::sort(list.begin(), list.end(), ById);
    std::vector<std::string> texts;
    texts.reserve(list.size());
    for (const RouteInstance& in : list) {
      texts.push_back(route_json::InstanceToJson(in));
    }
    return absl::StrJoin(texts, ",");
  };
  std::vector<std::string> removed = delta.removed;
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> quoted;
  quoted.reserve(removed.size());
  for (const std::string& id : removed) quoted.push_back(JsonQuote(id));
  return absl::StrCat("{\"format\":", kRouteDeltaFormat,
                      ",\"service\":", JsonQuote(delta.service),
                      ",\"base_revision\":", delta.base_revision,
                      ",\"revision\":", delta.revision, ",\"added\":[",
                      instances(delta.added), "],\"changed\":[",
                      instances(delta.changed), "],\"removed\":[",
                      absl::StrJoin(quoted, ","), "]}");
}

absl::StatusOr<RouteDelta> RouteDeltaFromJson(absl::string_view json) {
  if (json.size() > kMaxRouteDeltaBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("route delta of ", json.size(),
                     " bytes is above the limit of ", kMaxRouteDeltaBytes));
  }
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o,
                        ParseJsonObject(std::string(json)));
  int format = 0;
  KESS_RETURN_IF_ERROR(Field(o, "format", true, &format));
  if (format != kRouteDeltaFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("route delta: format ", format,
                     " is not supported (expected ", kRouteDeltaFormat, ")"));
  }
  RouteDelta delta;
  KESS_RETURN_IF_ERROR(Field(o, "service", true, &delta.service));
  KESS_RETURN_IF_ERROR(Field(o, "base_revision", true, &delta.base_revision));
  KESS_RETURN_IF_ERROR(Field(o, "revision", true, &delta.revision));
  KESS_RETURN_IF_ERROR(InstancesFromJson(o, "added", &delta.added));
  KESS_RETURN_IF_ERROR(InstancesFromJson(o, "changed", &delta.changed));
  if (o->has("removed") && !o->isNull("removed")) {
    Poco::JSON::Array::Ptr list = o->getArray("removed");
    if (list.isNull() || list->size() > kMaxRouteDeltaEntries) {
      return absl::InvalidArgumentError(
          "route delta: field \"removed\" must be an array of ids");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      Poco::Dynamic::Var v = list->get(static_cast<unsigned>(i));
      if (!v.isString()) {
        return absl::InvalidArgumentError(
            absl::StrCat("route delta: removed[", i, "] is not a string"));
      }
      delta.removed.push_back(v.extract<std::string>());
    }
  }
  KESS_RETURN_IF_ERROR(ValidateRouteDelta(delta));
  return delta;
}

}  // namespace kess
