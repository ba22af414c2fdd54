// ReadGuard in front of a real SubscriptionHub, without a network: a
// DataSet filled by hand (configs, a route, read-ACL items), a Pusher and a
// push function that record what each connection receives.
#include "distributor/read_guard.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kess {
namespace distributor {
namespace {

// What one connection received, in order: "<key>@<revision>" plus
// ":denied" or "=<value>".
using Log = std::map<uint64_t, std::vector<std::string>>;

std::string Describe(const protocol::Resource& r) {
  std::string key = r.key().type() == protocol::ResourceKey::ROUTE
                        ? "r/" + r.key().service()
                        : r.key().namespace_name() + "/" + r.key().key();
  std::string out = key + "@" + std::to_string(r.revision());
  if (r.denied()) return out + ":denied";
  if (r.absent()) return out + ":absent";
  return out + "=" + r.value();
}

void Record(Log* log, uint64_t connection, const std::string& payload) {
  protocol::UpdatePush push;
  ASSERT_TRUE(push.ParseFromString(payload));
  for (const protocol::Resource& r : push.updates()) {
    (*log)[connection].push_back(Describe(r));
  }
}

// Implements Push with and without the written callback (no `override`):
// whichever the hub's Pusher declares is the one that is overridden.
class RecordingPusher : public Pusher {
 public:
  explicit RecordingPusher(Log* log) : log_(log) {}
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload) {
    for (uint64_t c : connections) Record(log_, c, payload);
  }
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload, std::function<void()> on_written) {
    Push(connections, payload);
    if (on_written) on_written();
  }

 private:
  Log* const log_;
};

ItemPtr Config(const std::string& ns, const std::string& key,
               int64_t revision, const std::string& value) {
  protocol::Resource r;
  r.mutable_key()->set_namespace_name(ns);
  r.mutable_key()->set_key(key);
  r.set_revision(revision);
  r.set_value(value);
  return *MakeItem(r);
}

ItemPtr Acl(const std::string& ns, int64_t revision,
            std::vector<std::string> hosts) {
  zk::ReadAclRecord record;
  record.set_namespace_name(ns);
  record.set_revision(revision);
  for (const std::string& h : hosts) record.add_hosts(h);
  auto item = std::make_shared<Item>();
  item->key = NamespaceAclKeyString(ns);
  item->revision = revision;
  item->acl = std::make_shared<const zk::CompiledReadAcl>(
      *zk::CompiledReadAcl::Compile(record));
  return item;
}

protocol::Known Known(const std::string& ns, const std::string& key,
                      int64_t revision) {
  protocol::Known k;
  k.mutable_key()->set_namespace_name(ns);
  k.mutable_key()->set_key(key);
  k.set_revision(revision);
  return k;
}

std::optional<zk::Reader> Host(const std::string& name) {
  return zk::Reader{"host", name};
}

class ReadGuardTest : public ::testing::Test {
 protected:
  void Start(bool enforce, bool default_deny = false,
             bool claimed_host = false) {
    std::vector<ItemPtr> items = {Config("pay", "a", 1, "secret1"),
                                  Config("pay", "b", 2, "secret2"),
                                  Config("open", "x", 3, "public"),
                                  Acl("pay", 4, {"web-*"})};
    data_.ApplyFullLoad(data_.DiffFullLoad(items, 4), 4);
    pusher_ = std::make_unique<RecordingPusher>(&pushed_);
    HubOptions hub_options;
    hub_options.auth_token = "t";
    hub_ = std::make_unique<SubscriptionHub>(
        &data_, [] { return false; }, pusher_.get(), hub_options, &metrics_);
    ReadGuardOptions options;
    options.access.enforce = enforce;
    options.access.default_deny = default_deny;
    options.claimed_host = claimed_host;
    options.registry = &registry_;
    guard_ = std::make_unique<ReadGuard>(
        &data_, hub_.get(), [] { return false; },
        [this](uint64_t connection, const std::string& payload) {
          Record(&pushed_, connection, payload);
        },
        options);
  }

