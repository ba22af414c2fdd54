#include "common/transport/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/identity/authenticate.pb.h"
#include "common/transport/close_reason.h"
#include "common/transport/socket_util.h"
#include "glog/logging.h"

namespace kess {
namespace transport {
namespace {

constexpr int kMaxAcceptsPerEvent = 256;
// After EMFILE and the like, stop accepting for a moment instead of spinning
// on a listen socket that stays readable.
constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);

// "1.2.3.4:5678" -> "1.2.3.4", "[::1]:5678" -> "[::1]".
std::string HostOf(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

}  // namespace

// Per-loop state; `connections` is touched only on that loop's thread.
struct Server::Loop {
  size_t index = 0;
  std::unique_ptr<EventLoop> event_loop;
  std::unique_ptr<ConnectionDelegate> delegate;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  // Connections not yet trusted (only when the server needs trust), with
  // the requests each has sent.
  std::unordered_map<uint64_t, size_t> untrusted;
  EventLoop::TimerId sweep_timer = 0;
};

class Server::ConnectionDelegate : public Connection::Delegate {
 public:
  ConnectionDelegate(Server* server, Loop* loop)
      : server_(server), loop_(loop) {}
  void OnFrame(Connection* connection, Frame frame) override {
    server_->OnFrame(*loop_, connection, std::move(frame));
  }
  void OnClosed(Connection* connection, const char* reason,
                const absl::Status& detail) override {
    server_->OnClosed(*loop_, connection, reason);
  }

 private:
  Server* const server_;
  Loop* const loop_;
};

// The listening socket, on loops_[0].
class Server::Acceptor : public EventLoop::Handler {
 public:
  Acceptor(Server* server, EventLoop* loop, int fd)
      : server_(server), loop_(loop), fd_(fd) {}
  ~Acceptor() override { close(fd_); }

  absl::Status Start() { return loop_->Add(fd_, EPOLLIN, this); }
  // Loop thread.
  void Stop() {
    loop_->Remove(fd_);
    if (resume_timer_ != 0) loop_->CancelTimer(resume_timer_);
    stopped_ = true;
  }

  void OnEvents(uint32_t events) override {
    if (stopped_ || paused_) return;
    for (int i = 0; i < kMaxAcceptsPerEvent; ++i) {
      int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        std::string peer = PeerAddressOf(fd);
        if (!server_->Admit(HostOf(peer))) {
          close(fd);
          continue;
        }
        SetNoDelay(fd);
        server_->Adopt(fd, std::move(peer));
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      server_->metrics_.AcceptError();
      LOG(WARNING) << "transport server: " << ErrnoToStatus(errno, "accept")
                   << "; pausing accepts for " << kAcceptPause;
      Pause();
      return;
    }
  }

 private:
  void Pause() {
    paused_ = true;
    (void)loop_->Modify(fd_, 0, this);
    resume_timer_ = loop_->RunAfter(kAcceptPause, [this] {
      resume_timer_ = 0;
      paused_ = false;
      if (!stopped_) (void)loop_->Modify(fd_, EPOLLIN, this);
    });
  }

  Server* const server_;
  EventLoop* const loop_;
  const int fd_;
  bool paused_ = false;
  bool stopped_ = false;
  EventLoop::TimerId resume_timer_ = 0;
};

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    ServerOptions options, HandlerMap handlers, ServerCallbacks callbacks) {
  if (options.num_loops < 1 || options.num_loops > 64) {
    return absl::InvalidArgumentError("num_loops must be in [1, 64]");
  }
  for (const auto& [method, type] : options.request_types) {
    if (type == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("request_types: no descriptor for ", method));
    }
  }
  KESS_RETURN_IF_ERROR(ValidateConnectionOptions(options.connection));
  if (options.tls != nullptr && options.tls->side() != tls::TlsSide::kServer) {
    return absl::InvalidArgumentError("ServerOptions.tls: not a server context");
  }
  KESS_ASSIGN_OR_RETURN(SocketAddress address,
                        ResolveAddress(options.host, options.port));
  KESS_ASSIGN_OR_RETURN(int listen_fd,
                        ListenOn(address, options.listen_backlog));
  absl::StatusOr<int> port = LocalPortOf(listen_fd);
  if (!port.ok()) {
    close(listen_fd);
    return port.status();
  }

