#include "common/transport/connection.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/transport/close_reason.h"
#include "common/transport/socket_util.h"
#include "glog/logging.h"

namespace kess {
namespace transport {
namespace {

constexpr size_t kReadChunkBytes = 64 << 10;
// Reads per readiness event before yielding to other connections; the
// level-triggered epoll reports the rest next iteration.
constexpr int kMaxReadsPerEvent = 16;
constexpr int kMaxIovecs = 64;

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
                       TransportMetrics* metrics, Delegate* delegate)
    : loop_(loop),
      fd_(fd),
      id_(id),
      peer_(std::move(peer)),
      options_(options),
      metrics_(metrics),
      delegate_(delegate),
      decoder_(options.max_frame_bytes) {}

Connection::~Connection() {
  if (fd_ >= 0) {
    loop_->Remove(fd_);
    close(fd_);
  }
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
  }
  return absl::OkStatus();
}

void Connection::OnEvents(uint32_t events) {
  if (closed_) return;  // a stale event from the batch that closed us
  if (connecting_) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) FinishConnect();
    return;
  }
  // EPOLLERR/EPOLLHUP: the read below surfaces the error or the EOF.
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) HandleReadable();
  if (!closed_ && (events & EPOLLOUT)) Flush();
}

void Connection::FinishConnect() {
  absl::Status status = ConnectResult(fd_);
  if (!status.ok()) {
    Close(close_reason::kConnectFailed,
          absl::UnavailableError(absl::StrCat(peer_, ": ", status.message())));
    return;
  }
  connecting_ = false;
  established_ = true;
  metrics_->ConnectionOpened();
  last_receive_ms_ = EventLoop::NowMs();
  SetWantWrite(false);
  delegate_->OnConnected(this);
  if (!closed_ && !send_queue_.empty()) Flush();
}

void Connection::HandleReadable() {
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
  if (!connecting_ && !want_write_) Flush();
  return true;
}

void Connection::Flush() {
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
  close(fd_);
  fd_ = -1;
  send_queue_.clear();
  queued_bytes_ = 0;
  if (IsOrderlyReason(reason)) {
    VLOG(1) << "transport connection " << id_ << " " << peer_
            << " closed: " << reason;
  } else {
    LOG(WARNING) << "transport connection " << id_ << " " << peer_
                 << " closed: " << reason << ": " << detail;
  }
  delegate_->OnClosed(this, reason, detail);
}

}  // namespace transport
}  // namespace kess
