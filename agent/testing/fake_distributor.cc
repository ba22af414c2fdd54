#include "agent/testing/fake_distributor.h"

#include "absl/strings/str_cat.h"
#include "agent/resource_key.h"

namespace kess {
namespace agent {
namespace testing {

using file_cache::CacheKey;

absl::StatusOr<std::unique_ptr<FakeDistributor>> FakeDistributor::Start(
    Options options) {
  std::unique_ptr<FakeDistributor> d(new FakeDistributor(std::move(options)));
  KESS_RETURN_IF_ERROR(d->Init());
  return d;
}

absl::StatusOr<std::unique_ptr<FakeDistributor>> FakeDistributor::Restart(
    Options options, const FakeDistributor& other) {
  std::unique_ptr<FakeDistributor> d(new FakeDistributor(std::move(options)));
  {
    absl::MutexLock lock(&other.mu_);
    absl::MutexLock lock2(&d->mu_);
    d->revision_ = other.revision_;
    d->data_ = other.data_;
  }
  KESS_RETURN_IF_ERROR(d->Init());
  return d;
}

absl::Status FakeDistributor::Init() {
  transport::HandlerMap handlers;
  handlers["kess.Subscribe"] = [this](transport::Request request,
                                      transport::Responder responder) {
    protocol::SubscribeRequest req;
    if (!req.ParseFromString(request.payload)) {
      responder.Respond(absl::InvalidArgumentError("bad SubscribeRequest"));
      return;
    }
    if (!options_.auth_token.empty() &&
        req.auth_token() != options_.auth_token) {
      responder.Respond(absl::PermissionDeniedError("bad auth token"));
      return;
    }
    absl::MutexLock lock(&mu_);
    subscribes_.push_back(req);
    responder.Respond(
        Answer(request.connection_id, req.keys()).SerializeAsString());
  };
  handlers["kess.Pull"] = [this](transport::Request request,
                                 transport::Responder responder) {
    protocol::PullRequest req;
    if (!req.ParseFromString(request.payload)) {
      responder.Respond(absl::InvalidArgumentError("bad PullRequest"));
      return;
    }
    absl::MutexLock lock(&mu_);
    ++pulls_;
    responder.Respond(
        Answer(request.connection_id, req.keys()).SerializeAsString());
  };
  handlers["kess.Unsubscribe"] = [this](transport::Request request,
                                        transport::Responder responder) {
    protocol::UnsubscribeRequest req;
    req.ParseFromString(request.payload);
    absl::MutexLock lock(&mu_);
    ++unsubscribes_;
    for (const auto& k : req.keys())
      subscribers_[request.connection_id].erase(ToCacheKey(k));
    responder.Respond(protocol::UnsubscribeResponse().SerializeAsString());
  };
  transport::ServerCallbacks callbacks;
  callbacks.on_disconnect = [this](uint64_t id, const char*) {
    absl::MutexLock lock(&mu_);
    subscribers_.erase(id);
  };
  transport::ServerOptions opts;
  opts.port = options_.port;
  opts.num_loops = 1;
  opts.heartbeat_timeout = options_.heartbeat_timeout;
  opts.registry = &registry_;
  opts.max_connections_per_peer = 0;  // every test agent is 127.0.0.1
  KESS_ASSIGN_OR_RETURN(
      server_, transport::Server::Create(opts, std::move(handlers), callbacks));
  return absl::OkStatus();
}

FakeDistributor::~FakeDistributor() { server_.reset(); }

std::string FakeDistributor::address() const {
  return absl::StrCat("127.0.0.1:", port());
}

protocol::Resource FakeDistributor::ResourceFor(const CacheKey& key) const {
  auto it = data_.find(key);
  protocol::Resource r;
  if (it == data_.end()) {
    *r.mutable_key() = ToResourceKey(key);
    r.set_absent(true);  // never existed: revision 0
  } else {
    r = it->second;
  }
  if (corrupt_crc_) r.set_crc32(r.crc32() ^ 0xdeadbeef);
  return r;
}

protocol::SubscribeResponse FakeDistributor::Answer(
    uint64_t connection,
    const google::protobuf::RepeatedPtrField<protocol::Known>& keys) {
  protocol::SubscribeResponse response;
  response.set_revision(revision_);
  for (const protocol::Known& known : keys) {
    CacheKey key = ToCacheKey(known.key());
    subscribers_[connection].insert(key);
    auto it = data_.find(key);
    const int64_t have = it == data_.end() ? 0 : it->second.revision();
    if (known.revision() > have) ++known_ahead_;
    if (have > known.revision() || (have == 0 && known.revision() == 0)) {
      if (options_.max_updates_per_answer > 0 &&
          response.updates_size() >= options_.max_updates_per_answer) {
        response.set_deferred(response.deferred() + 1);
        continue;
      }
      *response.add_updates() = ResourceFor(key);
      ++resources_sent_;
    }
  }
  return response;
}

void FakeDistributor::PushChange(const CacheKey& key) {
  if (!push_enabled_) return;
  protocol::UpdatePush push;
  push.set_revision(revision_);
  *push.add_updates() = ResourceFor(key);
  const std::string payload = push.SerializeAsString();
  for (const auto& [connection, keys] : subscribers_) {
    if (keys.count(key) == 0) continue;
    ++resources_sent_;
    server_->Push(connection, "kess.Update", payload).IgnoreError();
  }
}

int64_t FakeDistributor::Set(const CacheKey& key, const std::string& value) {
  absl::MutexLock lock(&mu_);
  protocol::Resource& r = data_[key];
  *r.mutable_key() = ToResourceKey(key);
  r.set_revision(++revision_);
  r.set_absent(false);
  r.set_value(value);
  r.set_crc32(Crc32(value));
  r.set_content_type("text/plain");
  r.set_mtime_ms(1700000000000 + revision_);
  PushChange(key);
  return revision_;
}

int64_t FakeDistributor::Delete(const CacheKey& key) {
  absl::MutexLock lock(&mu_);
  protocol::Resource& r = data_[key];
  *r.mutable_key() = ToResourceKey(key);
  r.set_revision(++revision_);
  r.set_absent(true);
  r.clear_value();
  r.set_crc32(Crc32(""));
  PushChange(key);
  return revision_;
}

void FakeDistributor::SetPushEnabled(bool enabled) {
  absl::MutexLock lock(&mu_);
  push_enabled_ = enabled;
}

void FakeDistributor::SetCorruptCrc(bool corrupt) {
  absl::MutexLock lock(&mu_);
  corrupt_crc_ = corrupt;
}

int64_t FakeDistributor::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

std::vector<protocol::SubscribeRequest> FakeDistributor::subscribes() const {
  absl::MutexLock lock(&mu_);
  return subscribes_;
}

int FakeDistributor::pulls() const {
  absl::MutexLock lock(&mu_);
  return pulls_;
}

int FakeDistributor::unsubscribes() const {
  absl::MutexLock lock(&mu_);
  return unsubscribes_;
}

int64_t FakeDistributor::resources_sent() const {
  absl::MutexLock lock(&mu_);
  return resources_sent_;
}

int FakeDistributor::known_ahead() const {
  absl::MutexLock lock(&mu_);
  return known_ahead_;
}

}  // namespace testing
}  // namespace agent
}  // namespace kess
