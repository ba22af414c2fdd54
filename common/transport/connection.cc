#include "common/transport/connection.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/transport/close_reason.h"
#include "common/transport/socket_util.h"
#include "common/tls/peer_principal.h"
#include "common/tls/tls_context.h"
#include "glog/logging.h"

namespace kess {
namespace transport {
namespace {

constexpr size_t kReadChunkBytes = 64 << 10;
// Reads per readiness event before yielding to other connections; the
// level-triggered epoll reports the rest next iteration.
constexpr int kMaxReadsPerEvent = 16;
constexpr int kMaxIovecs = 64;

// TLS records carry at most 16 KiB; frames smaller than this are batched.
constexpr size_t kTlsRecordBytes = 16 << 10;
// Largest single SSL_write; a retry repeats the same length.
constexpr size_t kTlsMaxWriteBytes = 256 << 10;
// Socket reads through SSL per event (each returns at most one record).
constexpr int kMaxTlsReadsPerEvent = 64;

// Handshake failures come in storms (a fleet with a stale CA bundle, a port
// scanner): at most one log line a second per process, with a count.
bool TlsFailureLogAllowed(uint64_t* suppressed) {
  static std::atomic<int64_t> last_ms{-1000000};
  static std::atomic<uint64_t> skipped{0};
  const int64_t now = EventLoop::NowMs();
  int64_t last = last_ms.load();
  if (now - last < 1000 || !last_ms.compare_exchange_strong(last, now)) {
    skipped.fetch_add(1);
    return false;
  }
  *suppressed = skipped.exchange(0);
  return true;
}

bool IsOrderlyReason(const char* reason) {
  const absl::string_view r(reason);
  return r == close_reason::kPeerClosed || r == close_reason::kLocalClose ||
         r == close_reason::kServerShutdown;
}

}  // namespace

absl::Status ValidateConnectionOptions(const ConnectionOptions& options) {
  if (options.max_frame_bytes < 1 ||
      options.max_send_queue_bytes <
          options.max_frame_bytes + kFrameHeaderBytes) {
    return absl::InvalidArgumentError(
        "need max_frame_bytes >= 1 and max_send_queue_bytes >= "
        "max_frame_bytes + 4");
  }
  return absl::OkStatus();
}

Connection::Connection(EventLoop* loop, int fd, uint64_t id, std::string peer,
                       const ConnectionOptions& options,
                       TransportMetrics* metrics, Delegate* delegate,
                       SSL* ssl)
    : loop_(loop),
      fd_(fd),
      id_(id),
      peer_(std::move(peer)),
      options_(options),
      metrics_(metrics),
      delegate_(delegate),
      ssl_(ssl),
      decoder_(options.max_frame_bytes) {}

Connection::~Connection() {
  if (fd_ >= 0) {
    loop_->Remove(fd_);
    close(fd_);
  }
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (established_ && !closed_) metrics_->ConnectionClosed();
}

absl::Status Connection::Start(bool connecting) {
  connecting_ = connecting;
  last_receive_ms_ = EventLoop::NowMs();
  start_ms_ = last_receive_ms_;
  const uint32_t events = connecting ? EPOLLOUT : EPOLLIN;
  want_write_ = connecting;
  absl::Status status = loop_->Add(fd_, events, this);
  if (!status.ok()) {
    close(fd_);
    fd_ = -1;
    closed_ = true;
    return status;
  }
  if (!connecting) {
    established_ = true;
    metrics_->ConnectionOpened();
    // An accepted TLS connection: the client speaks first.
    if (ssl_ != nullptr) handshaking_ = true;
  }
  return absl::OkStatus();
}

void Connection::OnEvents(uint32_t events) {
  if (closed_) return;  // a stale event from the batch that closed us
  if (handshaking_) {
    DoHandshake();
    // Application data may have come with the handshake's last flight.
    if (closed_ || handshaking_) return;
    events |= EPOLLIN;
  } else if (connecting_) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) FinishConnect();
    return;
  }
  const bool readable = events & (EPOLLIN | EPOLLERR | EPOLLHUP);
  const bool writable = events & EPOLLOUT;
  // EPOLLERR/EPOLLHUP: the read below surfaces the error or the EOF.
  if (readable || (writable && read_wants_write_)) HandleReadable();
  if (!closed_ && (writable || (readable && write_wants_read_))) Flush();
}

