// A small DNS client for tests and benchmarks of the agent's DNS interface:
// queries built and answers decoded with ldns (never by hand), sent over
// loopback UDP or TCP with a timeout.
//
//   std::string q = BuildQuery({.name = "payments.service.kess",
//                               .type = LDNS_RR_TYPE_SRV});
//   absl::StatusOr<std::string> wire = UdpExchange(port, q, absl::Seconds(5));
//   DecodedReply reply = DecodeReply(*wire);
//   EXPECT_EQ(reply.rcode, 0);
//
// Thread-safety: pure functions; each call uses its own socket.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace agent {
namespace dns {
namespace testing {

struct QueryOptions {
  std::string name;
  uint16_t type = 1;     // LDNS_RR_TYPE_A
  uint16_t qclass = 1;   // LDNS_RR_CLASS_IN
  uint16_t id = 4242;
  int opcode = 0;        // LDNS_PACKET_QUERY
  bool rd = true;
  int edns_udp_size = -1;  // < 0: no OPT record
  int edns_version = 0;
};

// The query's wire format (ldns). Empty if ldns refuses the name.
std::string BuildQuery(const QueryOptions& options);

struct DecodedRecord {
  std::string owner;  // as on the wire, with the trailing dot
  uint32_t ttl = 0;
  std::string type;   // "A", "SRV", ...
  std::string rdata;  // ldns's presentation, fields joined by one space
};

struct DecodedReply {
  bool ok = false;  // ldns decoded it
  size_t size = 0;  // bytes on the wire
  uint16_t id = 0;
  int rcode = 0;    // with the EDNS extended bits (BADVERS = 16)
  int opcode = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false;
  bool edns = false;
  uint16_t edns_udp_size = 0;
  std::vector<DecodedRecord> question, answer, authority, additional;

  // The rdata of the answers of `type`, in order.
  std::vector<std::string> Answers(const std::string& type) const;
};

DecodedReply DecodeReply(const std::string& wire);

// One query over UDP to 127.0.0.1:port; the first datagram back.
absl::StatusOr<std::string> UdpExchange(int port, const std::string& query,
                                        absl::Duration timeout);

// Opens one TCP connection to 127.0.0.1:port, sends every query (each with
// its 2-byte length) back to back, and reads as many answers.
absl::StatusOr<std::vector<std::string>> TcpExchange(
    int port, const std::vector<std::string>& queries, absl::Duration timeout);

}  // namespace testing
}  // namespace dns
}  // namespace agent
}  // namespace kess