  std::unique_ptr<Server> server(new Server(
      std::move(options), std::move(handlers), std::move(callbacks)));
  server->port_ = *port;
  for (int i = 0; i < server->options_.num_loops; ++i) {
    absl::StatusOr<std::unique_ptr<EventLoop>> event_loop =
        EventLoop::Create(absl::StrCat("kess-srv-", i));
    if (!event_loop.ok()) {
      close(listen_fd);
      return event_loop.status();  // ~Server stops the loops made so far
    }
    auto loop = std::make_unique<Loop>();
    loop->index = i;
    loop->event_loop = std::move(event_loop).value();
    loop->delegate =
        std::make_unique<ConnectionDelegate>(server.get(), loop.get());
    server->loops_.push_back(std::move(loop));
  }
  server->acceptor_ = std::make_unique<Acceptor>(
      server.get(), server->loops_[0]->event_loop.get(), listen_fd);
  KESS_RETURN_IF_ERROR(server->acceptor_->Start());
  if (server->options_.heartbeat_timeout > absl::ZeroDuration() ||
      server->options_.first_frame_timeout > absl::ZeroDuration() ||
      server->options_.trust_timeout > absl::ZeroDuration()) {
    for (auto& loop : server->loops_) {
      Loop* raw = loop.get();
      Server* s = server.get();
      raw->event_loop->Post([s, raw] { s->SweepSilent(*raw); });
    }
  }
  return server;
}

Server::Server(ServerOptions options, HandlerMap handlers,
               ServerCallbacks callbacks)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      callbacks_(std::move(callbacks)),
      metrics_(options_.registry, "server"),
      link_(std::make_shared<ResponderLink>(
          [this](uint64_t id, std::shared_ptr<const std::string> bytes) {
            SendTo(id, std::move(bytes));
          })) {
  if (options_.credentials != nullptr) {
    metrics::Registry* registry = options_.registry != nullptr
                                      ? options_.registry
                                      : &metrics::Registry::Default();
    auto counter = [registry](const char* result) {
      return registry->GetCounter(
          "kess_transport_authentications_total",
          "kess.Authenticate outcomes on transport servers: ok, failed "
          "(closed), revoked (a connection's credential revoked since; "
          "closed at its next request).",
          {{"result", result}});
    };
    auth_ok_ = counter("ok");
    auth_failed_ = counter("failed");
    auth_revoked_ = counter("revoked");
  }
}

Server::~Server() {
  link_->Detach();
  std::vector<std::unique_ptr<absl::Notification>> done;
  for (auto& loop : loops_) {
    done.push_back(std::make_unique<absl::Notification>());
    Loop* raw = loop.get();
    absl::Notification* notification = done.back().get();
    raw->event_loop->Post([this, raw, notification] {
      if (raw->index == 0 && acceptor_ != nullptr) acceptor_->Stop();
      if (raw->sweep_timer != 0) raw->event_loop->CancelTimer(raw->sweep_timer);
      std::vector<Connection*> open;
      for (auto& entry : raw->connections) open.push_back(entry.second.get());
      for (Connection* c : open) {
        c->Close(close_reason::kServerShutdown, absl::OkStatus());
      }
      notification->Notify();
    });
  }
  for (auto& notification : done) notification->WaitForNotification();
  // Join every loop thread before any per-loop state goes away; leftover
  // tasks (the closed connections' DeleteSoon) are destroyed here.
  for (auto& loop : loops_) loop->event_loop.reset();
  loops_.clear();
}

Server::Loop& Server::LoopFor(uint64_t connection_id) {
  return *loops_[connection_id % loops_.size()];
}

