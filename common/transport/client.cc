#include "common/transport/client.h"

#include <unistd.h>

#include <atomic>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/steady_await.h"
#include "common/identity/authenticate.pb.h"
#include "common/transport/close_reason.h"
#include "common/transport/socket_util.h"
#include "glog/logging.h"

namespace kess {
namespace transport {
namespace {

std::atomic<uint64_t> next_client_connection_id{1};

// CallSync waits this long past the call's own deadline before giving up on
// a loop that does not run the timeout.
constexpr absl::Duration kCallSyncGrace = absl::Seconds(10);

// What WaitConnected and failed calls report after a close.
absl::Status ClosedStatus(const char* reason, const absl::Status& detail) {
  if (detail.ok()) {
    return absl::UnavailableError(absl::StrCat("connection closed: ", reason));
  }
  const absl::StatusCode code =
      detail.code() == absl::StatusCode::kDeadlineExceeded
          ? absl::StatusCode::kDeadlineExceeded
          : absl::StatusCode::kUnavailable;
  return absl::Status(code, absl::StrCat(reason, ": ", detail.message()));
}

}  // namespace

// All members below the mutex are touched only on the loop thread.
class Client::Impl : public Connection::Delegate,
                     public std::enable_shared_from_this<Impl> {
 public:
  Impl(EventLoop* loop, ClientOptions options, ClientCallbacks callbacks)
      : loop_(loop),
        options_(std::move(options)),
        callbacks_(std::move(callbacks)),
        metrics_(options_.registry, "client") {}

  void Start(int fd, bool in_progress, std::string peer);
  // Sends kess.Authenticate when options_.credential is set.
  void StartAuthenticate();
  void StartCall(std::string method, std::string payload,
                 absl::Duration timeout, CallCallback done);
  void CloseLocally();
  void Shutdown();

  absl::Status WaitConnected(absl::Duration timeout);
  ClientState state() const {
    absl::MutexLock lock(&mu_);
    return state_;
  }

  EventLoop* loop() const { return loop_; }

  // Connection::Delegate
  void OnConnected(Connection* connection) override;
  void OnFrame(Connection* connection, Frame frame) override;
  void OnClosed(Connection* connection, const char* reason,
                const absl::Status& detail) override;

 private:
  struct PendingCall {
    CallCallback done;
    EventLoop::TimerId timer = 0;
  };

  void SetState(ClientState state, absl::Status status);
  void Heartbeat();
  void ScheduleHeartbeat();
  void OnCallTimeout(uint64_t id);
  void FailAllCalls(const absl::Status& status);

  EventLoop* const loop_;
  const ClientOptions options_;
  ClientCallbacks callbacks_;  // cleared by Shutdown
  TransportMetrics metrics_;

  mutable absl::Mutex mu_;
  ClientState state_ ABSL_GUARDED_BY(mu_) = ClientState::kConnecting;
  absl::Status close_status_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<Connection> connection_;
  std::unordered_map<uint64_t, PendingCall> pending_;
  uint64_t next_frame_id_ = 1;
  EventLoop::TimerId connect_timer_ = 0;
  EventLoop::TimerId heartbeat_timer_ = 0;
  bool connected_once_ = false;
  bool shut_down_ = false;
};

void Client::Impl::SetState(ClientState state, absl::Status status) {
  absl::MutexLock lock(&mu_);
  state_ = state;
  close_status_ = std::move(status);
}

void Client::Impl::Start(int fd, bool in_progress, std::string peer) {
  SSL* ssl = nullptr;
  if (options_.tls != nullptr) {
    ssl = options_.tls->NewSsl(fd,
                               options_.tls_server_name.empty()
                                   ? options_.host
                                   : options_.tls_server_name,
                               peer);
    if (ssl == nullptr) {
      close(fd);
      metrics_.Disconnected(close_reason::kTlsHandshakeFailed);
      connection_ = std::make_unique<Connection>(
          loop_, -1, next_client_connection_id.fetch_add(1), std::move(peer),
          options_.connection, &metrics_, this);
      OnClosed(connection_.get(), close_reason::kTlsHandshakeFailed,
               absl::UnavailableError("TLS: cannot set up the connection "
                                      "(see the log)"));
      return;
    }
    // Even a connect that completed at once goes through the handshake
    // first (Connection::FinishConnect).
    in_progress = true;
  }
  connection_ = std::make_unique<Connection>(
      loop_, fd, next_client_connection_id.fetch_add(1), std::move(peer),
      options_.connection, &metrics_, this, ssl);
  absl::Status status = connection_->Start(in_progress);
  if (!status.ok()) {
    metrics_.Disconnected(close_reason::kConnectFailed);
    OnClosed(connection_.get(), close_reason::kConnectFailed, status);
    return;
  }
  if (!in_progress) {
    OnConnected(connection_.get());
    return;
  }
  std::weak_ptr<Impl> weak = weak_from_this();
  connect_timer_ = loop_->RunAfter(options_.connect_timeout, [weak] {
    std::shared_ptr<Impl> self = weak.lock();
    if (self == nullptr) return;
    self->connect_timer_ = 0;
    if (self->connection_ != nullptr && !self->connection_->closed() &&
        !self->connection_->connected()) {
      self->connection_->Close(
          close_reason::kConnectTimeout,
          absl::DeadlineExceededError(absl::StrCat(
              "connect to ", self->connection_->peer(), " took over ",
              absl::FormatDuration(self->options_.connect_timeout))));
    }
  });
}

void Client::Impl::OnConnected(Connection* connection) {
  std::shared_ptr<Impl> keep = shared_from_this();
  if (connect_timer_ != 0) loop_->CancelTimer(connect_timer_);
  connect_timer_ = 0;
  connected_once_ = true;
  SetState(ClientState::kConnected, absl::OkStatus());
  ScheduleHeartbeat();
  if (callbacks_.on_connect) callbacks_.on_connect(absl::OkStatus());
}

void Client::Impl::ScheduleHeartbeat() {
  absl::Duration every = options_.heartbeat_interval;
  if (every <= absl::ZeroDuration()) every = options_.heartbeat_timeout / 4;
  if (every <= absl::ZeroDuration()) return;
  std::weak_ptr<Impl> weak = weak_from_this();
  heartbeat_timer_ = loop_->RunAfter(every, [weak] {
    if (std::shared_ptr<Impl> self = weak.lock()) self->Heartbeat();
  });
}

void Client::Impl::Heartbeat() {
  heartbeat_timer_ = 0;
  if (connection_ == nullptr || !connection_->connected()) return;
  const int64_t silent = EventLoop::NowMs() - connection_->last_receive_ms();
  if (options_.heartbeat_timeout > absl::ZeroDuration() &&
      absl::Milliseconds(silent) > options_.heartbeat_timeout) {
    connection_->Close(close_reason::kHeartbeatTimeout,
                       absl::DeadlineExceededError(absl::StrCat(
                           "nothing from the server for ", silent, " ms")));
    return;
  }
  if (options_.heartbeat_interval > absl::ZeroDuration()) {
    Frame frame;
    frame.set_id(next_frame_id_++);
    frame.set_kind(Frame::HEARTBEAT);
    if (!connection_->Send(frame)) return;  // closed; OnClosed ran
  }
  ScheduleHeartbeat();
}

void Client::Impl::StartCall(std::string method, std::string payload,
                             absl::Duration timeout, CallCallback done) {
  std::shared_ptr<Impl> keep = shared_from_this();
  if (connection_ == nullptr || connection_->closed()) {
    done(shut_down_ ? absl::CancelledError("client destroyed")
                    : absl::UnavailableError("not connected"));
    return;
  }
  const uint64_t id = next_frame_id_++;
  Frame frame;
  frame.set_id(id);
  frame.set_kind(Frame::REQUEST);
  frame.set_protocol_version(static_cast<uint32_t>(options_.protocol_version));
  frame.set_method(std::move(method));
  frame.set_payload(std::move(payload));
  auto bytes = std::make_shared<std::string>();
  absl::Status status = AppendEncodedFrame(
      frame, options_.connection.max_frame_bytes, bytes.get());
  if (!status.ok()) {
    done(status);
    return;
  }
  PendingCall& call = pending_[id];
  call.done = std::move(done);
  std::weak_ptr<Impl> weak = weak_from_this();
  call.timer = loop_->RunAfter(timeout, [weak, id] {
    if (std::shared_ptr<Impl> self = weak.lock()) self->OnCallTimeout(id);
  });
  // On failure the connection closed and OnClosed failed this call too.
  connection_->SendEncoded(std::move(bytes));
}

void Client::Impl::StartAuthenticate() {
  if (options_.credential == nullptr) return;
  const identity::CredentialFile& c = *options_.credential;
  identity::AuthenticateRequest request;
  request.set_kind(identity::KindName(c.kind));
  request.set_name(c.name);
  request.set_dc(c.dc);
  request.set_secret(c.secret);
  const std::string who = identity::PrincipalUri(c.kind, c.name, c.dc);
  const std::string host = options_.host;
  const int port = options_.port;
  StartCall(kAuthenticateMethod, request.SerializeAsString(),
            options_.authenticate_timeout,
            [who, host, port](absl::StatusOr<std::string> result) {
              if (result.ok() || absl::IsUnavailable(result.status()) ||
                  absl::IsCancelled(result.status())) {
                return;
              }
              static std::atomic<int64_t> last_log_ms{0};
              const int64_t now = EventLoop::NowMs();
              int64_t last = last_log_ms.load();
              if (now - last < 1000 ||
                  !last_log_ms.compare_exchange_strong(last, now)) {
                return;
              }
              LOG(WARNING) << "transport client: " << host << ":" << port
                  << " refused the credential of " << who << ": "
                  << result.status();
            });
}

void Client::Impl::OnCallTimeout(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  CallCallback done = std::move(it->second.done);
  pending_.erase(it);
  done(absl::DeadlineExceededError("call timed out"));
}

void Client::Impl::OnFrame(Connection* connection, Frame frame) {
  std::shared_ptr<Impl> keep = shared_from_this();
  switch (frame.kind()) {
    case Frame::RESPONSE: {
      auto it = pending_.find(frame.id());
      if (it == pending_.end()) return;  // timed out already
      CallCallback done = std::move(it->second.done);
      loop_->CancelTimer(it->second.timer);
      pending_.erase(it);
      absl::Status version = CheckPeerProtocolVersion(
          PeerProtocolVersion(frame.protocol_version()),
          options_.min_protocol_version, "server");
      if (!version.ok()) {
        metrics_.ProtocolRefused();
        LogProtocolRefused(version);
        done(version);
        return;
      }
      if (frame.status_code() == 0) {
        done(std::move(*frame.mutable_payload()));
      } else {
        done(absl::Status(static_cast<absl::StatusCode>(frame.status_code()),
                          frame.status_message()));
      }
      return;
    }
    case Frame::PUSH:
      if (callbacks_.on_push) {
        callbacks_.on_push(frame.method(), std::move(*frame.mutable_payload()));
      }
      return;
    case Frame::HEARTBEAT:
      connection->SendHeartbeatAck(frame.id());
      return;
    case Frame::HEARTBEAT_ACK:
      return;  // liveness is any received byte
    default:
      connection->Close(
          close_reason::kUnexpectedFrame,
          absl::InvalidArgumentError(
              absl::StrCat("a server may not send frame kind ", frame.kind())));
  }
}

void Client::Impl::FailAllCalls(const absl::Status& status) {
  std::unordered_map<uint64_t, PendingCall> calls;
  calls.swap(pending_);
  for (auto& entry : calls) {
    loop_->CancelTimer(entry.second.timer);
    entry.second.done(status);
  }
}

void Client::Impl::OnClosed(Connection* connection, const char* reason,
                            const absl::Status& detail) {
  std::shared_ptr<Impl> keep = shared_from_this();
  const bool was_connected = connected_once_;
  if (connect_timer_ != 0) loop_->CancelTimer(connect_timer_);
  if (heartbeat_timer_ != 0) loop_->CancelTimer(heartbeat_timer_);
  connect_timer_ = heartbeat_timer_ = 0;

  absl::Status status = ClosedStatus(reason, detail);
  SetState(ClientState::kClosed, status);
  FailAllCalls(shut_down_ ? absl::CancelledError("client destroyed")
                          : absl::UnavailableError(status.message()));
  if (was_connected) {
    if (callbacks_.on_disconnect) callbacks_.on_disconnect(reason, detail);
  } else if (callbacks_.on_connect) {
    callbacks_.on_connect(status);
  }
  loop_->DeleteSoon(std::move(connection_));
}

void Client::Impl::CloseLocally() {
  if (connection_ != nullptr && !connection_->closed()) {
    connection_->Close(close_reason::kLocalClose, absl::OkStatus());
  }
}

void Client::Impl::Shutdown() {
  shut_down_ = true;
  callbacks_ = ClientCallbacks();
  CloseLocally();
  FailAllCalls(absl::CancelledError("client destroyed"));
}

absl::Status Client::Impl::WaitConnected(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return state_ != ClientState::kConnecting;
  };
  AwaitWithSteadyTimeout(&mu_, absl::Condition(&done), timeout);
  switch (state_) {
    case ClientState::kConnected:
      return absl::OkStatus();
    case ClientState::kClosed:
      return close_status_;
    default:
      return absl::DeadlineExceededError("still connecting");
  }
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    EventLoop* loop, ClientOptions options, ClientCallbacks callbacks) {
  KESS_RETURN_IF_ERROR(ValidateConnectionOptions(options.connection));
  if (options.tls != nullptr && options.tls->side() != tls::TlsSide::kClient) {
    return absl::InvalidArgumentError("ClientOptions.tls: not a client context");
  }
  KESS_ASSIGN_OR_RETURN(SocketAddress address,
                        ResolveAddress(options.host, options.port));
  bool in_progress = false;
  KESS_ASSIGN_OR_RETURN(int fd, StartConnect(address, &in_progress));
  auto impl =
      std::make_shared<Impl>(loop, std::move(options), std::move(callbacks));
  std::string peer = AddressToString(address);
  loop->RunInLoop([impl, fd, in_progress, peer] {
    impl->Start(fd, in_progress, peer);
    impl->StartAuthenticate();
  });
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  if (impl_->loop()->InLoopThread()) {
    impl_->Shutdown();
    return;
  }
  absl::Notification done;
  std::shared_ptr<Impl> impl = impl_;
  impl_->loop()->Post([impl, &done] {
    impl->Shutdown();
    done.Notify();
  });
  done.WaitForNotification();
}

absl::Status Client::WaitConnected(absl::Duration timeout) {
  if (impl_->loop()->InLoopThread()) {
    return absl::FailedPreconditionError("WaitConnected on the loop thread");
  }
  return impl_->WaitConnected(timeout);
}

ClientState Client::state() const { return impl_->state(); }

void Client::Call(std::string method, std::string payload,
                  absl::Duration timeout, CallCallback done) {
  std::shared_ptr<Impl> impl = impl_;
  impl_->loop()->RunInLoop([impl, method = std::move(method),
                            payload = std::move(payload), timeout,
                            done = std::move(done)]() mutable {
    impl->StartCall(std::move(method), std::move(payload), timeout,
                    std::move(done));
  });
}

absl::StatusOr<std::string> Client::CallSync(std::string method,
                                             std::string payload,
                                             absl::Duration timeout) {
  if (impl_->loop()->InLoopThread()) {
    return absl::FailedPreconditionError("CallSync on the loop thread");
  }
  struct Result {
    SteadyNotification done;
    absl::StatusOr<std::string> value;
  };
  auto result = std::make_shared<Result>();
  Call(std::move(method), std::move(payload), timeout,
       [result](absl::StatusOr<std::string> value) {
         result->value = std::move(value);
         result->done.Notify();
       });
  if (!result->done.WaitForNotificationWithTimeout(timeout + kCallSyncGrace)) {
    return absl::DeadlineExceededError("event loop did not answer");
  }
  return std::move(result->value);
}

void Client::Close() {
  std::shared_ptr<Impl> impl = impl_;
  impl_->loop()->RunInLoop([impl] { impl->CloseLocally(); });
}

}  // namespace transport
}  // namespace kess