  // Subscribes and returns everything the answer carried.
  std::vector<std::string> Subscribe(uint64_t connection,
                                     const std::optional<zk::Reader>& reader,
                                     std::vector<protocol::Known> keys,
                                     const std::string& claimed_host = "") {
    protocol::SubscribeRequest request;
    request.set_auth_token("t");
    request.set_host_id(claimed_host);
    for (auto& k : keys) *request.add_keys() = std::move(k);
    Answer answer =
        guard_->Subscribe(connection, request.SerializeAsString(), reader);
    EXPECT_TRUE(answer.response.ok()) << answer.response.status();
    std::vector<std::string> got;
    if (!answer.response.ok()) return got;
    protocol::SubscribeResponse response;
    EXPECT_TRUE(response.ParseFromString(*answer.response));
    for (const auto& r : response.updates()) got.push_back(Describe(r));
    for (const auto& k : response.rejected()) {
      got.push_back("rejected:" + k.namespace_name());
    }
    Log followups;
    for (const std::string& p : answer.followups) Record(&followups, 0, p);
    for (const std::string& s : followups[0]) got.push_back(s);
    return got;
  }

  void Change(std::vector<ItemPtr> items, int64_t revision) {
    std::vector<ItemPtr> applied = data_.ApplyNewer(std::move(items), revision);
    guard_->OnChanges(applied, revision);
  }

  double Denied(const std::string& kind) {
    return registry_
        .GetCounter("kess_distributor_read_denied_total", "", {{"kind", kind}})
        ->Value();
  }

  metrics::Registry registry_;
  DistributorMetrics metrics_{&registry_};
  DataSet data_;
  Log pushed_;
  std::unique_ptr<RecordingPusher> pusher_;
  std::unique_ptr<SubscriptionHub> hub_;
  std::unique_ptr<ReadGuard> guard_;
};

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST_F(ReadGuardTest, AllowedHostReadsDeniedHostGetsNothing) {
  Start(/*enforce=*/true);
  EXPECT_THAT(Subscribe(1, Host("web-1"), {Known("pay", "a", 0)}),
              ElementsAre("pay/a@1=secret1"));
  EXPECT_THAT(Subscribe(2, Host("db-1"), {Known("pay", "a", 0)}),
              ElementsAre("pay/a@0:denied"));
  // A key of a namespace without an ACL: every authenticated reader.
  EXPECT_THAT(Subscribe(2, Host("db-1"), {Known("open", "x", 0)}),
              ElementsAre("open/x@3=public"));
  // Anonymous (no principal) and other principal kinds: host patterns
  // match hosts only.
  EXPECT_THAT(Subscribe(3, std::nullopt, {Known("pay", "b", 0)}),
              ElementsAre("pay/b@0:denied"));
  EXPECT_THAT(Subscribe(4, zk::Reader{"service", "web-1"},
                        {Known("pay", "b", 0)}),
              ElementsAre("pay/b@0:denied"));
  EXPECT_EQ(Denied("config"), 3);

  // Only the allowed connection gets the next change.
  Change({Config("pay", "a", 5, "secret1-v5")}, 5);
  EXPECT_THAT(pushed_[1], ElementsAre("pay/a@5=secret1-v5"));
  EXPECT_THAT(pushed_[2], IsEmpty());
  EXPECT_THAT(pushed_[3], IsEmpty());
  // A pull of a denied key that claims to hold it drops the copy.
  protocol::PullRequest pull;
  *pull.add_keys() = Known("pay", "a", 1);
  Answer answer = guard_->Pull(2, pull.SerializeAsString(), Host("db-1"));
  ASSERT_TRUE(answer.response.ok());
  ASSERT_EQ(answer.followups.size(), 1u);
  Log got;
  Record(&got, 2, answer.followups[0]);
  EXPECT_THAT(got[2], ElementsAre("pay/a@4:denied"));
}

