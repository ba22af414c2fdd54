// Both ends of a TCP connection for tests of tests/wan, on 127.0.0.1 only:
// a server that echoes or swallows what it gets, and a client socket with
// bounded reads and writes. Every wait has a timeout; nothing blocks for
// longer than it says.
//
//   auto echo = TcpTestServer::Start(TcpTestServer::Mode::kEcho);
//   auto client = TcpClient::Connect((*echo)->address());
//   ASSERT_TRUE(client->SendAll("ping", absl::Seconds(5)).ok());
//   auto reply = client->ReadExactly(4, absl::Seconds(5));
//
// Thread-safety: TcpTestServer is thread-safe; a TcpClient is used by one
// thread at a time (a reader and a writer thread may share one).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace wan {
namespace testing {

class TcpClient {
 public:
  // Connects to "127.0.0.1:<port>" (blocking, loopback: immediate).
  static absl::StatusOr<std::unique_ptr<TcpClient>> Connect(
      const std::string& address);
  ~TcpClient();

  // Writes all of `data`; DeadlineExceeded if the peer does not take it in
  // `timeout`, Unavailable if the connection failed.
  absl::Status SendAll(absl::string_view data, absl::Duration timeout);
  // Reads exactly `n` bytes; DeadlineExceeded after `timeout`, OutOfRange
  // on EOF before `n` bytes (the bytes read so far are lost).
  absl::StatusOr<std::string> ReadExactly(size_t n, absl::Duration timeout);

  struct ReadResult {
    std::string bytes;  // what arrived in the time
    bool eof = false;   // the peer closed (or reset) the connection
  };
  // Reads whatever arrives for `duration`, or until EOF.
  ReadResult ReadFor(absl::Duration duration);
  // Reads until EOF; DeadlineExceeded if it does not come in `timeout`.
  absl::StatusOr<std::string> ReadToEof(absl::Duration timeout);
  // shutdown(SHUT_WR): the peer sees EOF after the bytes sent.
  void CloseWrite();
  int fd() const { return fd_; }

 private:
  explicit TcpClient(int fd) : fd_(fd) {}
  const int fd_;
};

class TcpTestServer {
 public:
  enum class Mode {
    kEcho,  // writes back every byte; half-closes after the client does
    kSink,  // keeps every byte (received()); closes after the client does
  };
  static absl::StatusOr<std::unique_ptr<TcpTestServer>> Start(Mode mode);
  // Closes every connection, joins its threads.
  ~TcpTestServer();

  std::string address() const;  // "127.0.0.1:<port>"
  int connections() const { return connections_; }
  // kSink: the bytes of every connection so far, in the order accepted;
  // received_eof(i): connection i's client has half-closed.
  std::vector<std::string> received() const;
  bool received_eof(size_t i) const;

 private:
  TcpTestServer(Mode mode, int listen_fd, int port);
  void Serve(int fd, size_t index);

  const Mode mode_;
  const int listen_fd_;
  const int port_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> received_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> eof_ ABSL_GUARDED_BY(mu_);
};

// `n` bytes of a pattern in which every 4-byte word is its own offset, so
// a receiver can tell where a gap, a duplicate or a swap is.
std::string PatternBytes(size_t n);

}  // namespace testing
}  // namespace wan
}  // namespace kess
