#include "agent/host_heartbeater.h"

#include <chrono>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "glog/logging.h"

namespace kess {
namespace agent {

HostHeartbeater::HostHeartbeater(transport::EventLoop* loop, Options options,
                                 MessageFn message)
    : loop_(loop), options_(std::move(options)), message_(std::move(message)) {
  for (const std::string& m : options_.mandators) {
    auto peer = std::make_unique<Peer>();
    peer->address = m;
    peers_.push_back(std::move(peer));
  }
}

HostHeartbeater::~HostHeartbeater() {
  absl::Notification done;
  loop_->Post([this, &done] {
    stopped_ = true;
    if (timer_ != 0) loop_->CancelTimer(timer_);
    for (auto& peer : peers_) peer->client.reset();
    done.Notify();
  });
  done.WaitForNotification();
}

void HostHeartbeater::Start() {
  if (peers_.empty()) return;
  loop_->Post([this] { Tick(); });
}

void HostHeartbeater::Tick() {
  if (stopped_) return;
  protocol::HostHeartbeat message = message_();
  message.set_sent_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
  const std::string payload = message.SerializeAsString();
  for (auto& peer : peers_) Beat(*peer, payload);
  timer_ = loop_->RunAfter(options_.interval, [this] { Tick(); });
}

void HostHeartbeater::Beat(Peer& peer, const std::string& payload) {
  if (peer.client == nullptr ||
      peer.client->state() == transport::ClientState::kClosed) {
    if (peer.client != nullptr) loop_->DeleteSoon(std::move(peer.client));
    transport::ClientOptions opts;
    absl::Status parsed = SplitHostPort(peer.address, &opts.host, &opts.port);
    if (!parsed.ok()) {
      Count(peer, parsed);
      return;
    }
    opts.connect_timeout = options_.connect_timeout;
    // The beats themselves are the traffic.
    opts.heartbeat_interval = absl::ZeroDuration();
    opts.heartbeat_timeout = absl::ZeroDuration();
    opts.registry = options_.registry;
    opts.tls = options_.tls;
    opts.credential = options_.credential;
    auto client = transport::Client::Create(loop_, opts);
    if (!client.ok()) {
      Count(peer, client.status());
      return;
    }
    peer.client = std::move(client).value();
  }
  Peer* p = &peer;
  peer.client->Call("kess.HostHeartbeat", payload, options_.call_timeout,
                    [this, p](absl::StatusOr<std::string> reply) {
                      if (stopped_) return;
                      Count(*p, reply.status());
                    });
}

void HostHeartbeater::Count(Peer& peer, const absl::Status& result) {
  std::string label =
      result.ok() ? "ok" : absl::StatusCodeToString(result.code());
  for (char& c : label) c = static_cast<char>(std::tolower(c));
  options_.registry
      ->GetCounter("kess_agent_host_heartbeats_total",
                   "Host heartbeats sent to mandators, by result.",
                   {{"result", label}})
      ->Increment();
  if (result.ok()) return;
  const int64_t now = transport::EventLoop::NowMs();
  if (peer.last_log_ms == 0 || now - peer.last_log_ms >= 60000) {
    peer.last_log_ms = now;
    LOG(WARNING) << "host heartbeat to mandator " << peer.address
                 << " failed (not fatal; logged once a minute): " << result;
  }
}

}  // namespace agent
}  // namespace kess
