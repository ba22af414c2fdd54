#include "agent/dns/responder.h"

#include "third_party/ldns_cxx.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "model/names.h"

namespace kess {
namespace agent {
namespace dns {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

constexpr size_t kMinUdpPayload = 512;
constexpr size_t kMaxTcpMessage = 65535;
constexpr uint32_t kSoaRefresh = 3600;
constexpr uint32_t kSoaRetry = 600;
constexpr uint32_t kSoaExpire = 86400;

// The question's name, lower case, one string per label (root excluded).
std::vector<std::string> LowerLabels(const ldns_rdf* name) {
  std::vector<std::string> labels;
  const uint8_t count = ldns_dname_label_count(name);
  labels.reserve(count);
  for (uint8_t i = 0; i < count; ++i) {
    ldns_rdf* label = ldns_dname_label(name, i);
    if (label == nullptr) break;
    // A label rdf is a one-label name: its length octet, then the label.
    const uint8_t* data = ldns_rdf_data(label);
    const size_t size = std::min<size_t>(data[0], ldns_rdf_size(label) - 1);
    labels.push_back(absl::AsciiStrToLower(
        absl::string_view(reinterpret_cast<const char*>(data + 1), size)));
    ldns_rdf_deep_free(label);
  }
  return labels;
}

ldns_rdf* Name(const std::string& text) {
  return ldns_dname_new_frm_str(text.c_str());
}

ldns_rr* NewRr(ldns_rr_type type, ldns_rdf* owner, uint32_t ttl) {
  ldns_rr* rr = ldns_rr_new();
  ldns_rr_set_owner(rr, owner);
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr, ttl);
  return rr;
}

ldns_rr* AddressRr(const DnsInstance& instance, const ldns_rdf* owner,
                   uint32_t ttl) {
  const bool v4 = instance.kind == DnsInstance::Kind::kIpv4;
  ldns_rr* rr = NewRr(v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA,
                      ldns_rdf_clone(owner), ttl);
  ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(
                           v4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
                           v4 ? 4 : 16, instance.ip.data()));
  return rr;
}

// "7f000001" for 127.0.0.1, 32 digits for an IPv6 address.
std::string HexAddress(const DnsInstance& instance) {
  const size_t n = instance.kind == DnsInstance::Kind::kIpv4 ? 4 : 16;
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(instance.ip.data()), n));
}

bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

// What the labels below the domain ask for.
struct Parsed {
  enum class Kind {
    kApex,
    kEmptyNonTerminal,
    kService,  // `service`, in `datacenter` if set
    kAddr,     // `addr` holds the address
    kNxDomain,
  };
  Kind kind = Kind::kNxDomain;
  std::string service;
  std::string datacenter;
  DnsInstance addr;
};

// `known_dc` says whether a (lower-case) label names a datacenter that
// exists: the agent's own or one of an instance held.
Parsed ParseName(const std::vector<std::string>& rest,
                 const std::function<bool(const std::string&)>& known_dc) {
  Parsed p;
  const size_t n = rest.size();
  if (n == 0) {
    p.kind = Parsed::Kind::kApex;
    return p;
  }
  if (n == 1 || (n == 2 && rest[0] == "service")) {
    // `service`, `addr`, `<dc>`, `service.<dc>`: names above real ones.
    // Any other single label does not exist (NXDOMAIN, not NODATA).
    const bool exists = n == 1 ? rest[0] == "service" || rest[0] == "addr" ||
                                     known_dc(rest[0])
                               : known_dc(rest[1]);
    p.kind = exists ? Parsed::Kind::kEmptyNonTerminal
                    : Parsed::Kind::kNxDomain;
    return p;
  }
  if (rest[n - 1] == "service") {
    p.kind = Parsed::Kind::kService;
    p.service = absl::StrJoin(rest.begin(), rest.end() - 1, ".");
  } else if (rest[n - 2] == "service") {
    p.kind = Parsed::Kind::kService;
    p.service = absl::StrJoin(rest.begin(), rest.end() - 2, ".");
    p.datacenter = rest[n - 1];
    if (!ValidateName(NameKind::kDatacenter, p.datacenter).ok()) {
      p.kind = Parsed::Kind::kNxDomain;
    }
  } else if (n == 2 && rest[1] == "addr" && IsHex(rest[0]) &&
             (rest[0].size() == 8 || rest[0].size() == 32)) {
    p.kind = Parsed::Kind::kAddr;
    const std::string bytes = absl::HexStringToBytes(rest[0]);
    p.addr.kind = bytes.size() == 4 ? DnsInstance::Kind::kIpv4
                                    : DnsInstance::Kind::kIpv6;
    std::copy(bytes.begin(), bytes.end(), p.addr.ip.begin());
    return p;
  }
  if (p.kind == Parsed::Kind::kService &&
      !ValidateName(NameKind::kService, p.service).ok()) {
    p.kind = Parsed::Kind::kNxDomain;
  }
  return p;
}

