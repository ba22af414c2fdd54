#include "agent/dns/service_record.h"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace kess {
namespace agent {
namespace dns {
namespace {

// A hostname a DNS answer may name: dot-separated labels of 1..63 letters,
// digits, '-' or '_', at most 253 characters, not ending in a numeric label
// (that would be a malformed IPv4 address).
bool ValidHostname(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  for (absl::string_view label : labels) {
    if (label.empty() || label.size() > 63) return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
          c != '_') {
        return false;
      }
    }
  }
  for (char c : labels.back()) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

bool Eligible(const RouteInstance& instance,
              const EligibilityOptions& options) {
  if (instance.state != InstanceState::kHealthy) return false;
  if (options.passing_health.empty()) return true;
  return std::find(options.passing_health.begin(),
                   options.passing_health.end(),
                   instance.health) != options.passing_health.end();
}

}  // namespace

bool ParseInstanceAddress(absl::string_view address, DnsInstance* out) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return false;
  uint32_t port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return false;
  }
  absl::string_view host = address.substr(0, colon);
  const bool bracketed =
      host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  const std::string host_string(host);
  out->port = static_cast<uint16_t>(port);
  out->ip.fill(0);
  out->hostname.clear();
  if (!bracketed && inet_pton(AF_INET, host_string.c_str(), out->ip.data()) == 1) {
    out->kind = DnsInstance::Kind::kIpv4;
    return true;
  }
  if (inet_pton(AF_INET6, host_string.c_str(), out->ip.data()) == 1) {
    out->kind = DnsInstance::Kind::kIpv6;
    return true;
  }
  if (bracketed || !ValidHostname(host)) return false;
  out->kind = DnsInstance::Kind::kHostname;
  out->hostname = absl::AsciiStrToLower(host);
  return true;
}

ServiceRecord PrepareServiceRecord(const RouteTable& table,
                                   const EligibilityOptions& options) {
  ServiceRecord record;
  record.service = table.service;
  record.revision = table.revision;
  for (const RouteInstance& instance : table.instances) {
    if (!Eligible(instance, options)) continue;
    DnsInstance dns;
    if (!ParseInstanceAddress(instance.address, &dns)) continue;
    dns.id = instance.id;
    dns.datacenter = instance.datacenter;
    dns.datacenter_key = absl::AsciiStrToLower(instance.datacenter);
    dns.weight = std::clamp(instance.weight, 1, kMaxInstanceWeight);
    dns.critical = instance.check_status == "critical";
    record.instances.push_back(std::move(dns));
  }
  std::sort(record.instances.begin(), record.instances.end(),
            [](const DnsInstance& a, const DnsInstance& b) {
              if (a.weight != b.weight) return a.weight > b.weight;
              return a.id < b.id;
            });
  return record;
}

ServiceRecord AbsentServiceRecord(absl::string_view service,
                                  int64_t revision) {
  ServiceRecord record;
  record.service = std::string(service);
  record.revision = revision;
  record.absent = true;
  return record;
}

std::string CatalogKey(absl::string_view service) {
  return absl::AsciiStrToLower(service);
}

const ServiceRecord* Catalog::Find(absl::string_view key) const {
  auto it = records_.find(key);
  return it == records_.end() ? nullptr : it->second.get();
}

bool Catalog::Update(std::shared_ptr<const ServiceRecord> record) {
  std::shared_ptr<const ServiceRecord>& slot =
      records_[CatalogKey(record->service)];
  const bool take = slot == nullptr || record->revision > slot->revision ||
                    (slot->absent && slot->revision == 0 && !record->absent);
  if (take) {
    if (slot != nullptr) CountDatacenters(*slot, -1);
    CountDatacenters(*record, +1);
    slot = std::move(record);
  }
  return take;
}

bool Catalog::Remove(absl::string_view key) {
  auto it = records_.find(key);
  if (it == records_.end()) return false;
  CountDatacenters(*it->second, -1);
  records_.erase(it);
  return true;
}

void Catalog::CountDatacenters(const ServiceRecord& record, int delta) {
  absl::flat_hash_set<absl::string_view> seen;
  for (const DnsInstance& i : record.instances) {
    if (!seen.insert(i.datacenter_key).second) continue;
    auto it = datacenters_.try_emplace(i.datacenter_key, 0).first;
    it->second += delta;
    if (it->second <= 0) datacenters_.erase(it);
  }
}

}  // namespace dns
}  // namespace agent
}  // namespace kess