void Connection::FinishConnect() {
  absl::Status status = ConnectResult(fd_);
  if (!status.ok()) {
    Close(close_reason::kConnectFailed,
          absl::UnavailableError(absl::StrCat(peer_, ": ", status.message())));
    return;
  }
  if (ssl_ != nullptr) {
    // TCP is up; the client's hello goes out now. connecting_ stays set, so
    // frames are held and the connect timeout covers the handshake.
    handshaking_ = true;
    SetWantWrite(false);
    if (!closed_) DoHandshake();
    return;
  }
  Established();
}

void Connection::Established() {
  connecting_ = false;
  established_ = true;
  metrics_->ConnectionOpened();
  last_receive_ms_ = EventLoop::NowMs();
  SetWantWrite(false);
  delegate_->OnConnected(this);
  if (!closed_ && !send_queue_.empty()) Flush();
}

void Connection::DoHandshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshaking_ = false;
    handshake_done_ = true;
    metrics_->TlsHandshake(SSL_session_reused(ssl_) == 1);
    if (connecting_) {
      Established();  // client: now connected
    } else {
      principal_ = tls::PeerPrincipal(ssl_);  // server: who the peer is
      SetWantWrite(false);
      if (!closed_ && !send_queue_.empty()) Flush();
    }
    return;
  }
  const int error = SSL_get_error(ssl_, r);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      SetWantWrite(false);
      return;
    case SSL_ERROR_WANT_WRITE:
      SetWantWrite(true);
      return;
    default:
      FailHandshake(error);
  }
}

void Connection::FailHandshake(int ssl_error) {
  const unsigned long code = ERR_peek_last_error();
  const char* cause = tls::HandshakeFailureCause(ssl_, ssl_error, code);
  std::string detail = absl::StrCat("TLS handshake failed (", cause, ")");
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    absl::StrAppend(&detail, ": certificate: ",
                    X509_verify_cert_error_string(verify));
  }
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    absl::StrAppend(&detail, ": ", buffer);
  } else if (ssl_error == SSL_ERROR_SYSCALL && errno != 0) {
    absl::StrAppend(&detail, ": ", strerror(errno));
  }
  ERR_clear_error();
  metrics_->TlsHandshakeFailed(cause);
  Close(close_reason::kTlsHandshakeFailed,
        absl::UnavailableError(absl::StrCat(peer_, ": ", detail)));
}

void Connection::HandleReadable() {
  if (ssl_ != nullptr) {
    HandleReadableTls();
    return;
  }
  static thread_local char buffer[kReadChunkBytes];
  for (int i = 0; i < kMaxReadsPerEvent && !closed_; ++i) {
    ssize_t n = read(fd_, buffer, sizeof(buffer));
    if (n > 0) {
      last_receive_ms_ = EventLoop::NowMs();
      decoder_.Feed(absl::string_view(buffer, n));
      DispatchFrames();
      if (static_cast<size_t>(n) < sizeof(buffer)) return;
    } else if (n == 0) {
      Close(close_reason::kPeerClosed, absl::OkStatus());
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else {
      Close(close_reason::kReadError, ErrnoToStatus(errno, "read"));
      return;
    }
  }
}

void Connection::HandleReadableTls() {
  static thread_local char buffer[kReadChunkBytes];
  read_wants_write_ = false;
  // Each SSL_read returns at most one record. After the per-event budget,
  // only what SSL already holds is drained (epoll cannot see it); the rest
  // waits in the socket for the next (level-triggered) event.
  for (int i = 0; !closed_; ++i) {
    if (i >= kMaxTlsReadsPerEvent && SSL_pending(ssl_) == 0) return;
    ERR_clear_error();
    const int n = SSL_read(ssl_, buffer, sizeof(buffer));
    if (n > 0) {
      last_receive_ms_ = EventLoop::NowMs();
      decoder_.Feed(absl::string_view(buffer, n));
      DispatchFrames();
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    switch (error) {
      case SSL_ERROR_WANT_READ:
        return;
      case SSL_ERROR_WANT_WRITE:
        read_wants_write_ = true;
        SetWantWrite(true);
        return;
      case SSL_ERROR_ZERO_RETURN:
        Close(close_reason::kPeerClosed, absl::OkStatus());
        return;
      case SSL_ERROR_SYSCALL:
        if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
          Close(close_reason::kPeerClosed, absl::OkStatus());
        } else {
          Close(close_reason::kReadError, ErrnoToStatus(errno, "SSL_read"));
        }
        return;
      default: {
        const unsigned long code = ERR_peek_last_error();
        if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
          ERR_clear_error();
          Close(close_reason::kPeerClosed, absl::OkStatus());
          return;
        }
        Close(close_reason::kReadError,
              absl::DataLossError(absl::StrCat("SSL_read: ",
                                               ERR_reason_error_string(code)
                                                   ? ERR_reason_error_string(code)
                                                   : "error")));
        ERR_clear_error();
        return;
      }
    }
  }
}

