// ServiceRecord: one service's route table prepared for DNS answers, and
// Catalog, the services the DNS server knows, keyed by lower-case name.
//
// Only the instances a DNS client may be sent to are kept: state
// `healthy` (so neither `suspect` — which includes instances whose host
// checks say `critical` — nor `disabled`), a `health` word in the passing
// list (default: "up", so `warming_up` and `draining` instances get no new
// DNS clients) and an address that parses as `ip:port`, `[ipv6]:port` or
// `hostname:port` with a valid DNS hostname. They are sorted by weight,
// heaviest first, then by id. An instance whose check_status is "critical"
// (kept `healthy` by the protection threshold) is kept but marked
// (DnsInstance::critical).
//
// Thread-safety: value types; a Catalog is not thread-safe (the DNS
// server's thread owns its catalog).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "model/route_table.h"

namespace kess {
namespace agent {
namespace dns {

struct DnsInstance {
  enum class Kind { kIpv4, kIpv6, kHostname };
  Kind kind = Kind::kIpv4;
  std::string id;
  std::string datacenter;
  std::string datacenter_key;  // lower case, for DNS's case-insensitive match
  int32_t weight = 1;  // 1..kMaxInstanceWeight
  uint16_t port = 0;   // 1..65535
  // Network byte order; kIpv4 uses the first 4 bytes.
  std::array<uint8_t, 16> ip{};
  // kHostname: the host part of the address, lower case, no trailing dot.
  std::string hostname;
  // The instance's check_status is "critical": it is healthy only because
  // the protection threshold held it back. Answered only when no other
  // instance can be (responder.h).
  bool critical = false;
};

struct ServiceRecord {
  std::string service;  // as in the route table
  int64_t revision = 0;
  // The service does not exist: deleted (a tombstone at `revision`) or
  // never created (revision 0). Queries get NXDOMAIN.
  bool absent = false;
  std::vector<DnsInstance> instances;  // eligible ones, heaviest first
};

// The passing `health` words; an empty list passes every word.
struct EligibilityOptions {
  std::vector<std::string> passing_health = {"up"};
};

ServiceRecord PrepareServiceRecord(const RouteTable& table,
                                   const EligibilityOptions& options);
ServiceRecord AbsentServiceRecord(absl::string_view service, int64_t revision);

// Parses "ip:port", "[ipv6]:port" or "hostname:port" into `out`'s kind,
// ip/hostname and port; false if it is none of them.
bool ParseInstanceAddress(absl::string_view address, DnsInstance* out);

// The catalog key of a service name: ASCII lower case (DNS names are
// case-insensitive).
std::string CatalogKey(absl::string_view service);

class Catalog {
 public:
  // nullptr when the service is unknown (neither a table nor known absent).
  const ServiceRecord* Find(absl::string_view key) const;

  // Keeps `record` unless the held one has a newer revision (an absent
  // record of revision 0, "never existed", is replaced by any table).
  // Returns true if it was taken.
  bool Update(std::shared_ptr<const ServiceRecord> record);

  // Forgets `key`'s record (the service is no longer subscribed): the next
  // query for it asks for its table again. Returns true if one was held.
  bool Remove(absl::string_view key);

  // True if some held record has an instance in datacenter `key` (lower
  // case).
  bool HasDatacenter(absl::string_view key) const {
    return datacenters_.contains(key);
  }

  size_t size() const { return records_.size(); }

 private:
  // Adds `delta` to the count of each datacenter of `record`.
  void CountDatacenters(const ServiceRecord& record, int delta);

  absl::flat_hash_map<std::string, std::shared_ptr<const ServiceRecord>>
      records_;
  // Lower-case datacenter -> records holding an instance of it.
  absl::flat_hash_map<std::string, int> datacenters_;
};

}  // namespace dns
}  // namespace agent
}  // namespace kess