using AddressKey = std::pair<DnsInstance::Kind, std::array<uint8_t, 16>>;

// SRV weight: in proportion to the instance weight, the heaviest 65535,
// never 0 (RFC 2782 gives weight 0 almost no traffic).
uint16_t SrvWeight(int32_t weight, int32_t max_weight) {
  const int64_t scaled =
      (static_cast<int64_t>(weight) * 65535 + max_weight / 2) / max_weight;
  return static_cast<uint16_t>(std::clamp<int64_t>(scaled, 1, 65535));
}

// Encodes `pkt` into `out`; false if ldns cannot.
bool Encode(const ldns_pkt* pkt, std::string* out) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK) {
    free(wire);
    return false;
  }
  out->assign(reinterpret_cast<const char*>(wire), size);
  free(wire);
  return true;
}

// Removes every record of `section` after the first `keep`.
void KeepRecords(ldns_pkt* pkt, ldns_pkt_section section, size_t keep) {
  ldns_rr_list* live = section == LDNS_SECTION_ANSWER ? ldns_pkt_answer(pkt)
                       : section == LDNS_SECTION_AUTHORITY
                           ? ldns_pkt_authority(pkt)
                           : ldns_pkt_additional(pkt);
  while (ldns_rr_list_rr_count(live) > keep) {
    ldns_rr_free(ldns_rr_list_pop_rr(live));
  }
  ldns_pkt_set_section_count(pkt, section,
                             static_cast<uint16_t>(ldns_rr_list_rr_count(live)));
}

}  // namespace

Responder::Responder(ResponderOptions options)
    : options_(std::move(options)),
      domain_text_(absl::AsciiStrToLower(
          absl::StripSuffix(absl::StripPrefix(options_.domain, "."), "."))),
      datacenter_(absl::AsciiStrToLower(options_.datacenter)),
      random_state_(options_.seed != 0
                        ? options_.seed
                        : static_cast<uint64_t>(std::chrono::steady_clock::now()
                                                    .time_since_epoch()
                                                    .count())) {
  for (absl::string_view label :
       absl::StrSplit(domain_text_, '.', absl::SkipEmpty())) {
    domain_labels_.push_back(std::string(label));
  }
}

ldns_rr* Responder::Soa() const {
  ldns_rr* rr =
      NewRr(LDNS_RR_TYPE_SOA, Name(domain_text_ + "."), options_.ttl_seconds);
  ldns_rr_push_rdf(rr, Name("ns." + domain_text_ + "."));
  ldns_rr_push_rdf(rr, Name("hostmaster." + domain_text_ + "."));
  ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, 1));
  for (uint32_t period :
       {kSoaRefresh, kSoaRetry, kSoaExpire, options_.ttl_seconds}) {
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, period));
  }
  return rr;
}