void Connection::DispatchFrames() {
  while (!closed_) {
    Frame frame;
    absl::StatusOr<bool> got = decoder_.Next(&frame);
    if (!got.ok()) {
      Close(decoder_.error_reason(), got.status());
      return;
    }
    if (!*got) return;
    metrics_->FrameReceived();
    ++frames_received_;
    delegate_->OnFrame(this, std::move(frame));
  }
}

bool Connection::Send(const Frame& frame) {
  if (closed_) return false;
  auto bytes = std::make_shared<std::string>();
  absl::Status status =
      AppendEncodedFrame(frame, options_.max_frame_bytes, bytes.get());
  if (!status.ok()) {
    LOG(WARNING) << "transport connection " << id_ << " " << peer_
                 << ": not sending frame: " << status;
    return false;
  }
  return SendEncoded(std::move(bytes));
}

void Connection::SendHeartbeatAck(uint64_t heartbeat_id) {
  Frame ack;
  ack.set_id(heartbeat_id);
  ack.set_kind(Frame::HEARTBEAT_ACK);
  Send(ack);
}

bool Connection::SendEncoded(std::shared_ptr<const std::string> bytes) {
  if (closed_) return false;
  if (queued_bytes_ + bytes->size() > options_.max_send_queue_bytes) {
    Close(close_reason::kSendQueueFull,
          absl::ResourceExhaustedError(
              absl::StrCat(queued_bytes_, " bytes queued, ", bytes->size(),
                           " more would exceed the limit of ",
                           options_.max_send_queue_bytes)));
    return false;
  }
  queued_bytes_ += bytes->size();
  send_queue_.push_back(std::move(bytes));
  metrics_->FrameSent();
  if (!connecting_ && !handshaking_ && !want_write_ && !write_wants_read_) {
    Flush();
  }
  return true;
}

void Connection::FlushTls() {
  write_wants_read_ = false;
  while (!tls_batch_.empty() || !send_queue_.empty()) {
    const char* data;
    size_t length;
    if (tls_batch_.empty() && front_offset_ == 0 &&
        send_queue_.front()->size() < kTlsRecordBytes &&
        send_queue_.size() > 1) {
      // Several small frames: one record.
      while (!send_queue_.empty() &&
             tls_batch_.size() + send_queue_.front()->size() <=
                 kTlsRecordBytes) {
        tls_batch_ += *send_queue_.front();
        send_queue_.pop_front();
      }
      tls_batch_offset_ = 0;
    }
    if (!tls_batch_.empty()) {
      data = tls_batch_.data() + tls_batch_offset_;
      length = tls_batch_.size() - tls_batch_offset_;
    } else {
      const std::string& front = *send_queue_.front();
      data = front.data() + front_offset_;
      length = std::min(front.size() - front_offset_, kTlsMaxWriteBytes);
    }
    ERR_clear_error();
    const int n = SSL_write(ssl_, data, static_cast<int>(length));
    if (n > 0) {
      const size_t written = static_cast<size_t>(n);
      queued_bytes_ -= written;
      if (!tls_batch_.empty()) {
        tls_batch_offset_ += written;
        if (tls_batch_offset_ == tls_batch_.size()) {
          std::string().swap(tls_batch_);
          tls_batch_offset_ = 0;
        }
      } else {
        front_offset_ += written;
        if (front_offset_ == send_queue_.front()->size()) {
          front_offset_ = 0;
          send_queue_.pop_front();
        }
      }
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_WANT_WRITE) {
      SetWantWrite(true);
      return;
    }
    if (error == SSL_ERROR_WANT_READ) {
      write_wants_read_ = true;  // EPOLLIN is always registered
      SetWantWrite(false);
      return;
    }
    const unsigned long code = ERR_peek_last_error();
    absl::Status detail =
        error == SSL_ERROR_SYSCALL && errno != 0
            ? ErrnoToStatus(errno, "SSL_write")
            : absl::UnavailableError(absl::StrCat(
                  "SSL_write: ", ERR_reason_error_string(code) != nullptr
                                     ? ERR_reason_error_string(code)
                                     : "error"));
    ERR_clear_error();
    Close(close_reason::kWriteError, detail);
    return;
  }
  if (!read_wants_write_) SetWantWrite(false);
}

