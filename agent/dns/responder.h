// Responder: one DNS query in, one answer out, from an in-memory Catalog;
// no sockets, no threads, no clock (the server adds those). Packets are
// decoded and encoded with ldns.
//
// Names served, under `domain` (default "kess"); matching is
// case-insensitive and answers echo the question's case:
//
//   <service>.service.<domain>        instances of the local DC if it has
//                                     eligible ones, else of every DC
//   <service>.service.<dc>.<domain>   instances of that DC only
//   <hex>.addr.<domain>               the address spelled in hex (8 digits:
//                                     IPv4, 32: IPv6): SRV targets
//
// Types: A and AAAA (instances whose address is an IP; hostname instances
// are left out), SRV (priority 1, weight scaled to 1..65535 in proportion
// to the instance weights, the port, and as target `<hex>.addr.<domain>`
// for an IP — its A/AAAA goes in the additional section — or the hostname
// itself), ANY (one RRset, RFC 8482: A if there is an IPv4 address, else
// AAAA). Other types of an existing name: NOERROR with no answer (NODATA).
// A and AAAA records come in a weighted random order (the instance a
// client takes first is picked with probability in proportion to its
// weight; `shuffle`), SRV records heaviest first. Instances whose
// check_status is "critical" are answered only when no other instance of
// the name's DC choice is (DnsInstance::critical).
//
// Rcodes: NXDOMAIN for a name under the domain that does not exist (a
// service that does not exist, an invalid service or DC name, an unknown
// form, a single label other than those below); NODATA for the apex, the
// empty non-terminals (`service.<domain>`, `addr.<domain>`, and
// `<dc>.<domain>`, `service.<dc>.<domain>` of the agent's DC or a DC an
// instance held is in) and a service without eligible instances; REFUSED
// for names outside the domain and
// classes other than IN/ANY; NOTIMP for opcodes other than QUERY; FORMERR
// for a packet ldns cannot decode or a question count other than 1;
// BADVERS for EDNS versions above 0. Negative answers carry the zone's SOA
// (minimum = ttl). A packet shorter than a DNS header, or with the QR bit
// set (a response), is dropped.
//
// Size: over UDP the limit is 512 bytes, or the client's EDNS buffer size
// (at least 512, at most `max_udp_payload`, default 1232 as DNS Flag Day
// 2020 advises); an answer over it loses its additional records first,
// and if still too big keeps as many answer records as fit (the first of
// the order above) with TC set, so a client retries over TCP and one that
// does not still gets addresses. Over TCP the limit is 65535 and records
// are dropped from the end until it fits.
//
// Thread-safety: a Responder is not thread-safe (its random state); use
// one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/dns/service_record.h"

struct ldns_struct_rr;

namespace kess {
namespace agent {
namespace dns {

struct ResponderOptions {
  std::string domain = "kess";  // one or more labels, no trailing dot
  std::string datacenter;       // the agent's: answered first
  uint32_t ttl_seconds = 5;     // of every record, and the SOA minimum
  uint16_t max_udp_payload = 1232;  // the EDNS buffer size we accept
  bool shuffle = true;  // A/AAAA in weighted random order (else heaviest first)
  uint64_t seed = 0;    // of the shuffle; 0: from the clock
};

enum class Transport { kUdp, kTcp };

// DNS RCODE values used here (RFC 1035, 6891).
enum Rcode : int {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kBadVers = 16,
};

class Responder {
 public:
  enum class Outcome {
    kReply,        // `reply` holds the answer
    kDrop,         // nothing to answer (no header, or not a query)
    kNeedService,  // the service is not in the catalog: fetch its table,
                   // then ask again (or answer ServFail)
  };
  struct Result {
    Outcome outcome = Outcome::kDrop;
    int rcode = kNoError;  // kReply: the answer's (extended) rcode
    bool truncated = false;
    // The answer holds records in a random order: asking again may give
    // other bytes (a cache must keep several answers).
    bool shuffled = false;
    // kNeedService: the name asked for, lower case; kReply: the service
    // whose record answered (empty for other names and NXDOMAIN).
    std::string service;
  };

  explicit Responder(ResponderOptions options);

  Result Respond(const uint8_t* query, size_t size, Transport transport,
                 const Catalog& catalog, std::string* reply);

  // SERVFAIL for `query` (one that got kNeedService and no table in time).
  // kDrop if the packet cannot be answered at all.
  Result ServFail(const uint8_t* query, size_t size, std::string* reply);

  const ResponderOptions& options() const { return options_; }

 private:
  uint64_t NextRandom();
  ldns_struct_rr* Soa() const;  // the zone's SOA record

  const ResponderOptions options_;
  const std::string domain_text_;             // lower case, no dots around
  const std::string datacenter_;              // lower case
  std::vector<std::string> domain_labels_;
  uint64_t random_state_;
};

}  // namespace dns
}  // namespace agent
}  // namespace kess