void Server::Adopt(int fd, std::string peer) {
  const uint64_t id = next_connection_id_.fetch_add(1);
  Loop* loop = &LoopFor(id);
  loop->event_loop->RunInLoop([this, loop, fd, id, peer = std::move(peer)] {
    SSL* ssl = nullptr;
    if (options_.tls != nullptr) {
      ssl = options_.tls->NewSsl(fd, "");
      if (ssl == nullptr) {  // logged
        close(fd);
        Release(HostOf(peer));
        return;
      }
    }
    auto connection = std::make_unique<Connection>(
        loop->event_loop.get(), fd, id, peer, options_.connection, &metrics_,
        loop->delegate.get(), ssl);
    absl::Status status = connection->Start(/*connecting=*/false);
    if (!status.ok()) {
      LOG(WARNING) << "transport server: dropping connection from " << peer
                   << ": " << status;
      Release(HostOf(peer));
      return;
    }
    if (NeedsTrust()) {
      loop->untrusted.emplace(id, 0);
      if (options_.untrusted_max_frame_bytes > 0) {
        connection->set_max_frame_bytes(
            std::min(options_.untrusted_max_frame_bytes,
                     options_.connection.max_frame_bytes),
            close_reason::kUntrustedFrameTooLarge);
      }
    }
    loop->connections.emplace(id, std::move(connection));
    connection_count_.fetch_add(1);
    if (callbacks_.on_connect) callbacks_.on_connect(id, peer);
  });
}

void Server::OnFrame(Loop& loop, Connection* connection, Frame frame) {
  switch (frame.kind()) {
    case Frame::REQUEST: {
      if (options_.untrusted_max_requests > 0) {
        auto untrusted = loop.untrusted.find(connection->id());
        if (untrusted != loop.untrusted.end() &&
            ++untrusted->second > options_.untrusted_max_requests) {
          RespondAndClose(
              loop, connection, frame.id(),
              absl::PermissionDeniedError(absl::StrCat(
                  "more than ", options_.untrusted_max_requests,
                  " requests before authenticating")),
              close_reason::kUntrustedRequestLimit);
          return;
        }
      }
      absl::Status version = CheckPeerProtocolVersion(
          PeerProtocolVersion(frame.protocol_version()),
          options_.min_protocol_version, "client");
      if (!version.ok()) {
        metrics_.ProtocolRefused();
        LogProtocolRefused(version);
        Responder(link_, connection->id(), frame.id(),
                  options_.connection.max_frame_bytes)
            .Respond(version);
        return;
      }
      if (options_.credentials != nullptr) {
        const identity::Principal& principal = *connection->principal();
        if (principal.proof == identity::Proof::kCredential &&
            !options_.credentials->StillValid(principal)) {
          auth_revoked_->Increment();
          RespondAndClose(
              loop, connection, frame.id(),
              absl::UnauthenticatedError(absl::StrCat(
                  "the credential of ", principal.Uri(),
                  " was revoked; authenticate again with a new one")),
              close_reason::kCredentialRevoked);
          return;
        }
        if (frame.method() == kAuthenticateMethod) {
          Authenticate(loop, connection, frame);
          return;
        }
      }
      auto it = handlers_.find(frame.method());
      if (it == handlers_.end()) {
        Responder(link_, connection->id(), frame.id(),
                  options_.connection.max_frame_bytes)
            .Respond(absl::UnimplementedError(
                absl::StrCat("no handler for method '", frame.method(), "'")));
        return;
      }
      auto type = options_.request_types.find(frame.method());
      if (type != options_.request_types.end()) {
        absl::Status budget = CheckWireBudget(
            frame.payload(), *type->second, options_.request_budget);
        // Malformed but within budget goes to the handler, whose parse fails
        // cheaply (the scan stops at the first element over budget, so a
        // bomb with a bad tail is over budget, not malformed).
        if (absl::IsResourceExhausted(budget)) {
          // Answered, so a confused but honest client sees why; then closed:
          // a peer that sends this is not one to keep reading from.
          Responder(link_, connection->id(), frame.id(),
                    options_.connection.max_frame_bytes)
              .Respond(absl::ResourceExhaustedError(
                  absl::StrCat(frame.method(), ": ", budget.message())));
          const uint64_t id = connection->id();
          // After the answer, which is posted: close in a posted task too.
          loop.event_loop->Post([&loop, id, budget] {
            auto it = loop.connections.find(id);
            if (it != loop.connections.end()) {
              it->second->Close(close_reason::kPayloadOverBudget, budget);
            }
          });
          // Stop reading its further frames now.
          connection->set_max_frame_bytes(1, close_reason::kPayloadOverBudget);
          return;
        }
      }
      Request request;
      request.connection_id = connection->id();
      request.method = std::move(*frame.mutable_method());
      request.payload = std::move(*frame.mutable_payload());
      request.principal = connection->principal();
      it->second(std::move(request),
                 Responder(link_, connection->id(), frame.id(),
                           options_.connection.max_frame_bytes));
      return;
    }
    case Frame::HEARTBEAT:
      connection->SendHeartbeatAck(frame.id());
      return;
    case Frame::HEARTBEAT_ACK:
      return;
    default:
      connection->Close(
          close_reason::kUnexpectedFrame,
          absl::InvalidArgumentError(
              absl::StrCat("a client may not send frame kind ", frame.kind())));
  }
}

