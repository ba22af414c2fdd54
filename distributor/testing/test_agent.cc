#include "distributor/testing/test_agent.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kess {
namespace distributor {
namespace testing {
namespace {

std::string KeyString(const protocol::ResourceKey& key) {
  return key.type() == protocol::ResourceKey::ROUTE
             ? absl::StrCat("r/", key.service())
             : absl::StrCat("c/", key.namespace_name(), "/", key.key());
}

}  // namespace

protocol::ResourceKey ConfigKey(const std::string& ns, const std::string& key) {
  protocol::ResourceKey k;
  k.set_type(protocol::ResourceKey::CONFIG);
  k.set_namespace_name(ns);
  k.set_key(key);
  return k;
}

protocol::ResourceKey RouteKey(const std::string& service) {
  protocol::ResourceKey k;
  k.set_type(protocol::ResourceKey::ROUTE);
  k.set_service(service);
  return k;
}

absl::StatusOr<std::unique_ptr<TestAgent>> TestAgent::Start(
    transport::EventLoop* loop, Options options) {
  std::unique_ptr<TestAgent> agent(new TestAgent(std::move(options)));
  TestAgent* raw = agent.get();
  transport::ClientOptions client_options;
  client_options.port = agent->options_.port;
  client_options.registry = agent->options_.registry;
  client_options.tls = agent->options_.tls;
  transport::ClientCallbacks callbacks;
  callbacks.on_connect = [raw](const absl::Status& status) {
    absl::MutexLock lock(&raw->mu_);
    raw->connect_status_ = status;
    raw->connected_ = status.ok();
  };
  callbacks.on_push = [raw](const std::string& method, std::string payload) {
    if (method != "kess.Update" || raw->drop_pushes_) return;
    protocol::UpdatePush push;
    if (!push.ParseFromString(payload)) return;
    raw->last_push_stale_ = push.stale();
    for (const protocol::Resource& r : push.updates()) raw->Apply(r);
    raw->pushes_++;
  };
  callbacks.on_disconnect = [raw](const char*, const absl::Status&) {
    raw->connected_ = false;
    raw->disconnected_ = true;
  };
  KESS_ASSIGN_OR_RETURN(
      agent->client_,
      transport::Client::Create(loop, client_options, std::move(callbacks)));
  return agent;
}

absl::StatusOr<std::unique_ptr<TestAgent>> TestAgent::Connect(
    transport::EventLoop* loop, Options options) {
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<TestAgent> agent,
                        Start(loop, std::move(options)));
  KESS_RETURN_IF_ERROR(agent->client_->WaitConnected(absl::Seconds(10)));
  return agent;
}

TestAgent::~TestAgent() { client_.reset(); }

bool TestAgent::connected() const { return connected_.load(); }

absl::Status TestAgent::connect_status() const {
  absl::MutexLock lock(&mu_);
  return connect_status_;
}

void TestAgent::Apply(const protocol::Resource& resource) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(KeyString(resource.key()));
  if (it != held_.end() && it->second.revision() >= resource.revision()) {
    return;
  }
  held_[KeyString(resource.key())] = resource;
}

void TestAgent::SetHeld(const protocol::Resource& resource) {
  absl::MutexLock lock(&mu_);
  held_[KeyString(resource.key())] = resource;
}

void TestAgent::ApplyAnswer(const std::string& payload) {
  protocol::SubscribeResponse response;
  if (!response.ParseFromString(payload)) return;
  for (const protocol::Resource& r : response.updates()) Apply(r);
}

std::string TestAgent::SubscribePayload(
    const std::vector<protocol::ResourceKey>& keys) {
  protocol::SubscribeRequest request;
  request.set_host_id(options_.host_id);
  request.set_auth_token(options_.auth_token);
  absl::MutexLock lock(&mu_);
  for (const protocol::ResourceKey& key : keys) {
    protocol::Known* known = request.add_keys();
    *known->mutable_key() = key;
    auto it = held_.find(KeyString(key));
    known->set_revision(it == held_.end() ? 0 : it->second.revision());
    subscribed_.push_back(key);
  }
  return request.SerializeAsString();
}

absl::StatusOr<protocol::SubscribeResponse> TestAgent::Subscribe(
    const std::vector<protocol::ResourceKey>& keys) {
  KESS_ASSIGN_OR_RETURN(std::string reply,
                        Call("kess.Subscribe", SubscribePayload(keys)));
  ApplyAnswer(reply);
  protocol::SubscribeResponse response;
  response.ParseFromString(reply);
  return response;
}

void TestAgent::SubscribeAsync(const std::vector<protocol::ResourceKey>& keys,
                               std::function<void(absl::Status)> done) {
  client_->Call(
      "kess.Subscribe", SubscribePayload(keys), options_.call_timeout,
      [this, done = std::move(done)](absl::StatusOr<std::string> reply) {
        if (reply.ok()) ApplyAnswer(*reply);
        done(reply.status());
      });
}

absl::StatusOr<protocol::SubscribeResponse> TestAgent::Pull() {
  protocol::PullRequest request;
  {
    absl::MutexLock lock(&mu_);
    for (const protocol::ResourceKey& key : subscribed_) {
      protocol::Known* known = request.add_keys();
      *known->mutable_key() = key;
      auto it = held_.find(KeyString(key));
      known->set_revision(it == held_.end() ? 0 : it->second.revision());
    }
  }
  KESS_ASSIGN_OR_RETURN(std::string reply,
                        Call("kess.Pull", request.SerializeAsString()));
  ApplyAnswer(reply);
  protocol::SubscribeResponse response;
  response.ParseFromString(reply);
  return response;
}

absl::Status TestAgent::Unsubscribe(
    const std::vector<protocol::ResourceKey>& keys) {
  protocol::UnsubscribeRequest request;
  for (const protocol::ResourceKey& key : keys) *request.add_keys() = key;
  return Call("kess.Unsubscribe", request.SerializeAsString()).status();
}

absl::StatusOr<std::string> TestAgent::Call(const std::string& method,
                                            const std::string& payload) {
  return client_->CallSync(method, payload, options_.call_timeout);
}

std::optional<protocol::Resource> TestAgent::Get(
    const protocol::ResourceKey& key) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(KeyString(key));
  if (it == held_.end()) return std::nullopt;
  return it->second;
}

int64_t TestAgent::RevisionOf(const protocol::ResourceKey& key) const {
  std::optional<protocol::Resource> r = Get(key);
  return r.has_value() ? r->revision() : 0;
}

}  // namespace testing
}  // namespace distributor
}  // namespace kess
