// libFuzzer target for the DNS query handler (scripts/fuzz.sh; CI replay:
// :responder_fuzz_test): any bytes a local process sends to the agent's DNS
// port go through Responder::Respond. Properties, over UDP and TCP: no
// crash; an answer is decodable by ldns, carries the query's id and the QR
// bit, fits the transport (UDP: 512 bytes, or the EDNS size up to max_udp_payload;
// TCP: 65535); a header-less packet or a response is never answered; and
// ServFail of the same bytes is decodable or dropped.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/dns/responder.h"
#include "agent/dns/service_record.h"
#include "common/fuzz_check.h"
#include "model/route_table.h"
#include "third_party/ldns_cxx.h"

namespace {

using kess::agent::dns::Catalog;
using kess::agent::dns::Responder;
using kess::agent::dns::ResponderOptions;
using kess::agent::dns::ServiceRecord;
using kess::agent::dns::Transport;

Catalog* TestCatalog() {
  static Catalog* catalog = [] {
    auto* c = new Catalog();
    kess::RouteTable t;
    t.service = "payments";
    t.revision = 3;
    const char* addresses[] = {"127.0.0.1:80", "[2001:db8::5]:443",
                               "db.example.com:5432", "127.1.0.1:80"};
    for (int i = 0; i < 40; ++i) {
      kess::RouteInstance in;
      in.id = "p" + std::to_string(100 + i);
      in.host = "h";
      in.address = addresses[i % 4];
      in.datacenter = i % 3 == 0 ? "dc2" : "dc1";
      in.weight = 1 + i * 37;
      if (i % 7 == 0) in.state = kess::InstanceState::kSuspect;
      t.instances.push_back(in);
    }
    c->Update(std::make_shared<const ServiceRecord>(
        kess::agent::dns::PrepareServiceRecord(t, {})));
    c->Update(std::make_shared<const ServiceRecord>(
        kess::agent::dns::AbsentServiceRecord("gone", 4)));
    return c;
  }();
  return catalog;
}

void CheckReply(const uint8_t* query, size_t size, const std::string& reply,
                size_t limit) {
  FUZZ_CHECK(size >= LDNS_HEADER_SIZE);
  FUZZ_CHECK(!LDNS_QR_WIRE(query));
  FUZZ_CHECK(reply.size() >= LDNS_HEADER_SIZE);
  FUZZ_CHECK(reply.size() <= limit);
  ldns_pkt* pkt = nullptr;
  FUZZ_CHECK(ldns_wire2pkt(&pkt, reinterpret_cast<const uint8_t*>(reply.data()),
                           reply.size()) == LDNS_STATUS_OK);
  FUZZ_CHECK(ldns_pkt_qr(pkt));
  FUZZ_CHECK(ldns_pkt_id(pkt) == LDNS_ID_WIRE(query));
  ldns_pkt_free(pkt);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Responder* responder = [] {
    ResponderOptions o;
    o.datacenter = "dc1";
    o.seed = 7;
    return new Responder(o);
  }();
  const Catalog& catalog = *TestCatalog();
  for (Transport transport : {Transport::kUdp, Transport::kTcp}) {
    std::string reply;
    Responder::Result result =
        responder->Respond(data, size, transport, catalog, &reply);
    switch (result.outcome) {
      case Responder::Outcome::kReply:
        CheckReply(data, size, reply,
                   transport == Transport::kUdp
                       ? responder->options().max_udp_payload
                       : 65535);
        if (transport == Transport::kUdp && !result.truncated) {
          // Without EDNS the limit is 512; with it, the client's size.
          ldns_pkt* in = nullptr;
          if (ldns_wire2pkt(&in, data, size) == LDNS_STATUS_OK) {
            if (!ldns_pkt_edns(in)) FUZZ_CHECK(reply.size() <= 512);
          }
          if (in != nullptr) ldns_pkt_free(in);
        }
        break;
      case Responder::Outcome::kNeedService:
        FUZZ_CHECK(!result.service.empty());
        FUZZ_CHECK(catalog.Find(result.service) == nullptr);
        break;
      case Responder::Outcome::kDrop:
        FUZZ_CHECK(size < LDNS_HEADER_SIZE || LDNS_QR_WIRE(data));
        break;
    }
  }
  std::string reply;
  if (responder->ServFail(data, size, &reply).outcome ==
      Responder::Outcome::kReply) {
    CheckReply(data, size, reply, 65535);
  }
  return 0;
}