uint64_t Responder::NextRandom() {
  // splitmix64
  uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Responder::Result Responder::ServFail(const uint8_t* query, size_t size,
                                      std::string* reply) {
  Result result;
  if (size < LDNS_HEADER_SIZE || LDNS_QR_WIRE(query)) return result;
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, query, size) != LDNS_STATUS_OK) {
    if (raw != nullptr) ldns_pkt_free(raw);
    return result;
  }
  PktPtr in(raw);
  PktPtr out(ldns_pkt_new());
  ldns_pkt_set_id(out.get(), ldns_pkt_id(in.get()));
  ldns_pkt_set_qr(out.get(), true);
  ldns_pkt_set_opcode(out.get(), ldns_pkt_get_opcode(in.get()));
  ldns_pkt_set_rd(out.get(), ldns_pkt_rd(in.get()));
  ldns_pkt_set_cd(out.get(), ldns_pkt_cd(in.get()));
  ldns_pkt_set_rcode(out.get(), kServFail);
  ldns_rr_list* question = ldns_pkt_question(in.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(question); ++i) {
    ldns_pkt_push_rr(out.get(), LDNS_SECTION_QUESTION,
                     ldns_rr_clone(ldns_rr_list_rr(question, i)));
  }
  if (ldns_pkt_edns(in.get())) {
    ldns_pkt_set_edns_udp_size(out.get(), options_.max_udp_payload);
  }
  if (!Encode(out.get(), reply)) return result;
  result.outcome = Outcome::kReply;
  result.rcode = kServFail;
  return result;
}