void Connection::Flush() {
  if (ssl_ != nullptr) {
    FlushTls();
    return;
  }
  while (!send_queue_.empty()) {
    iovec iov[kMaxIovecs];
    int count = 0;
    for (auto it = send_queue_.begin();
         it != send_queue_.end() && count < kMaxIovecs; ++it, ++count) {
      const size_t skip = count == 0 ? front_offset_ : 0;
      iov[count].iov_base = const_cast<char*>((*it)->data()) + skip;
      iov[count].iov_len = (*it)->size() - skip;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        SetWantWrite(true);
        return;
      }
      Close(close_reason::kWriteError, ErrnoToStatus(errno, "sendmsg"));
      return;
    }
    size_t written = static_cast<size_t>(n);
    queued_bytes_ -= written;
    while (written > 0) {
      const size_t left = send_queue_.front()->size() - front_offset_;
      if (written < left) {
        front_offset_ += written;
        break;
      }
      written -= left;
      front_offset_ = 0;
      send_queue_.pop_front();
    }
  }
  SetWantWrite(false);
}

void Connection::SetWantWrite(bool want) {
  if (want == want_write_ || closed_) return;
  want_write_ = want;
  absl::Status status =
      loop_->Modify(fd_, want ? (EPOLLIN | EPOLLOUT) : EPOLLIN, this);
  if (!status.ok()) Close(close_reason::kWriteError, status);
}

void Connection::Close(const char* reason, const absl::Status& detail) {
  if (closed_) return;
  closed_ = true;
  // Count before the fd is closed: a peer that sees the close must also see
  // the counter (tests and operators correlate the two).
  if (established_) metrics_->ConnectionClosed();
  metrics_->Disconnected(reason);
  loop_->Remove(fd_);
  if (ssl_ != nullptr) {
    // A close_notify for an orderly close, best effort (never waits).
    if (handshake_done_ && IsOrderlyReason(reason) &&
        absl::string_view(reason) != close_reason::kPeerClosed) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
      ERR_clear_error();
    }
    SSL_free(ssl_);
    ssl_ = nullptr;
    std::string().swap(tls_batch_);
    handshaking_ = false;
  }
  close(fd_);
  fd_ = -1;
  send_queue_.clear();
  queued_bytes_ = 0;
  uint64_t suppressed = 0;
  if (IsOrderlyReason(reason)) {
    VLOG(1) << "transport connection " << id_ << " " << peer_
            << " closed: " << reason;
  } else if (absl::string_view(reason) == close_reason::kTlsHandshakeFailed) {
    if (TlsFailureLogAllowed(&suppressed)) {
      LOG(WARNING) << "transport connection " << id_ << " " << peer_
                   << " closed: " << reason << ": " << detail << " ("
                   << suppressed << " more not logged in the last second)";
    }
  } else {
    LOG(WARNING) << "transport connection " << id_ << " " << peer_
                 << " closed: " << reason << ": " << detail;
  }
  delegate_->OnClosed(this, reason, detail);
}

}  // namespace transport
}  // namespace kess
