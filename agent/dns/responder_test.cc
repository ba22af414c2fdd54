// The query -> answer logic on in-memory route tables: every name form,
// type and rcode of responder.h, local-DC-first, truncation, EDNS and
// malformed packets. Queries are built and answers decoded with ldns
// (agent/dns/testing/dns_client.h).
#include "agent/dns/responder.h"

#include "third_party/ldns_cxx.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/dns/service_record.h"
#include "agent/dns/testing/dns_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/route_table.h"

namespace kess {
namespace agent {
namespace dns {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using testing::BuildQuery;
using testing::DecodedReply;
using testing::DecodeReply;
using testing::QueryOptions;

RouteInstance Instance(const std::string& id, const std::string& address,
                       const std::string& dc, int weight = 100,
                       InstanceState state = InstanceState::kHealthy,
                       const std::string& health = "up") {
  RouteInstance i;
  i.id = id;
  i.host = "host-" + id;
  i.address = address;
  i.datacenter = dc;
  i.weight = weight;
  i.state = state;
  i.health = health;
  return i;
}

RouteTable Table(const std::string& service,
                 std::vector<RouteInstance> instances, int64_t revision = 7) {
  RouteTable t;
  t.service = service;
  t.revision = revision;
  t.instances = std::move(instances);
  return t;
}

class ResponderTest : public ::testing::Test {
 protected:
  ResponderTest() {
    Add(Table("payments",
              {Instance("p1", "127.0.0.1:8080", "dc1", 100),
               Instance("p2", "127.0.0.2:8081", "dc1", 300),
               Instance("p3", "[2001:db8::1]:9090", "dc1", 100),
               Instance("p4", "db1.Example.com:5432", "dc1", 50),
               Instance("p5", "127.1.0.1:8080", "dc2", 100),
               Instance("s1", "127.0.0.9:8080", "dc1", 100,
                        InstanceState::kSuspect),
               Instance("d1", "127.0.0.10:8080", "dc1", 100,
                        InstanceState::kDisabled),
               Instance("w1", "127.0.0.11:8080", "dc1", 100,
                        InstanceState::kHealthy, "warming_up")}));
    // The local DC has only unusable instances: other DCs answer.
    Add(Table("remote",
              {Instance("r1", "127.0.0.1:80", "dc1", 100,
                        InstanceState::kSuspect),
               Instance("r2", "127.2.0.1:80", "dc2", 100),
               Instance("r3", "127.3.0.1:80", "dc3", 100)}));
    Add(Table("sick", {Instance("x1", "127.0.0.1:80", "dc1", 100,
                                InstanceState::kSuspect)}));
    Add(Table("named", {Instance("n1", "api.example.org:443", "dc1")}));
    catalog_.Update(std::make_shared<const ServiceRecord>(
        AbsentServiceRecord("gone", 9)));
  }

  void Add(const RouteTable& table) {
    catalog_.Update(std::make_shared<const ServiceRecord>(
        PrepareServiceRecord(table, EligibilityOptions{})));
  }

  ResponderOptions Options() {
    ResponderOptions o;
    o.datacenter = "dc1";
    o.ttl_seconds = 5;
    o.shuffle = false;
    o.seed = 1;
    return o;
  }

  // Sends `query` and decodes the answer; fails the test unless answered.
  DecodedReply Ask(const std::string& query,
                   Transport transport = Transport::kUdp) {
    std::string wire;
    last_ = responder_->Respond(reinterpret_cast<const uint8_t*>(query.data()),
                               query.size(), transport, catalog_, &wire);
    EXPECT_EQ(last_.outcome, Responder::Outcome::kReply);
    DecodedReply reply = DecodeReply(wire);
    EXPECT_TRUE(reply.ok);
    EXPECT_TRUE(reply.qr);
    return reply;
  }
  DecodedReply Ask(const std::string& name, uint16_t type,
                   Transport transport = Transport::kUdp) {
    return Ask(BuildQuery({.name = name, .type = type}), transport);
  }

  Responder::Result Raw(const std::string& bytes) {
    std::string wire;
    return responder_->Respond(reinterpret_cast<const uint8_t*>(bytes.data()),
                              bytes.size(), Transport::kUdp, catalog_, &wire);
  }