void Server::RespondAndClose(Loop& loop, Connection* connection,
                             uint64_t frame_id, const absl::Status& status,
                             const char* reason) {
  Responder(link_, connection->id(), frame_id,
            options_.connection.max_frame_bytes)
      .Respond(status);
  const uint64_t id = connection->id();
  // After the answer, which is posted: close in a posted task too.
  loop.event_loop->Post([&loop, id, status, reason] {
    auto it = loop.connections.find(id);
    if (it != loop.connections.end()) it->second->Close(reason, status);
  });
  // Stop reading its further frames now.
  connection->set_max_frame_bytes(1, reason);
}

void Server::Authenticate(Loop& loop, Connection* connection,
                          const Frame& frame) {
  identity::AuthenticateRequest request;
  absl::StatusOr<std::shared_ptr<const identity::Principal>> principal =
      absl::UnauthenticatedError("kess.Authenticate: malformed request");
  if (request.ParseFromString(frame.payload())) {
    absl::StatusOr<identity::Kind> kind = identity::ParseKind(request.kind());
    if (!kind.ok()) {
      principal = absl::UnauthenticatedError(
          absl::StrCat("kess.Authenticate: ", kind.status().message()));
    } else {
      principal = options_.credentials->Authenticate(
          *kind, request.name(), request.dc(), request.secret());
    }
  }
  if (!principal.ok()) {
    auth_failed_->Increment();
    static std::atomic<int64_t> last_log_ms{0};
    const int64_t now = EventLoop::NowMs();
    int64_t last = last_log_ms.load();
    if (now - last >= 1000 && last_log_ms.compare_exchange_strong(last, now)) {
      LOG(WARNING) << "transport server: " << connection->peer() << ": "
                   << principal.status().message()
                   << " (closing; logged at most once a second)";
    }
    RespondAndClose(loop, connection, frame.id(), principal.status(),
                    close_reason::kAuthenticationFailed);
    return;
  }
  auth_ok_->Increment();
  identity::AuthenticateResponse response;
  response.set_principal((*principal)->Uri());
  connection->set_principal(std::move(*principal));
  TrustOnLoop(loop, connection->id());
  Responder(link_, connection->id(), frame.id(),
            options_.connection.max_frame_bytes)
      .Respond(response.SerializeAsString());
}

void Server::OnClosed(Loop& loop, Connection* connection, const char* reason) {
  auto it = loop.connections.find(connection->id());
  if (it == loop.connections.end()) return;  // closed inside Start()
  std::unique_ptr<Connection> owned = std::move(it->second);
  loop.connections.erase(it);
  loop.untrusted.erase(owned->id());
  connection_count_.fetch_sub(1);
  Release(HostOf(owned->peer()));
  if (callbacks_.on_disconnect) callbacks_.on_disconnect(owned->id(), reason);
  loop.event_loop->DeleteSoon(std::move(owned));
}

