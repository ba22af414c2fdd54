// One framed TCP connection on an EventLoop: reads and decodes frames,
// queues encoded frames for sending under a byte bound, and closes itself
// with a reason on any error. Used by both Server (accepted sockets) and
// Client (outgoing connects); neither side's protocol lives here.
//
// TLS: given an SSL object, the connection runs the handshake first (driven
// by the loop, non-blocking both ways), then reads and writes through it.
// A client connection counts as connected, and OnConnected runs, only once
// the handshake is done; frames sent before are held until then. A failed
// handshake closes with "tls_handshake_failed" and counts its cause.
//
// Thread-safety: none. A Connection is created, used and destroyed on its
// loop's thread only. Delegate callbacks run on that thread, never
// re-entrantly from Send() for OnFrame, but OnClosed may run inside Send()
// (queue overflow) or inside Close().
//
// Lifetime: after OnClosed the Connection is inert (Send returns false); the
// owner should destroy it with EventLoop::DeleteSoon, not directly from
// inside a callback, because the loop may still be in its OnEvents().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "common/identity/principal.h"
#include "common/status.h"
#include "common/transport/event_loop.h"
#include "common/transport/frame.pb.h"
#include "common/transport/frame_codec.h"
#include "common/transport/transport_metrics.h"

typedef struct ssl_st SSL;

namespace kess {
namespace transport {

// The method of the credential handshake, answered by the Server itself
// (ServerOptions::credentials) and sent by a Client first
// (ClientOptions::credential); common/identity/authenticate.proto.
inline constexpr char kAuthenticateMethod[] = "kess.Authenticate";

struct ConnectionOptions {
  // Largest frame accepted or sent (length field value).
  size_t max_frame_bytes = kDefaultMaxFrameBytes;
  // Encoded bytes waiting for the socket; a Send() that would exceed this
  // closes the connection with "send_queue_full" (a peer that does not read
  // must not make us buffer without end). Must be >= max_frame_bytes + 4.
  size_t max_send_queue_bytes = 2 * kDefaultMaxFrameBytes;
};

// InvalidArgument unless max_frame_bytes >= 1 and the send queue can hold
// at least one frame of the maximum size.
absl::Status ValidateConnectionOptions(const ConnectionOptions& options);

class Connection : public EventLoop::Handler {
 public:
  class Delegate {
   public:
    virtual ~Delegate() = default;
    // An outgoing connect completed; frames sent before are now flushed.
    virtual void OnConnected(Connection* connection) {}
    // A complete, well-formed frame (its kind is not checked here).
    virtual void OnFrame(Connection* connection, Frame frame) = 0;
    // Called once. `reason` is a close_reason constant; `detail` says more
    // (OK for an orderly close).
    virtual void OnClosed(Connection* connection, const char* reason,
                          const absl::Status& detail) = 0;
  };

  // Takes ownership of `fd` (non-blocking) and of `ssl` (nullptr: plain
  // TCP; else an SSL object on `fd` in accept or connect state, see
  // common/tls). `metrics` and `delegate` must outlive this object. `peer`
  // is used in logs only.
  Connection(EventLoop* loop, int fd, uint64_t id, std::string peer,
             const ConnectionOptions& options, TransportMetrics* metrics,
             Delegate* delegate, SSL* ssl = nullptr);
  // Closes the fd if still open, without calling the delegate.
  ~Connection() override;

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers with the loop. `connecting`: the fd has a connect in progress;
  // OnConnected or OnClosed("connect_failed") follows. On error the fd is
  // closed and the Connection is inert (the delegate is not called).
  absl::Status Start(bool connecting);

  // Queues a frame. Returns false if it was not queued: the connection is
  // closed, the frame is over max_frame_bytes (logged, connection kept), or
  // the queue bound was hit (connection closed, OnClosed already called).
  bool Send(const Frame& frame);
  // The same for an already encoded frame (header included), so a broadcast
  // encodes once for all connections.
  bool SendEncoded(std::shared_ptr<const std::string> bytes);

  // Answers a HEARTBEAT frame with its HEARTBEAT_ACK.
  void SendHeartbeatAck(uint64_t heartbeat_id);

  // Closes now: unregisters, closes the fd, drops the queue, counts and
  // logs `reason`, calls OnClosed. No-op if already closed.
  void Close(const char* reason, const absl::Status& detail);

  uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  bool closed() const { return closed_; }
  bool connected() const { return !closed_ && !connecting_; }
  bool tls() const { return ssl_ != nullptr; }
  // The TLS handshake is still running (always false without TLS).
  bool handshaking() const { return handshaking_; }
  // EventLoop::NowMs() of the last byte received (or of Start()).
  int64_t last_receive_ms() const { return last_receive_ms_; }
  // EventLoop::NowMs() of Start().
  int64_t start_ms() const { return start_ms_; }
  // Complete frames received so far.
  uint64_t frames_received() const { return frames_received_; }
  // The frame limit for frames not yet begun (see FrameDecoder); a server
  // lowers it until the peer authenticates. Takes effect for the next frame
  // header, even for bytes already buffered.
  void set_max_frame_bytes(size_t max_frame_bytes, const char* over_reason) {
    decoder_.set_max_frame_bytes(max_frame_bytes, over_reason);
  }
  size_t queued_bytes() const { return queued_bytes_; }
  // Server side: who the peer is. Anonymous until the TLS handshake
  // verified a client certificate naming a kess principal (read once, when
  // the handshake completes) or the server bound a credential's principal
  // (kess.Authenticate). Never null.
  const std::shared_ptr<const identity::Principal>& principal() const {
    return principal_;
  }
  void set_principal(std::shared_ptr<const identity::Principal> principal) {
    principal_ = std::move(principal);
  }

  void OnEvents(uint32_t events) override;

 private:
  void FinishConnect();
  void Established();
  void DoHandshake();
  void FailHandshake(int ssl_error);
  void HandleReadable();
  void HandleReadableTls();
  void FlushTls();
  void DispatchFrames();
  void Flush();
  void SetWantWrite(bool want);

  EventLoop* const loop_;
  int fd_;
  const uint64_t id_;
  const std::string peer_;
  const ConnectionOptions options_;
  TransportMetrics* const metrics_;
  Delegate* const delegate_;

  SSL* ssl_;
  FrameDecoder decoder_;
  std::deque<std::shared_ptr<const std::string>> send_queue_;
  size_t front_offset_ = 0;  // bytes of send_queue_.front() already written
  size_t queued_bytes_ = 0;
  bool connecting_ = false;
  bool established_ = false;  // counted in the connections gauge
  bool want_write_ = false;   // EPOLLOUT registered
  bool closed_ = false;
  bool handshaking_ = false;
  bool handshake_done_ = false;
  bool read_wants_write_ = false;  // SSL_read said WANT_WRITE
  bool write_wants_read_ = false;  // SSL_write said WANT_READ
  // TLS: small frames are copied together into one record of up to 16 KiB
  // (one SSL_write, one syscall); a retry must repeat the same bytes, so
  // the batch stays until written. Freed when empty.
  std::string tls_batch_;
  size_t tls_batch_offset_ = 0;
  int64_t last_receive_ms_ = 0;
  int64_t start_ms_ = 0;
  uint64_t frames_received_ = 0;
  std::shared_ptr<const identity::Principal> principal_ =
      identity::Anonymous();
};

}  // namespace transport
}  // namespace kess
