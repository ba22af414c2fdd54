#include "agent/dns/testing/dns_client.h"

#include <arpa/inet.h>
#include "third_party/ldns_cxx.h"
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kess {
namespace agent {
namespace dns {
namespace testing {
namespace {

std::string Text(char* s) {
  std::string out = s == nullptr ? "" : s;
  free(s);
  return out;
}

void DecodeSection(const ldns_rr_list* list, bool question,
                   std::vector<DecodedRecord>* out) {
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    DecodedRecord r;
    r.owner = Text(ldns_rdf2str(ldns_rr_owner(rr)));
    r.ttl = question ? 0 : ldns_rr_ttl(rr);
    r.type = Text(ldns_rr_type2str(ldns_rr_get_type(rr)));
    std::vector<std::string> fields;
    for (size_t f = 0; f < ldns_rr_rd_count(rr); ++f) {
      fields.push_back(Text(ldns_rdf2str(ldns_rr_rdf(rr, f))));
    }
    r.rdata = absl::StrJoin(fields, " ");
    out->push_back(std::move(r));
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Waits for `events` on `fd` until `deadline`.
absl::Status WaitFd(int fd, short events,
                    std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return absl::DeadlineExceededError("DNS timeout");
  pollfd p{fd, events, 0};
  int n = poll(&p, 1, static_cast<int>(left.count()));
  if (n < 0) return ErrnoToStatus(errno, "poll");
  if (n == 0) return absl::DeadlineExceededError("DNS timeout");
  return absl::OkStatus();
}

absl::Status ReadExactly(int fd, size_t n, std::string* out,
                         std::chrono::steady_clock::time_point deadline) {
  out->clear();
  char buf[4096];
  while (out->size() < n) {
    KESS_RETURN_IF_ERROR(WaitFd(fd, POLLIN, deadline));
    ssize_t got = read(fd, buf, std::min(sizeof(buf), n - out->size()));
    if (got < 0) return ErrnoToStatus(errno, "read");
    if (got == 0) return absl::UnavailableError("connection closed");
    out->append(buf, static_cast<size_t>(got));
  }
  return absl::OkStatus();
}

}  // namespace

std::string BuildQuery(const QueryOptions& options) {
  ldns_rdf* name = ldns_dname_new_frm_str(options.name.c_str());
  if (name == nullptr) return "";
  ldns_pkt* pkt =
      ldns_pkt_query_new(name, static_cast<ldns_rr_type>(options.type),
                         static_cast<ldns_rr_class>(options.qclass),
                         options.rd ? LDNS_RD : 0);
  ldns_pkt_set_id(pkt, options.id);
  ldns_pkt_set_opcode(pkt, static_cast<ldns_pkt_opcode>(options.opcode));
  if (options.edns_udp_size >= 0) {
    ldns_pkt_set_edns_udp_size(pkt,
                               static_cast<uint16_t>(options.edns_udp_size));
    ldns_pkt_set_edns_version(pkt, static_cast<uint8_t>(options.edns_version));
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  std::string out;
  if (ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK) {
    out.assign(reinterpret_cast<const char*>(wire), size);
  }
  free(wire);
  ldns_pkt_free(pkt);
  return out;
}

std::vector<std::string> DecodedReply::Answers(const std::string& type) const {
  std::vector<std::string> out;
  for (const DecodedRecord& r : answer) {
    if (r.type == type) out.push_back(r.rdata);
  }
  return out;
}

DecodedReply DecodeReply(const std::string& wire) {
  DecodedReply reply;
  reply.size = wire.size();
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, reinterpret_cast<const uint8_t*>(wire.data()),
                    wire.size()) != LDNS_STATUS_OK) {
    if (pkt != nullptr) ldns_pkt_free(pkt);
    return reply;
  }
  reply.ok = true;
  reply.id = ldns_pkt_id(pkt);
  reply.rcode = ldns_pkt_get_rcode(pkt) | (ldns_pkt_edns_extended_rcode(pkt) << 4);
  reply.opcode = ldns_pkt_get_opcode(pkt);
  reply.qr = ldns_pkt_qr(pkt);
  reply.aa = ldns_pkt_aa(pkt);
  reply.tc = ldns_pkt_tc(pkt);
  reply.rd = ldns_pkt_rd(pkt);
  reply.ra = ldns_pkt_ra(pkt);
  reply.edns = ldns_pkt_edns(pkt);
  reply.edns_udp_size = ldns_pkt_edns_udp_size(pkt);
  DecodeSection(ldns_pkt_question(pkt), true, &reply.question);
  DecodeSection(ldns_pkt_answer(pkt), false, &reply.answer);
  DecodeSection(ldns_pkt_authority(pkt), false, &reply.authority);
  DecodeSection(ldns_pkt_additional(pkt), false, &reply.additional);
  ldns_pkt_free(pkt);
  return reply;
}

absl::StatusOr<std::string> UdpExchange(int port, const std::string& query,
                                        absl::Duration timeout) {
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout);
  Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoToStatus(errno, "connect");
  }
  if (send(fd.get(), query.data(), query.size(), 0) < 0) {
    return ErrnoToStatus(errno, "send");
  }
  KESS_RETURN_IF_ERROR(WaitFd(fd.get(), POLLIN, deadline));
  std::string buf(65536, '\0');
  ssize_t got = recv(fd.get(), buf.data(), buf.size(), 0);
  if (got < 0) return ErrnoToStatus(errno, "recv");
  buf.resize(static_cast<size_t>(got));
  return buf;
}

absl::StatusOr<std::vector<std::string>> TcpExchange(
    int port, const std::vector<std::string>& queries, absl::Duration timeout) {
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout);
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoToStatus(errno, "connect");
  }
  std::string out;
  for (const std::string& q : queries) {
    out.push_back(static_cast<char>(q.size() >> 8));
    out.push_back(static_cast<char>(q.size() & 0xff));
    out += q;
  }
  size_t sent = 0;
  while (sent < out.size()) {
    KESS_RETURN_IF_ERROR(WaitFd(fd.get(), POLLOUT, deadline));
    ssize_t n = send(fd.get(), out.data() + sent, out.size() - sent,
                     MSG_NOSIGNAL);
    if (n < 0) return ErrnoToStatus(errno, "send");
    sent += static_cast<size_t>(n);
  }
  std::vector<std::string> answers;
  for (size_t i = 0; i < queries.size(); ++i) {
    std::string length;
    KESS_RETURN_IF_ERROR(ReadExactly(fd.get(), 2, &length, deadline));
    const size_t n = (static_cast<uint8_t>(length[0]) << 8) |
                     static_cast<uint8_t>(length[1]);
    std::string answer;
    KESS_RETURN_IF_ERROR(ReadExactly(fd.get(), n, &answer, deadline));
    answers.push_back(std::move(answer));
  }
  return answers;
}

}  // namespace testing
}  // namespace dns
}  // namespace agent
}  // namespace kess