void Server::SweepSilent(Loop& loop) {
  const absl::Duration timeout = options_.heartbeat_timeout;
  const absl::Duration first_frame = options_.first_frame_timeout;
  const absl::Duration trust = options_.trust_timeout;
  const absl::Duration zero = absl::ZeroDuration();
  const int64_t now = EventLoop::NowMs();
  struct Expired {
    Connection* connection;
    const char* reason;
    absl::Status detail;
  };
  std::vector<Expired> expired;
  for (auto& entry : loop.connections) {
    Connection* c = entry.second.get();
    const absl::Duration age = absl::Milliseconds(now - c->start_ms());
    if (timeout > zero &&
        absl::Milliseconds(now - c->last_receive_ms()) > timeout) {
      expired.push_back({c, close_reason::kHeartbeatTimeout,
                         absl::DeadlineExceededError(absl::StrCat(
                             "nothing received for ", now - c->last_receive_ms(),
                             " ms (limit ", absl::FormatDuration(timeout),
                             ")"))});
    } else if (first_frame > zero && c->frames_received() == 0 &&
               age > first_frame) {
      expired.push_back({c, close_reason::kFirstFrameTimeout,
                         absl::DeadlineExceededError(absl::StrCat(
                             "no complete frame within ",
                             absl::FormatDuration(first_frame)))});
    } else if (trust > zero && age > trust &&
               loop.untrusted.count(entry.first) > 0) {
      expired.push_back({c, close_reason::kTrustTimeout,
                         absl::DeadlineExceededError(absl::StrCat(
                             "not authenticated within ",
                             absl::FormatDuration(trust)))});
    }
  }
  for (Expired& e : expired) e.connection->Close(e.reason, e.detail);
  // Checking a few times per timeout keeps the overshoot small.
  absl::Duration shortest = absl::InfiniteDuration();
  for (absl::Duration d : {timeout, first_frame, trust}) {
    if (d > zero) shortest = std::min(shortest, d);
  }
  const absl::Duration every =
      std::clamp(shortest / 4, absl::Milliseconds(5), absl::Seconds(1));
  loop.sweep_timer =
      loop.event_loop->RunAfter(every, [this, &loop] { SweepSilent(loop); });
}

void Server::SendTo(uint64_t connection_id,
                    std::shared_ptr<const std::string> bytes) {
  Loop* loop = &LoopFor(connection_id);
  // Always posted, never run inline: the caller may hold the ResponderLink
  // lock, and a send can close the connection and run callbacks.
  loop->event_loop->Post([loop, connection_id, bytes = std::move(bytes)] {
    auto it = loop->connections.find(connection_id);
    if (it != loop->connections.end()) it->second->SendEncoded(bytes);
  });
}

absl::StatusOr<std::shared_ptr<const std::string>> Server::EncodePush(
    const std::string& method, const std::string& payload) const {
  Frame frame;
  frame.set_kind(Frame::PUSH);
  frame.set_method(method);
  frame.set_payload(payload);
  auto bytes = std::make_shared<std::string>();
  KESS_RETURN_IF_ERROR(AppendEncodedFrame(
      frame, options_.connection.max_frame_bytes, bytes.get()));
  return std::shared_ptr<const std::string>(std::move(bytes));
}

absl::Status Server::Push(uint64_t connection_id, const std::string& method,
                          const std::string& payload) {
  KESS_ASSIGN_OR_RETURN(std::shared_ptr<const std::string> bytes,
                        EncodePush(method, payload));
  SendTo(connection_id, std::move(bytes));
  return absl::OkStatus();
}