Responder::Result Responder::Respond(const uint8_t* query, size_t size,
                                     Transport transport,
                                     const Catalog& catalog,
                                     std::string* reply) {
  Result result;
  // No header: nothing to address an answer to. QR set: a response, never
  // answered (that could loop between two servers).
  if (size < LDNS_HEADER_SIZE || LDNS_QR_WIRE(query)) return result;

  PktPtr out(ldns_pkt_new());
  ldns_pkt_set_qr(out.get(), true);
  auto finish = [&](int rcode) -> Result {
    if (rcode >= 16) {
      ldns_pkt_set_edns_extended_rcode(out.get(),
                                       static_cast<uint8_t>(rcode >> 4));
      ldns_pkt_set_rcode(out.get(), static_cast<uint8_t>(rcode & 0xf));
    } else {
      ldns_pkt_set_rcode(out.get(), static_cast<uint8_t>(rcode));
    }
    if (!Encode(out.get(), reply)) return Result{};
    result.outcome = Outcome::kReply;
    result.rcode = rcode;
    return result;
  };

  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, query, size) != LDNS_STATUS_OK) {
    if (raw != nullptr) ldns_pkt_free(raw);
    // Answer from the header alone: same id and opcode, no question.
    ldns_pkt_set_id(out.get(), LDNS_ID_WIRE(query));
    ldns_pkt_set_opcode(out.get(),
                        static_cast<ldns_pkt_opcode>(LDNS_OPCODE_WIRE(query)));
    ldns_pkt_set_rd(out.get(), LDNS_RD_WIRE(query) != 0);
    return finish(kFormErr);
  }
  PktPtr in(raw);
  ldns_pkt_set_id(out.get(), ldns_pkt_id(in.get()));
  ldns_pkt_set_opcode(out.get(), ldns_pkt_get_opcode(in.get()));
  ldns_pkt_set_rd(out.get(), ldns_pkt_rd(in.get()));
  ldns_pkt_set_cd(out.get(), ldns_pkt_cd(in.get()));
  ldns_rr_list* question = ldns_pkt_question(in.get());
  const size_t questions = ldns_rr_list_rr_count(question);
  for (size_t i = 0; i < questions; ++i) {
    ldns_pkt_push_rr(out.get(), LDNS_SECTION_QUESTION,
                     ldns_rr_clone(ldns_rr_list_rr(question, i)));
  }
  const bool edns = ldns_pkt_edns(in.get());
  if (edns) ldns_pkt_set_edns_udp_size(out.get(), options_.max_udp_payload);
  if (ldns_pkt_get_opcode(in.get()) != LDNS_PACKET_QUERY) {
    return finish(kNotImp);
  }
  if (questions != 1) return finish(kFormErr);
  if (edns && ldns_pkt_edns_version(in.get()) > 0) return finish(kBadVers);

  const ldns_rr* q = ldns_rr_list_rr(question, 0);
  const ldns_rr_type qtype = ldns_rr_get_type(q);
  const ldns_rr_class qclass = ldns_rr_get_class(q);
  const ldns_rdf* qname = ldns_rr_owner(q);
  const std::vector<std::string> labels = LowerLabels(qname);
  const bool in_domain =
      labels.size() >= domain_labels_.size() &&
      std::equal(domain_labels_.begin(), domain_labels_.end(),
                 labels.end() - domain_labels_.size());
  if (!in_domain) return finish(kRefused);
  if (qclass != LDNS_RR_CLASS_IN && qclass != LDNS_RR_CLASS_ANY) {
    return finish(kRefused);
  }
  ldns_pkt_set_aa(out.get(), true);
  const std::vector<std::string> rest(labels.begin(),
                                      labels.end() - domain_labels_.size());
  const Parsed parsed = ParseName(rest, [&](const std::string& dc) {
    return dc == datacenter_ || catalog.HasDatacenter(dc);
  });
  const uint32_t ttl = options_.ttl_seconds;
  bool want_a = qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY;
  bool want_aaaa = qtype == LDNS_RR_TYPE_AAAA || qtype == LDNS_RR_TYPE_ANY;

  auto negative = [&](int rcode) {
    ldns_pkt_push_rr(out.get(), LDNS_SECTION_AUTHORITY, Soa());
    return finish(rcode);
  };

  switch (parsed.kind) {
    case Parsed::Kind::kNxDomain:
      return negative(kNxDomain);
    case Parsed::Kind::kEmptyNonTerminal:
      return negative(kNoError);
    case Parsed::Kind::kApex:
      if (qtype != LDNS_RR_TYPE_SOA && qtype != LDNS_RR_TYPE_ANY) {
        return negative(kNoError);
      }
      ldns_pkt_push_rr(out.get(), LDNS_SECTION_ANSWER, Soa());
      return finish(kNoError);
    case Parsed::Kind::kAddr: {
      const bool v4 = parsed.addr.kind == DnsInstance::Kind::kIpv4;
      if ((v4 && !want_a) || (!v4 && !want_aaaa)) return negative(kNoError);
      ldns_pkt_push_rr(out.get(), LDNS_SECTION_ANSWER,
                       AddressRr(parsed.addr, qname, ttl));
      return finish(kNoError);
    }
    case Parsed::Kind::kService:
      break;
  }

  const ServiceRecord* record = catalog.Find(parsed.service);
  if (record == nullptr) {
    result.outcome = Outcome::kNeedService;
    result.service = parsed.service;
    return result;
  }
  if (record->absent) return negative(kNxDomain);
  result.service = parsed.service;

  // The instances to answer with: the asked DC's, or the local DC's if it
  // has any, else every DC's; instances whose check is critical only when
  // no other one qualifies. Heaviest first (PrepareServiceRecord).
  std::vector<const DnsInstance*> chosen;
  const std::string& dc =
      parsed.datacenter.empty() ? datacenter_ : parsed.datacenter;
  auto collect = [&](bool every_dc, bool critical_too) {
    for (const DnsInstance& i : record->instances) {
      if ((every_dc || i.datacenter_key == dc) &&
          (critical_too || !i.critical)) {
        chosen.push_back(&i);
      }
    }
  };
  const bool every_dc_allowed = parsed.datacenter.empty();
  collect(/*every_dc=*/false, /*critical_too=*/false);
  if (chosen.empty() && every_dc_allowed) collect(true, false);
  if (chosen.empty()) collect(false, true);
  if (chosen.empty() && every_dc_allowed) collect(true, true);

  if (qtype == LDNS_RR_TYPE_ANY) {
    // RFC 8482: one RRset, not every type; A if there is an IPv4 address.
    const bool any_v4 =
        std::any_of(chosen.begin(), chosen.end(), [](const DnsInstance* i) {
          return i->kind == DnsInstance::Kind::kIpv4;
        });
    want_a = any_v4;
    want_aaaa = !any_v4;
  }

  if (qtype == LDNS_RR_TYPE_SRV) {
    std::set<AddressKey> targets;  // with an address record
    int32_t max_weight = 1;
    for (const DnsInstance* i : chosen) max_weight = std::max(max_weight, i->weight);
    for (const DnsInstance* i : chosen) {
      ldns_rr* rr = NewRr(LDNS_RR_TYPE_SRV, ldns_rdf_clone(qname), ttl);
      ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 1));
      ldns_rr_push_rdf(rr, ldns_native2rdf_int16(
                               LDNS_RDF_TYPE_INT16,
                               SrvWeight(i->weight, max_weight)));
      ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, i->port));
      ldns_rdf* target =
          i->kind == DnsInstance::Kind::kHostname
              ? Name(i->hostname + ".")
              : Name(HexAddress(*i) + ".addr." + domain_text_ + ".");
      if (target == nullptr) {  // not a name ldns takes: skip it
        ldns_rr_free(rr);
        continue;
      }
      ldns_rr_push_rdf(rr, ldns_rdf_clone(target));
      ldns_pkt_push_rr(out.get(), LDNS_SECTION_ANSWER, rr);
      // One address record per target (instances may share an IP).
      if (i->kind != DnsInstance::Kind::kHostname &&
          targets.insert({i->kind, i->ip}).second) {
        ldns_pkt_push_rr(out.get(), LDNS_SECTION_ADDITIONAL,
                         AddressRr(*i, target, ttl));
      }
      ldns_rdf_deep_free(target);
    }
  } else if (want_a || want_aaaa) {
    std::vector<const DnsInstance*> addresses;
    for (const DnsInstance* i : chosen) {
      if ((i->kind == DnsInstance::Kind::kIpv4 && want_a) ||
          (i->kind == DnsInstance::Kind::kIpv6 && want_aaaa)) {
        addresses.push_back(i);
      }
    }
    if (options_.shuffle && addresses.size() > 1) {
      result.shuffled = true;
      // Weighted random order (Efraimidis–Spirakis): sort by
      // -ln(u) / weight; the first is picked in proportion to its weight,
      // the next among the rest likewise.
      std::vector<std::pair<double, const DnsInstance*>> keyed;
      keyed.reserve(addresses.size());
      for (const DnsInstance* i : addresses) {
        const double u =
            (static_cast<double>(NextRandom() >> 11) + 0.5) * 0x1.0p-53;
        keyed.emplace_back(-std::log(u) / i->weight, i);
      }
      std::sort(keyed.begin(), keyed.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t k = 0; k < keyed.size(); ++k) addresses[k] = keyed[k].second;
    }
    // An RRset holds each address once (RFC 2181 5): instances sharing an
    // IP (different ports) give one record, at the first one's place.
    std::set<AddressKey> seen;
    for (const DnsInstance* i : addresses) {
      if (seen.insert({i->kind, i->ip}).second) {
        ldns_pkt_push_rr(out.get(), LDNS_SECTION_ANSWER,
                         AddressRr(*i, qname, ttl));
      }
    }
  }
  if (ldns_pkt_ancount(out.get()) == 0) return negative(kNoError);

  // Size limits.
  size_t limit = kMaxTcpMessage;
  if (transport == Transport::kUdp) {
    limit = kMinUdpPayload;
    if (edns) {
      limit = std::clamp<size_t>(ldns_pkt_edns_udp_size(in.get()),
                                 kMinUdpPayload,
                                 std::max<size_t>(options_.max_udp_payload,
                                                  kMinUdpPayload));
    }
  }
  Result done = finish(kNoError);
  if (done.outcome != Outcome::kReply || reply->size() <= limit) return done;
  // Too big: the additional records are optional (RFC 2181 9).
  KeepRecords(out.get(), LDNS_SECTION_ADDITIONAL, 0);
  done = finish(kNoError);
  if (done.outcome != Outcome::kReply || reply->size() <= limit) return done;
  // Keep as many answers as fit, the first ones of the order chosen (in
  // proportion, then one by one). Over UDP TC says more exist, so a client
  // that can asks again over TCP, and one that cannot (musl before 1.2.4)
  // still gets addresses.
  size_t keep = ldns_pkt_ancount(out.get());
  while (keep > 0 && reply->size() > limit) {
    keep = std::min(keep - 1, keep * limit / reply->size());
    KeepRecords(out.get(), LDNS_SECTION_ANSWER, keep);
    done = finish(kNoError);
    if (done.outcome != Outcome::kReply) return done;
  }
  if (transport == Transport::kUdp) {
    ldns_pkt_set_tc(out.get(), true);
    done = finish(kNoError);
  }
  done.truncated = true;
  return done;
}

}  // namespace dns
}  // namespace agent
}  // namespace kess
