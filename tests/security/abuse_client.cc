#include "tests/security/abuse_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kess {
namespace testing {
namespace {

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

int RemainingMs(absl::Time deadline) {
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(ms, 1000)));
}

}  // namespace

absl::StatusOr<MemoryUse> ReadMemoryUse(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  if (!in) return absl::NotFoundError(absl::StrCat("no process ", pid));
  MemoryUse use;
  bool rss = false, hwm = false;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v = line;
    int64_t* target = nullptr;
    if (absl::ConsumePrefix(&v, "VmRSS:")) {
      target = &use.rss_kib;
      rss = true;
    } else if (absl::ConsumePrefix(&v, "VmHWM:")) {
      target = &use.hwm_kib;
      hwm = true;
    } else {
      continue;
    }
    v = absl::StripAsciiWhitespace(v);
    absl::ConsumeSuffix(&v, "kB");
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(v), target)) {
      return absl::InternalError("cannot parse: " + line);
    }
  }
  if (!rss || !hwm) {
    return absl::NotFoundError(absl::StrCat("no VmRSS/VmHWM for ", pid));
  }
  return use;
}

void RaiseOpenFileLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string EmptySubmessages(int field, size_t n) {
  std::string tag;
  AppendVarint((static_cast<uint64_t>(field) << 3) | 2, &tag);
  std::string out;
  out.reserve((tag.size() + 1) * n);
  for (size_t i = 0; i < n; ++i) {
    out.append(tag);
    out.push_back('\0');
  }
  return out;
}

std::string FrameBytes(const std::string& method, const std::string& payload,
                       uint64_t id) {
  std::string body;
  body.push_back(0x08);  // id = 1, varint
  AppendVarint(id, &body);
  body.push_back(0x10);  // kind = 2, varint
  body.push_back(0x01);  // REQUEST
  body.push_back(0x1a);  // method = 3, bytes
  AppendVarint(method.size(), &body);
  body.append(method);
  body.push_back(0x22);  // payload = 4, bytes
  AppendVarint(payload.size(), &body);
  body.append(payload);
  std::string out;
  const uint32_t n = static_cast<uint32_t>(body.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(body);
  return out;
}

absl::StatusOr<AbuseSocket> AbuseSocket::Connect(const std::string& from,
                                                 const std::string& to,
                                                 absl::Duration timeout) {
  const size_t colon = to.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(to.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError("not host:port: " + to);
  }
  sockaddr_in local{}, remote{};
  local.sin_family = remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, from.c_str(), &local.sin_addr) != 1 ||
      inet_pton(AF_INET, to.substr(0, colon).c_str(), &remote.sin_addr) !=
          1) {
    return absl::InvalidArgumentError("bad address: " + from + " / " + to);
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ResourceExhaustedError("socket() failed");
  AbuseSocket s(fd);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    return absl::UnavailableError(absl::StrCat("bind ", from, ": errno ", errno));
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0 &&
      errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("connect ", to, ": errno ", errno));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    pollfd p{fd, POLLOUT, 0};
    const int r = poll(&p, 1, RemainingMs(deadline));
    if (r > 0) break;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("connect " + to + " timed out");
    }
  }
  int error = 0;
  socklen_t len = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    return absl::UnavailableError(absl::StrCat("connect ", to, ": errno ", error));
  }
  return s;
}

AbuseSocket& AbuseSocket::operator=(AbuseSocket&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void AbuseSocket::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

size_t AbuseSocket::Send(const std::string& bytes, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    const ssize_t n =
        send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      break;  // reset or closed by the peer
    }
    if (absl::Now() >= deadline) break;
    pollfd p{fd_, POLLOUT, 0};
    poll(&p, 1, RemainingMs(deadline));
    if (p.revents & (POLLERR | POLLHUP)) break;
  }
  return sent;
}

bool AbuseSocket::WaitClosed(absl::Duration timeout, std::string* received) {
  const absl::Time deadline = absl::Now() + timeout;
  char buffer[16384];
  while (fd_ >= 0) {
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n > 0) {
      if (received != nullptr) received->append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
    if (absl::Now() >= deadline) return false;
    pollfd p{fd_, POLLIN, 0};
    poll(&p, 1, RemainingMs(deadline));
  }
  return true;
}

std::string AbuseSocket::Receive(absl::Duration timeout, size_t max_bytes) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  char buffer[16384];
  while (fd_ >= 0 && out.size() < max_bytes) {
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
    if (absl::Now() >= deadline) break;
    pollfd p{fd_, POLLIN, 0};
    poll(&p, 1, RemainingMs(deadline));
  }
  return out;
}

std::string RawHttpReply::Header(const std::string& lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

absl::StatusOr<RawHttpReply> HttpFrom(
    const std::string& from, const std::string& to, const std::string& method,
    const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<AbuseSocket> s = AbuseSocket::Connect(from, to, timeout);
  if (!s.ok()) return s.status();
  std::string request =
      absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", to,
                   "\r\nConnection: close\r\nContent-Length: ", body.size(),
                   "\r\n");
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  s->Send(request, deadline - absl::Now());
  std::string answer;
  s->WaitClosed(deadline - absl::Now(), &answer);
  const size_t end = answer.find("\r\n\r\n");
  if (end == std::string::npos) {
    return absl::UnavailableError(absl::StrCat(
        "no HTTP answer from ", to, " within ", absl::FormatDuration(timeout),
        " (", answer.size(), " bytes)"));
  }
  std::vector<std::string> lines =
      absl::StrSplit(answer.substr(0, end), "\r\n");
  RawHttpReply reply;
  std::vector<std::string> status = absl::StrSplit(lines[0], ' ');
  if (status.size() < 2 || !absl::SimpleAtoi(status[1], &reply.status)) {
    return absl::InternalError("bad status line: " + lines[0]);
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    reply.headers.emplace_back(
        absl::AsciiStrToLower(lines[i].substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  reply.body = answer.substr(end + 4);
  return reply;
}

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const size_t rank = static_cast<size_t>(
      std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::min(samples.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace testing
}  // namespace kess