TEST_F(ReadGuardTest, NamespaceSubscriptionDenied) {
  Start(/*enforce=*/true);
  protocol::Known ns;
  ns.mutable_key()->set_type(protocol::ResourceKey::NAMESPACE);
  ns.mutable_key()->set_namespace_name("pay");
  protocol::HeldKey* held = ns.add_held();
  held->set_key("a");
  held->set_revision(1);
  EXPECT_THAT(Subscribe(2, Host("db-1"), {ns}),
              ElementsAre("rejected:pay", "pay/a@4:denied"));
  EXPECT_EQ(Denied("namespace"), 1);
  EXPECT_EQ(hub_->namespace_subscribers("pay"), 0u);
  ns.clear_held();
  EXPECT_THAT(Subscribe(1, Host("web-7"), {ns}),
              ::testing::UnorderedElementsAre("pay/a@1=secret1",
                                              "pay/b@2=secret2"));
}

TEST_F(ReadGuardTest, RevokeAndGrantWithinOneChange) {
  Start(/*enforce=*/true);
  ASSERT_THAT(Subscribe(1, Host("web-1"), {Known("pay", "a", 0)}),
              ElementsAre("pay/a@1=secret1"));
  // The ACL no longer names web-*: a tombstone at the ACL's revision, and
  // no later change reaches the connection.
  Change({Acl("pay", 6, {"api-*"})}, 6);
  EXPECT_THAT(pushed_[1], ElementsAre("pay/a@6:denied"));
  EXPECT_EQ(hub_->subscribers("c/pay/a"), 0u);
  Change({Config("pay", "a", 7, "after-revoke")}, 7);
  EXPECT_THAT(pushed_[1], ElementsAre("pay/a@6:denied"));
  // Its periodic pull (holding the tombstone at 6) gets nothing new.
  protocol::PullRequest pull;
  *pull.add_keys() = Known("pay", "a", 6);
  Answer answer = guard_->Pull(1, pull.SerializeAsString(), Host("web-1"));
  ASSERT_TRUE(answer.response.ok());
  protocol::SubscribeResponse response;
  ASSERT_TRUE(response.ParseFromString(*answer.response));
  EXPECT_EQ(response.updates_size(), 0);
  ASSERT_EQ(answer.followups.size(), 1u);
  Log got;
  Record(&got, 1, answer.followups[0]);
  EXPECT_THAT(got[1], ElementsAre("pay/a@0:denied"));  // nothing to drop

  // Granted again: the current value at the grant's revision (above the
  // tombstone), and later changes flow again.
  Change({Acl("pay", 8, {"web-1"})}, 8);
  EXPECT_THAT(pushed_[1], ElementsAre("pay/a@6:denied", "pay/a@8=after-revoke"));
  Change({Config("pay", "a", 9, "v9")}, 9);
  EXPECT_THAT(pushed_[1].back(), "pay/a@9=v9");
}

TEST_F(ReadGuardTest, ReconnectAfterGrantGetsStampedVersion) {
  Start(/*enforce=*/true);
  Change({Acl("pay", 6, {"api-*"})}, 6);
  Change({Acl("pay", 8, {"web-*"})}, 8);
  // The agent holds the tombstone of the revocation (6) and reconnects:
  // revision 1 of pay/a is older than its tombstone, so it comes at 8.
  EXPECT_THAT(Subscribe(1, Host("web-1"), {Known("pay", "a", 6)}),
              ElementsAre("pay/a@8=secret1"));
  // A copy it holds at the value's own revision is not sent again.
  EXPECT_THAT(Subscribe(2, Host("web-2"), {Known("pay", "a", 1)}), IsEmpty());
}

TEST_F(ReadGuardTest, GrayGoesByPrincipalNotClaimedHost) {
  Start(/*enforce=*/true);
  zk::GrayRecord record;
  record.set_namespace_name("open");
  record.set_key("x");
  record.set_revision(5);
  record.add_hosts("db-1");
  ItemPtr value = Config("open", "x", 5, "gray-for-db-1");
  auto gray = std::make_shared<Item>(*value);
  gray->key = GrayKeyString("open", "x");
  gray->gray = std::make_shared<const zk::GrayRecord>(record);
  Change({gray}, 5);
  EXPECT_THAT(Subscribe(1, Host("web-1"), {Known("open", "x", 0)}, "db-1"),
              ElementsAre("open/x@3=public"));
  EXPECT_THAT(Subscribe(2, Host("db-1"), {Known("open", "x", 0)}, "web-1"),
              ElementsAre("open/x@5=gray-for-db-1"));
}