absl::Status Server::PushMany(const std::vector<uint64_t>& connection_ids,
                              const std::string& method,
                              const std::string& payload,
                              std::function<void()> on_written) {
  KESS_ASSIGN_OR_RETURN(std::shared_ptr<const std::string> bytes,
                        EncodePush(method, payload));
  // One task per loop with that loop's share of the ids.
  std::vector<std::vector<uint64_t>> per_loop(loops_.size());
  for (auto& ids : per_loop) {
    ids.reserve(connection_ids.size() / loops_.size() + 1);
  }
  for (uint64_t id : connection_ids) {
    per_loop[id % loops_.size()].push_back(id);
  }
  size_t tasks = 0;
  for (const auto& ids : per_loop) tasks += ids.empty() ? 0 : 1;
  if (tasks == 0) {
    if (on_written) on_written();
    return absl::OkStatus();
  }
  // The last loop to finish its share runs on_written.
  struct Countdown {
    std::atomic<size_t> left;
    std::function<void()> done;
  };
  std::shared_ptr<Countdown> countdown;
  if (on_written) {
    countdown = std::make_shared<Countdown>();
    countdown->left = tasks;
    countdown->done = std::move(on_written);
  }
  for (size_t i = 0; i < loops_.size(); ++i) {
    if (per_loop[i].empty()) continue;
    Loop* raw = loops_[i].get();
    raw->event_loop->Post(
        [raw, bytes, countdown, ids = std::move(per_loop[i])] {
          for (uint64_t id : ids) {
            // Looked up one by one: a send that overflows closes and unmaps.
            auto it = raw->connections.find(id);
            if (it != raw->connections.end()) it->second->SendEncoded(bytes);
          }
          if (countdown != nullptr && countdown->left.fetch_sub(1) == 1) {
            countdown->done();
          }
        });
  }
  return absl::OkStatus();
}

absl::Status Server::Broadcast(const std::string& method,
                               const std::string& payload) {
  KESS_ASSIGN_OR_RETURN(std::shared_ptr<const std::string> bytes,
                        EncodePush(method, payload));
  for (auto& loop : loops_) {
    Loop* raw = loop.get();
    raw->event_loop->Post([raw, bytes] {
      // Snapshot first: a send that overflows closes and unmaps.
      std::vector<Connection*> targets;
      targets.reserve(raw->connections.size());
      for (auto& entry : raw->connections) {
        targets.push_back(entry.second.get());
      }
      for (Connection* c : targets) c->SendEncoded(bytes);
    });
  }
  return absl::OkStatus();
}

bool Server::Admit(const std::string& peer_ip) {
  const char* refused = nullptr;
  {
    absl::MutexLock lock(&admit_mu_);
    if (options_.max_connections > 0 && admitted_ >= options_.max_connections) {
      refused = "server_connection_limit";
    } else if (options_.max_connections_per_peer > 0 &&
               per_peer_[peer_ip] >= options_.max_connections_per_peer) {
      refused = "peer_connection_limit";
    } else {
      ++admitted_;
      ++per_peer_[peer_ip];
      return true;
    }
    auto it = per_peer_.find(peer_ip);
    if (it != per_peer_.end() && it->second == 0) per_peer_.erase(it);
  }
  metrics_.Refused(refused);
  LOG_EVERY_N(WARNING, 100) << "transport server: refused a connection from "
                            << peer_ip << " (" << refused << ", "
                            << google::COUNTER << " so far)";
  return false;
}

void Server::Release(const std::string& peer_ip) {
  absl::MutexLock lock(&admit_mu_);
  if (admitted_ > 0) --admitted_;
  auto it = per_peer_.find(peer_ip);
  if (it == per_peer_.end()) return;
  if (--it->second == 0) per_peer_.erase(it);
}

bool Server::NeedsTrust() const {
  return options_.untrusted_max_frame_bytes > 0 ||
         options_.untrusted_max_requests > 0 ||
         options_.trust_timeout > absl::ZeroDuration();
}

void Server::TrustOnLoop(Loop& loop, uint64_t connection_id) {
  if (loop.untrusted.erase(connection_id) == 0) return;
  auto it = loop.connections.find(connection_id);
  if (it != loop.connections.end()) {
    it->second->set_max_frame_bytes(options_.connection.max_frame_bytes,
                                    close_reason::kFrameTooLarge);
  }
}

void Server::Trust(uint64_t connection_id) {
  if (!NeedsTrust()) return;
  Loop* loop = &LoopFor(connection_id);
  loop->event_loop->RunInLoop(
      [this, loop, connection_id] { TrustOnLoop(*loop, connection_id); });
}

void Server::Disconnect(uint64_t connection_id) {
  Loop* loop = &LoopFor(connection_id);
  loop->event_loop->Post([loop, connection_id] {
    auto it = loop->connections.find(connection_id);
    if (it != loop->connections.end()) {
      it->second->Close(close_reason::kLocalClose, absl::OkStatus());
    }
  });
}

}  // namespace transport
}  // namespace kess