  // Answers with a responder that accepts EDNS sizes up to 4096.
  void AcceptLargeUdp() {
    ResponderOptions o = Options();
    o.max_udp_payload = 4096;
    responder_ = std::make_unique<Responder>(o);
  }

  Catalog catalog_;
  std::unique_ptr<Responder> responder_ = std::make_unique<Responder>(Options());
  Responder::Result last_;
};

TEST_F(ResponderTest, ALocalDcHealthyUpInstancesOnly) {
  DecodedReply r = Ask("payments.service.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_TRUE(r.aa);
  EXPECT_FALSE(r.tc);
  EXPECT_FALSE(r.ra);
  EXPECT_TRUE(r.rd);  // echoed
  EXPECT_EQ(r.id, 4242);
  // Heaviest first without the shuffle; no suspect, disabled, warming_up,
  // IPv6, hostname or other-DC instance.
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.2", "127.0.0.1"));
  ASSERT_EQ(r.answer.size(), 2u);
  EXPECT_EQ(r.answer[0].owner, "payments.service.kess.");
  EXPECT_EQ(r.answer[0].ttl, 5u);
  ASSERT_EQ(r.question.size(), 1u);
  EXPECT_EQ(r.question[0].owner, "payments.service.kess.");
}

TEST_F(ResponderTest, AaaaAndAny) {
  DecodedReply r = Ask("payments.service.kess", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.Answers("AAAA"), ElementsAre("2001:db8::1"));
  EXPECT_THAT(r.Answers("A"), IsEmpty());

  // ANY: one RRset (RFC 8482), A when there is an IPv4 address, else AAAA.
  r = Ask("payments.service.kess", LDNS_RR_TYPE_ANY);
  EXPECT_THAT(r.Answers("A"), UnorderedElementsAre("127.0.0.1", "127.0.0.2"));
  EXPECT_THAT(r.Answers("AAAA"), IsEmpty());
  Add(Table("six", {Instance("v6", "[2001:db8::6]:80", "dc1")}));
  r = Ask("six.service.kess", LDNS_RR_TYPE_ANY);
  EXPECT_THAT(r.Answers("AAAA"), ElementsAre("2001:db8::6"));
  EXPECT_THAT(r.Answers("A"), IsEmpty());
}

// An instance whose check says critical but that the protection threshold
// kept healthy is answered only when nothing else can be.
RouteInstance Critical(RouteInstance i) {
  i.check_status = "critical";
  return i;
}

TEST_F(ResponderTest, CriticalInstancesOnlyWhenNoOtherQualifies) {
  Add(Table("mixed", {Critical(Instance("c1", "127.0.0.1:80", "dc1", 300)),
                      Instance("ok", "127.0.0.2:80", "dc1", 100),
                      [] {
                        RouteInstance w = Instance("w", "127.0.0.3:80", "dc1");
                        w.check_status = "warning";
                        return w;
                      }()}));
  DecodedReply r = Ask("mixed.service.kess", LDNS_RR_TYPE_A);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.2", "127.0.0.3"));
  r = Ask("mixed.service.kess", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(r.Answers("SRV").size(), 2u);

  // Only critical ones in the local DC, a passing one in dc2: dc2's.
  Add(Table("far", {Critical(Instance("c1", "127.0.0.1:80", "dc1")),
                    Instance("f2", "127.2.0.1:80", "dc2")}));
  r = Ask("far.service.kess", LDNS_RR_TYPE_A);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.2.0.1"));
  // Asked for dc1 alone: its critical instance rather than nothing.
  r = Ask("far.service.dc1.kess", LDNS_RR_TYPE_A);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.1"));

  // Nothing but critical instances anywhere: they are answered.
  Add(Table("allbad", {Critical(Instance("c1", "127.0.0.1:80", "dc1")),
                       Critical(Instance("c2", "127.2.0.1:80", "dc2"))}));
  r = Ask("allbad.service.kess", LDNS_RR_TYPE_A);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.1"));
}

TEST_F(ResponderTest, SrvWeightsPortsTargetsAndAdditionalAddresses) {
  DecodedReply r = Ask("payments.service.kess", LDNS_RR_TYPE_SRV);
  EXPECT_EQ(r.rcode, kNoError);
  // priority weight port target; weights in proportion, heaviest 65535.
  EXPECT_THAT(r.Answers("SRV"),
              ElementsAre("1 65535 8081 7f000002.addr.kess.",
                          "1 21845 8080 7f000001.addr.kess.",
                          "1 21845 9090 20010db8000000000000000000000001.addr.kess.",
                          "1 10923 5432 db1.example.com."));
  std::vector<std::string> additional;
  for (const auto& rec : r.additional) {
    additional.push_back(absl::StrCat(rec.owner, " ", rec.type, " ", rec.rdata));
  }
  EXPECT_THAT(additional,
              UnorderedElementsAre(
                  "7f000002.addr.kess. A 127.0.0.2",
                  "7f000001.addr.kess. A 127.0.0.1",
                  "20010db8000000000000000000000001.addr.kess. AAAA 2001:db8::1"));
}

TEST_F(ResponderTest, OneDatacenterOnly) {
  DecodedReply r = Ask("payments.service.dc2.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.1.0.1"));
  r = Ask("payments.service.DC1.kess", LDNS_RR_TYPE_A);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.2", "127.0.0.1"));
  // A DC without instances: the name exists, no records (no fallback).
  r = Ask("payments.service.dc9.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.answer, IsEmpty());
  ASSERT_EQ(r.authority.size(), 1u);
  EXPECT_EQ(r.authority[0].type, "SOA");
}

TEST_F(ResponderTest, OtherDatacentersWhenTheLocalOneHasNoHealthyInstance) {
  DecodedReply r = Ask("remote.service.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.Answers("A"), UnorderedElementsAre("127.2.0.1", "127.3.0.1"));
  // Asked for the local DC explicitly: nothing.
  r = Ask("remote.service.dc1.kess", LDNS_RR_TYPE_A);
  EXPECT_THAT(r.answer, IsEmpty());
}

TEST_F(ResponderTest, NoEligibleInstanceIsNodata) {
  DecodedReply r = Ask("sick.service.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.answer, IsEmpty());
  ASSERT_EQ(r.authority.size(), 1u);
  EXPECT_EQ(r.authority[0].type, "SOA");
  EXPECT_EQ(r.authority[0].owner, "kess.");
  // SOA: mname rname serial refresh retry expire minimum (= ttl).
  EXPECT_EQ(r.authority[0].rdata,
            "ns.kess. hostmaster.kess. 1 3600 600 86400 5");
}

TEST_F(ResponderTest, HostnameInstances) {
  DecodedReply r = Ask("named.service.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.answer, IsEmpty());  // hostnames are not A records
  r = Ask("named.service.kess", LDNS_RR_TYPE_SRV);
  EXPECT_THAT(r.Answers("SRV"), ElementsAre("1 65535 443 api.example.org."));
  EXPECT_THAT(r.additional, IsEmpty());
}

TEST_F(ResponderTest, SharedAddressesAppearOnce) {
  Add(Table("shared", {Instance("a", "127.0.0.1:8080", "dc1", 200),
                       Instance("b", "127.0.0.1:8081", "dc1", 100),
                       Instance("c", "127.0.0.2:8080", "dc1", 100)}));
  DecodedReply r = Ask("shared.service.kess", LDNS_RR_TYPE_A);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.1", "127.0.0.2"));
  r = Ask("shared.service.kess", LDNS_RR_TYPE_SRV);
  EXPECT_THAT(r.Answers("SRV"),
              ElementsAre("1 65535 8080 7f000001.addr.kess.",
                          "1 32768 8081 7f000001.addr.kess.",
                          "1 32768 8080 7f000002.addr.kess."));
  EXPECT_EQ(r.additional.size(), 2u);
}

TEST_F(ResponderTest, OtherTypesOfAServiceAreNodata) {
  DecodedReply r = Ask("payments.service.kess", LDNS_RR_TYPE_TXT);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.answer, IsEmpty());
  EXPECT_EQ(r.authority.size(), 1u);
}

TEST_F(ResponderTest, CaseInsensitiveAndEchoed) {
  DecodedReply r = Ask("PayMents.SERVICE.Kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.2", "127.0.0.1"));
  EXPECT_EQ(r.question[0].owner, "PayMents.SERVICE.Kess.");
  EXPECT_EQ(r.answer[0].owner, "PayMents.SERVICE.Kess.");
}

TEST_F(ResponderTest, UnknownServiceNeedsItsTable) {
  std::string wire;
  const std::string q =
      BuildQuery({.name = "Orders.v2.service.dc2.kess", .type = LDNS_RR_TYPE_A});
  Responder::Result result =
      responder_->Respond(reinterpret_cast<const uint8_t*>(q.data()), q.size(),
                         Transport::kUdp, catalog_, &wire);
  EXPECT_EQ(result.outcome, Responder::Outcome::kNeedService);
  EXPECT_EQ(result.service, "orders.v2");

  // Once the table is there, the same query is answered.
  Add(Table("orders.v2", {Instance("o1", "127.1.0.5:80", "dc2")}));
  DecodedReply r = Ask(q);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.1.0.5"));

  // If it is not, the server sends SERVFAIL.
  result = responder_->ServFail(reinterpret_cast<const uint8_t*>(q.data()),
                               q.size(), &wire);
  EXPECT_EQ(result.outcome, Responder::Outcome::kReply);
  r = DecodeReply(wire);
  EXPECT_EQ(r.rcode, kServFail);
  EXPECT_EQ(r.id, 4242);
  EXPECT_EQ(r.question.size(), 1u);
}

TEST_F(ResponderTest, AbsentAndInvalidServicesAreNxdomain) {
  for (const std::string name :
       {"gone.service.kess", "gone.service.dc1.kess", "-bad.service.kess",
        "a_b!.service.kess", "x.service.-dc.kess", "foo.bar.kess",
        "7f000001.addr.x.kess", "zz.addr.kess"}) {
    SCOPED_TRACE(name);
    DecodedReply r = Ask(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(r.rcode, kNxDomain);
    EXPECT_TRUE(r.aa);
    ASSERT_EQ(r.authority.size(), 1u);
    EXPECT_EQ(r.authority[0].type, "SOA");
    EXPECT_EQ(last_.rcode, kNxDomain);
  }
}

TEST_F(ResponderTest, ApexAndEmptyNonTerminals) {
  DecodedReply r = Ask("kess", LDNS_RR_TYPE_SOA);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.Answers("SOA"),
              ElementsAre("ns.kess. hostmaster.kess. 1 3600 600 86400 5"));
  // dc1: the agent's DC; dc2, dc3: DCs of instances held.
  for (const std::string name :
       {"kess", "service.kess", "dc1.kess", "service.dc1.kess", "addr.kess",
        "DC2.kess", "service.dc3.kess"}) {
    SCOPED_TRACE(name);
    r = Ask(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(r.rcode, kNoError);
    EXPECT_THAT(r.answer, IsEmpty());
    EXPECT_EQ(r.authority.size(), 1u);
  }
  // Any other single label, or a DC nothing is in, does not exist.
  for (const std::string name : {"foo.kess", "dc9.kess", "service.dc9.kess"}) {
    SCOPED_TRACE(name);
    r = Ask(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(r.rcode, kNxDomain);
    EXPECT_EQ(r.authority.size(), 1u);
  }
}

TEST_F(ResponderTest, AddrNames) {
  DecodedReply r = Ask("7F000001.addr.kess", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.1"));
  r = Ask("20010db8000000000000000000000001.addr.kess", LDNS_RR_TYPE_AAAA);
  EXPECT_THAT(r.Answers("AAAA"), ElementsAre("2001:db8::1"));
  r = Ask("7f000001.addr.kess", LDNS_RR_TYPE_AAAA);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.answer, IsEmpty());
}

TEST_F(ResponderTest, OtherZonesAndClassesAreRefused) {
  DecodedReply r = Ask("example.com", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kRefused);
  EXPECT_FALSE(r.aa);
  EXPECT_THAT(r.answer, IsEmpty());
  r = Ask(".", LDNS_RR_TYPE_NS);
  EXPECT_EQ(r.rcode, kRefused);
  r = Ask("kess.example.com", LDNS_RR_TYPE_A);
  EXPECT_EQ(r.rcode, kRefused);
  r = Ask(BuildQuery({.name = "version.bind", .type = LDNS_RR_TYPE_TXT,
                      .qclass = LDNS_RR_CLASS_CH}));
  EXPECT_EQ(r.rcode, kRefused);
  r = Ask(BuildQuery({.name = "payments.service.kess",
                      .type = LDNS_RR_TYPE_A,
                      .qclass = LDNS_RR_CLASS_CH}));
  EXPECT_EQ(r.rcode, kRefused);
}

TEST_F(ResponderTest, OtherOpcodesAreNotImplemented) {
  for (int opcode : {LDNS_PACKET_IQUERY, LDNS_PACKET_STATUS,
                     LDNS_PACKET_NOTIFY, LDNS_PACKET_UPDATE}) {
    DecodedReply r = Ask(BuildQuery(
        {.name = "payments.service.kess", .id = 7, .opcode = opcode}));
    EXPECT_EQ(r.rcode, kNotImp);
    EXPECT_EQ(r.opcode, opcode);
    EXPECT_EQ(r.id, 7);
    EXPECT_THAT(r.answer, IsEmpty());
  }
}

TEST_F(ResponderTest, EdnsIsEchoedAndNewerVersionsGetBadvers) {
  DecodedReply r = Ask(BuildQuery(
      {.name = "payments.service.kess", .edns_udp_size = 4096}));
  EXPECT_TRUE(r.edns);
  EXPECT_EQ(r.edns_udp_size, 1232);  // the default max_udp_payload
  EXPECT_EQ(r.rcode, kNoError);
  r = Ask(BuildQuery({.name = "payments.service.kess"}));
  EXPECT_FALSE(r.edns);
  r = Ask(BuildQuery({.name = "payments.service.kess",
                      .edns_udp_size = 1232,
                      .edns_version = 1}));
  EXPECT_EQ(r.rcode, kBadVers);
  EXPECT_TRUE(r.edns);
  EXPECT_THAT(r.answer, IsEmpty());
}

// A service with `n` IPv4 instances in dc1.
void AddBig(Catalog* catalog, const std::string& service, int n) {
  std::vector<RouteInstance> instances;
  for (int i = 0; i < n; ++i) {
    instances.push_back(Instance(absl::StrCat("i", 1000 + i),
                                 absl::StrCat("10.9.", i / 250, ".", i % 250,
                                              ":80"),
                                 "dc1", 1 + i));
  }
  catalog->Update(std::make_shared<const ServiceRecord>(
      PrepareServiceRecord(Table(service, instances), EligibilityOptions{})));
}

TEST_F(ResponderTest, TruncationOverUdpHonoursTheEdnsBufferSize) {
  AddBig(&catalog_, "big", 100);
  // The heaviest first (no shuffle here): i1099 = 127.9.0.99, weight 100.
  auto first = [](int n) {
    std::vector<std::string> out;
    for (int i = 99; i > 99 - n; --i) out.push_back(absl::StrCat("10.9.0.", i));
    return out;
  };
  // No EDNS: 512 bytes. 100 A records do not fit: TC, and as many answers
  // as fit, the first of the order (a client that does not retry over TCP
  // still gets addresses).
  DecodedReply r = Ask("big.service.kess", LDNS_RR_TYPE_A);
  EXPECT_TRUE(r.tc);
  EXPECT_TRUE(last_.truncated);
  EXPECT_LE(r.size, 512u);
  EXPECT_GT(r.size, 512u - 16);  // one more A record would not fit
  EXPECT_EQ(r.question.size(), 1u);
  ASSERT_GE(r.Answers("A").size(), 20u);
  EXPECT_LT(r.Answers("A").size(), 100u);
  EXPECT_EQ(r.Answers("A"), first(static_cast<int>(r.Answers("A").size())));
  // EDNS 1232: still too big (100 x 16 bytes).
  r = Ask(BuildQuery({.name = "big.service.kess", .edns_udp_size = 1232}));
  EXPECT_TRUE(r.tc);
  EXPECT_LE(r.size, 1232u);
  EXPECT_GT(r.size, 1232u - 16);
  EXPECT_TRUE(r.edns);
  EXPECT_GE(r.Answers("A").size(), 60u);
  EXPECT_LT(r.Answers("A").size(), 100u);
  // EDNS 4096 asked, but 1232 is the default maximum: truncated too.
  r = Ask(BuildQuery({.name = "big.service.kess", .edns_udp_size = 4096}));
  EXPECT_TRUE(r.tc);
  EXPECT_EQ(r.edns_udp_size, 1232);
  // With max_udp_payload 4096: fits.
  AcceptLargeUdp();
  r = Ask(BuildQuery({.name = "big.service.kess", .edns_udp_size = 4096}));
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.Answers("A").size(), 100u);
  EXPECT_GT(r.size, 1232u);
  // A client asking for more than we accept gets our maximum (4096).
  r = Ask(BuildQuery({.name = "big.service.kess", .edns_udp_size = 65000}));
  EXPECT_EQ(r.Answers("A").size(), 100u);
  // An EDNS size below 512 counts as 512.
  r = Ask(BuildQuery({.name = "payments.service.kess", .edns_udp_size = 20}));
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.Answers("A").size(), 2u);
  EXPECT_GT(r.size, 20u);
  // TCP: everything.
  r = Ask("big.service.kess", LDNS_RR_TYPE_A, Transport::kTcp);
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.Answers("A").size(), 100u);
}

TEST_F(ResponderTest, AdditionalRecordsGoFirstWhenTooBig) {
  AddBig(&catalog_, "big", 100);
  AcceptLargeUdp();
  // 100 SRV answers (~3 KB) fit in 4096, their A records (~1.6 KB) do not:
  // the additional section is dropped, no TC (RFC 2181 9).
  DecodedReply r = Ask(
      BuildQuery({.name = "big.service.kess", .type = LDNS_RR_TYPE_SRV,
                  .edns_udp_size = 4096}));
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.Answers("SRV").size(), 100u);
  EXPECT_THAT(r.additional, IsEmpty());
  EXPECT_LE(r.size, 4096u);
  // Over TCP both fit.
  r = Ask("big.service.kess", LDNS_RR_TYPE_SRV, Transport::kTcp);
  EXPECT_EQ(r.Answers("SRV").size(), 100u);
  EXPECT_EQ(r.additional.size(), 100u);
}

TEST_F(ResponderTest, TcpAnswersAreCutToFit65535Bytes) {
  AddBig(&catalog_, "huge", 5000);
  DecodedReply r = Ask("huge.service.kess", LDNS_RR_TYPE_A, Transport::kTcp);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_LE(r.size, 65535u);
  EXPECT_GT(r.Answers("A").size(), 3000u);
  EXPECT_LT(r.Answers("A").size(), 5000u);
}

TEST_F(ResponderTest, WeightedShuffleFavoursHeavyInstances) {
  ResponderOptions o = Options();
  o.shuffle = true;
  o.seed = 12345;
  Responder shuffling(o);
  const std::string q = BuildQuery({.name = "payments.service.kess"});
  int heavy_first = 0;
  constexpr int kQueries = 4000;
  for (int i = 0; i < kQueries; ++i) {
    std::string wire;
    shuffling.Respond(reinterpret_cast<const uint8_t*>(q.data()), q.size(),
                      Transport::kUdp, catalog_, &wire);
    DecodedReply r = DecodeReply(wire);
    ASSERT_EQ(r.Answers("A").size(), 2u);
    heavy_first += r.Answers("A")[0] == "127.0.0.2";
  }
  // Weight 300 vs 100: first 75 % of the time (sd ~0.7 % at n = 4000).
  EXPECT_GT(heavy_first, kQueries * 0.71);
  EXPECT_LT(heavy_first, kQueries * 0.79);
}

TEST_F(ResponderTest, MalformedPackets) {
  // Shorter than a header, or a response: dropped.
  EXPECT_EQ(Raw("").outcome, Responder::Outcome::kDrop);
  EXPECT_EQ(Raw(std::string(11, '\0')).outcome, Responder::Outcome::kDrop);
  std::string response = BuildQuery({.name = "payments.service.kess"});
  response[2] = static_cast<char>(response[2] | 0x80);  // QR
  EXPECT_EQ(Raw(response).outcome, Responder::Outcome::kDrop);

  // A header promising a question that is not there: FORMERR, same id.
  std::string header("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
  std::string wire;
  Responder::Result result =
      responder_->Respond(reinterpret_cast<const uint8_t*>(header.data()),
                         header.size(), Transport::kUdp, catalog_, &wire);
  ASSERT_EQ(result.outcome, Responder::Outcome::kReply);
  DecodedReply r = DecodeReply(wire);
  EXPECT_EQ(r.rcode, kFormErr);
  EXPECT_EQ(r.id, 0x1234);
  EXPECT_TRUE(r.qr);
  EXPECT_TRUE(r.rd);

  // Every truncation of a valid query: dropped or FORMERR, never a crash.
  const std::string q = BuildQuery({.name = "payments.service.kess",
                                    .edns_udp_size = 1232});
  for (size_t n = 0; n < q.size(); ++n) {
    result = Raw(q.substr(0, n));
    if (n < 12) {
      EXPECT_EQ(result.outcome, Responder::Outcome::kDrop);
    } else {
      EXPECT_EQ(result.outcome, Responder::Outcome::kReply) << n;
      EXPECT_EQ(result.rcode, kFormErr) << n;
    }
  }

  // No question: FORMERR.
  std::string empty("\x00\x07\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12);
  result = Raw(empty);
  EXPECT_EQ(result.outcome, Responder::Outcome::kReply);
  EXPECT_EQ(result.rcode, kFormErr);

  // Two questions: FORMERR.
  ldns_pkt* two = nullptr;
  ASSERT_EQ(ldns_pkt_query_new_frm_str(&two, "payments.service.kess.",
                                       LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0),
            LDNS_STATUS_OK);
  ldns_rr* extra = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(two), 0));
  ldns_pkt_push_rr(two, LDNS_SECTION_QUESTION, extra);
  uint8_t* data = nullptr;
  size_t size = 0;
  ASSERT_EQ(ldns_pkt2wire(&data, two, &size), LDNS_STATUS_OK);
  result = Raw(std::string(reinterpret_cast<char*>(data), size));
  free(data);
  ldns_pkt_free(two);
  EXPECT_EQ(result.rcode, kFormErr);

  // A compression pointer loop in the question name.
  std::string loop("\x00\x08\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                   "\xc0\x0c\x00\x01\x00\x01",
                   18);
  result = Raw(loop);
  EXPECT_EQ(result.outcome, Responder::Outcome::kReply);
  EXPECT_EQ(result.rcode, kFormErr);
}

TEST_F(ResponderTest, AnotherDomain) {
  ResponderOptions o = Options();
  o.domain = "Kess.Internal.";
  Responder other(o);
  const std::string q =
      BuildQuery({.name = "payments.service.kess.internal"});
  std::string wire;
  other.Respond(reinterpret_cast<const uint8_t*>(q.data()), q.size(),
                Transport::kUdp, catalog_, &wire);
  DecodedReply r = DecodeReply(wire);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.2", "127.0.0.1"));
  const std::string old = BuildQuery({.name = "payments.service.kess"});
  other.Respond(reinterpret_cast<const uint8_t*>(old.data()), old.size(),
                Transport::kUdp, catalog_, &wire);
  EXPECT_EQ(DecodeReply(wire).rcode, kRefused);
}

// ---- ServiceRecord and Catalog ----

TEST(ServiceRecordTest, AddressForms) {
  DnsInstance i;
  ASSERT_TRUE(ParseInstanceAddress("127.1.2.3:80", &i));
  EXPECT_EQ(i.kind, DnsInstance::Kind::kIpv4);
  EXPECT_EQ(i.port, 80);
  ASSERT_TRUE(ParseInstanceAddress("[::1]:65535", &i));
  EXPECT_EQ(i.kind, DnsInstance::Kind::kIpv6);
  EXPECT_EQ(i.ip[15], 1);
  ASSERT_TRUE(ParseInstanceAddress("Web-1.Example.COM:8080", &i));
  EXPECT_EQ(i.kind, DnsInstance::Kind::kHostname);
  EXPECT_EQ(i.hostname, "web-1.example.com");
  for (const char* bad :
       {"127.1.2.3", "127.1.2.3:0", "127.1.2.3:65536", "127.1.2.3:x", ":80",
        "1.2.3.999:80", "[web]:80", "a..b:80", "a b:80", "::1:80x"}) {
    EXPECT_FALSE(ParseInstanceAddress(bad, &i)) << bad;
  }
}

TEST(ServiceRecordTest, PassingHealthWords) {
  RouteTable t = Table("s", {Instance("a", "127.0.0.1:1", "dc1", 1,
                                      InstanceState::kHealthy, "up"),
                             Instance("b", "127.0.0.2:1", "dc1", 1,
                                      InstanceState::kHealthy, "draining")});
  EXPECT_EQ(PrepareServiceRecord(t, EligibilityOptions{}).instances.size(), 1u);
  EligibilityOptions any;
  any.passing_health.clear();
  EXPECT_EQ(PrepareServiceRecord(t, any).instances.size(), 2u);
}

TEST(CatalogTest, NewerRevisionsWinAndAbsenceIsOnlyAFallback) {
  Catalog c;
  auto table = [](int64_t revision, const std::string& address) {
    return std::make_shared<const ServiceRecord>(PrepareServiceRecord(
        Table("Svc", {Instance("a", address, "dc1")}, revision),
        EligibilityOptions{}));
  };
  EXPECT_EQ(c.Find("svc"), nullptr);
  EXPECT_TRUE(c.Update(std::make_shared<const ServiceRecord>(
      AbsentServiceRecord("Svc", 0))));  // never existed
  ASSERT_NE(c.Find("svc"), nullptr);
  EXPECT_TRUE(c.Find("svc")->absent);
  EXPECT_TRUE(c.Update(table(5, "127.0.0.5:1")));  // replaces "never existed"
  EXPECT_FALSE(c.Update(std::make_shared<const ServiceRecord>(
      AbsentServiceRecord("svc", 0))));
  EXPECT_FALSE(c.Update(table(4, "127.0.0.4:1")));  // older
  EXPECT_FALSE(c.Update(table(5, "127.0.0.4:1")));  // same
  EXPECT_EQ(c.Find("svc")->instances[0].ip[3], 5);
  EXPECT_TRUE(c.Update(std::make_shared<const ServiceRecord>(
      AbsentServiceRecord("svc", 6))));  // deleted
  EXPECT_TRUE(c.Find("svc")->absent);
  EXPECT_TRUE(c.Update(table(8, "127.0.0.8:1")));  // created again
  EXPECT_FALSE(c.Find("svc")->absent);
  EXPECT_EQ(c.size(), 1u);
}

TEST(CatalogTest, RemoveAndDatacenters) {
  Catalog c;
  c.Update(std::make_shared<const ServiceRecord>(PrepareServiceRecord(
      Table("a", {Instance("1", "127.0.0.1:1", "DC1"),
                  Instance("2", "127.0.0.2:1", "dc2")}),
      EligibilityOptions{})));
  c.Update(std::make_shared<const ServiceRecord>(PrepareServiceRecord(
      Table("b", {Instance("3", "127.0.0.3:1", "dc2")}), EligibilityOptions{})));
  EXPECT_TRUE(c.HasDatacenter("dc1"));
  EXPECT_TRUE(c.HasDatacenter("dc2"));
  EXPECT_FALSE(c.HasDatacenter("dc3"));
  EXPECT_TRUE(c.Remove("a"));
  EXPECT_FALSE(c.Remove("a"));
  EXPECT_EQ(c.Find("a"), nullptr);
  EXPECT_FALSE(c.HasDatacenter("dc1"));
  EXPECT_TRUE(c.HasDatacenter("dc2"));
  // A newer version without dc2 instances.
  c.Update(std::make_shared<const ServiceRecord>(PrepareServiceRecord(
      Table("b", {Instance("4", "127.0.0.4:1", "dc3")}, 8),
      EligibilityOptions{})));
  EXPECT_FALSE(c.HasDatacenter("dc2"));
  EXPECT_TRUE(c.HasDatacenter("dc3"));
  EXPECT_EQ(c.size(), 1u);
}

}  // namespace
}  // namespace dns
}  // namespace agent
}  // namespace kess