TEST_F(ReadGuardTest, DefaultDeny) {
  Start(/*enforce=*/true, /*default_deny=*/true);
  EXPECT_THAT(Subscribe(1, Host("web-1"), {Known("open", "x", 0)}),
              ElementsAre("open/x@0:denied"));
  EXPECT_THAT(Subscribe(1, Host("web-1"), {Known("pay", "a", 0)}),
              ElementsAre("pay/a@1=secret1"));
}

TEST_F(ReadGuardTest, WrongTokenRefusedBeforeAnyKey) {
  Start(/*enforce=*/true);
  protocol::SubscribeRequest request;
  request.set_auth_token("wrong");
  *request.add_keys() = Known("open", "x", 0);
  Answer answer =
      guard_->Subscribe(7, request.SerializeAsString(), Host("web-1"));
  EXPECT_TRUE(absl::IsPermissionDenied(answer.response.status()));
  EXPECT_EQ(hub_->subscribers("c/open/x"), 0u);
  EXPECT_FALSE(hub_->Authenticated(7));
  // Malformed bytes are the hub's to refuse.
  answer = guard_->Subscribe(8, std::string("\xff\xff\xff", 3), Host("web-1"));
  EXPECT_FALSE(answer.response.ok());
}

TEST_F(ReadGuardTest, NotEnforcingIsTodaysBehaviour) {
  Start(/*enforce=*/false);
  EXPECT_THAT(Subscribe(2, Host("db-1"), {Known("pay", "a", 0)}),
              ElementsAre("pay/a@1=secret1"));
  EXPECT_THAT(Subscribe(3, std::nullopt, {Known("pay", "b", 0)}),
              ElementsAre("pay/b@2=secret2"));
  EXPECT_EQ(Denied("config"), 0);
}

// A distributor without principals (no --tls_client_auth) and without
// --insecure_dev_mode: every connection is anonymous, keys with an ACL are
// denied to everyone (fail closed, counted), keys without one are served,
// and gray versions go by the claimed host id as before.
TEST_F(ReadGuardTest, NoPrincipalsFailsClosedOnAclKeys) {
  Start(/*enforce=*/true, /*default_deny=*/false, /*claimed_host=*/true);
  zk::GrayRecord record;
  record.set_namespace_name("open");
  record.set_key("x");
  record.set_revision(5);
  record.add_hosts("db-1");
  ItemPtr value = Config("open", "x", 5, "gray-for-db-1");
  auto gray = std::make_shared<Item>(*value);
  gray->key = GrayKeyString("open", "x");
  gray->gray = std::make_shared<const zk::GrayRecord>(record);
  Change({gray}, 5);
  EXPECT_THAT(Subscribe(1, std::nullopt, {Known("pay", "a", 0)}, "web-1"),
              ElementsAre("pay/a@0:denied"));
  EXPECT_EQ(Denied("config"), 1);
  EXPECT_EQ(hub_->subscribers("c/pay/a"), 0u);
  EXPECT_THAT(Subscribe(2, std::nullopt, {Known("open", "x", 0)}, "db-1"),
              ElementsAre("open/x@5=gray-for-db-1"));
  EXPECT_THAT(Subscribe(3, std::nullopt, {Known("open", "x", 0)}, "web-1"),
              ElementsAre("open/x@3=public"));
  // A namespace with an ACL: rejected as a whole.
  protocol::Known ns;
  ns.mutable_key()->set_type(protocol::ResourceKey::NAMESPACE);
  ns.mutable_key()->set_namespace_name("pay");
  EXPECT_THAT(Subscribe(4, std::nullopt, {ns}, "web-1"),
              ElementsAre("rejected:pay"));
  // An ACL removed: the namespace is served again.
  auto removed = std::make_shared<Item>();
  removed->key = NamespaceAclKeyString("pay");
  removed->revision = 6;
  removed->absent = true;
  Change({removed}, 6);
  EXPECT_THAT(Subscribe(5, std::nullopt, {Known("pay", "b", 0)}, "web-1"),
              ElementsAre("pay/b@2=secret2"));
}

}  // namespace
}  // namespace distributor
}  // namespace kess
