// SubscriptionHub without a network: a DataSet filled by hand and a Pusher
// that records.
#include "distributor/subscription_hub.h"

#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"

#include "gtest/gtest.h"

namespace kess {
namespace distributor {
namespace {

class RecordingPusher : public Pusher {
 public:
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload,
            std::function<void()> on_written) override {
    if (on_written) on_written();
    for (uint64_t c : connections) {
      protocol::UpdatePush push;
      ASSERT_TRUE(push.ParseFromString(payload));
      for (const protocol::Resource& r : push.updates()) {
        received[c].push_back(r.key().key());
      }
    }
    ++calls;
  }
  std::map<uint64_t, std::vector<std::string>> received;
  int calls = 0;
};

protocol::Resource Res(const std::string& key, int64_t revision) {
  protocol::Resource r;
  r.mutable_key()->set_namespace_name("ns");
  r.mutable_key()->set_key(key);
  r.set_revision(revision);
  r.set_value("v" + std::to_string(revision));
  return r;
}

protocol::Known Known(const std::string& key, int64_t revision) {
  protocol::Known k;
  k.mutable_key()->set_namespace_name("ns");
  k.mutable_key()->set_key(key);
  k.set_revision(revision);
  return k;
}

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override { Load({Res("a", 1), Res("b", 2)}, 2); }

  void Load(const std::vector<protocol::Resource>& resources,
            int64_t revision) {
    std::vector<ItemPtr> items;
    for (const auto& r : resources) items.push_back(*MakeItem(r));
    data_.ApplyFullLoad(data_.DiffFullLoad(items, revision), revision);
  }

  std::unique_ptr<SubscriptionHub> Hub(const std::string& token = "",
                                       size_t max_keys = 100) {
    HubOptions options;
    options.auth_token = token;
    options.max_keys_per_connection = max_keys;
    return std::make_unique<SubscriptionHub>(
        &data_, [this] { return stale_; }, &pusher_, options, &metrics_);
  }

  static std::string SubscribePayload(std::vector<protocol::Known> keys,
                                      const std::string& token = "") {
    protocol::SubscribeRequest request;
    request.set_host_id("host-1");
    request.set_auth_token(token);
    for (auto& k : keys) *request.add_keys() = k;
    return request.SerializeAsString();
  }

  static protocol::SubscribeResponse Parse(const Answer& answer) {
    protocol::SubscribeResponse response;
    EXPECT_TRUE(answer.response.ok()) << answer.response.status();
    if (answer.response.ok()) response.ParseFromString(*answer.response);
    return response;
  }

  double Rejected(const std::string& reason) {
    return registry_
        .GetCounter("kess_distributor_rejected_total", "", {{"reason", reason}})
        ->Value();
  }

  DataSet data_;
  bool stale_ = false;
  RecordingPusher pusher_;
  metrics::Registry registry_;
  DistributorMetrics metrics_{&registry_};
};

TEST_F(HubTest, AnswersOnlyNewerAndUnknownAsAbsent) {
  auto hub = Hub();
  stale_ = true;
  protocol::SubscribeResponse r = Parse(
      hub->Subscribe(1, SubscribePayload({Known("a", 1), Known("b", 1),
                                          Known("new", 0), Known("gone", 1)})));
  EXPECT_EQ(r.revision(), 2);
  EXPECT_TRUE(r.stale());
  ASSERT_EQ(r.updates_size(), 3);
  // In revision order, then key order: the unknown key (absent at 0), b,
  // and the unknown key the agent claims to hold (absent at the data
  // revision: it does not exist there).
  EXPECT_EQ(r.updates(0).key().key(), "new");
  EXPECT_TRUE(r.updates(0).absent());
  EXPECT_EQ(r.updates(0).revision(), 0);
  EXPECT_EQ(r.updates(1).key().key(), "b");
  EXPECT_EQ(r.updates(2).key().key(), "gone");
  EXPECT_TRUE(r.updates(2).absent());
  EXPECT_EQ(r.updates(2).revision(), 2);
  EXPECT_EQ(hub->subscribed_connections(), 1u);
}

TEST_F(HubTest, FanOutGoesToExactlyTheSubscribersWithOnePayloadPerGroup) {
  auto hub = Hub();
  Parse(hub->Subscribe(1, SubscribePayload({Known("a", 1)})));
  Parse(hub->Subscribe(2, SubscribePayload({Known("a", 1), Known("b", 2)})));
  Parse(hub->Subscribe(3, SubscribePayload({Known("b", 2)})));
  Parse(hub->Subscribe(4, SubscribePayload({Known("a", 1)})));
  std::vector<ItemPtr> changes = {*MakeItem(Res("a", 3))};
  hub->OnChanges(changes, 3);
  EXPECT_EQ(pusher_.calls, 1);  // connections 1, 2 and 4 share one payload
  EXPECT_EQ(pusher_.received[1], (std::vector<std::string>{"a"}));
  EXPECT_EQ(pusher_.received[2], (std::vector<std::string>{"a"}));
  EXPECT_EQ(pusher_.received.count(3), 0u);
  EXPECT_EQ(pusher_.received[4], (std::vector<std::string>{"a"}));
  // The fan-out's record: 3 frames, completed when the pusher said so.
  const FanoutRecord fanout = hub->last_fanout();
  EXPECT_EQ(fanout.revision, 3);
  EXPECT_EQ(fanout.changes, 1u);
  EXPECT_EQ(fanout.deliveries, 3u);
  EXPECT_GT(fanout.bytes, 3 * changes[0]->wire.size());
  EXPECT_GT(fanout.started_ns, 0);
  EXPECT_GE(fanout.written_ns, fanout.started_ns);

  hub->Disconnected(4);
  ASSERT_TRUE(hub->Unsubscribe(2,
                               [] {
                                 protocol::UnsubscribeRequest u;
                                 u.add_keys()->set_namespace_name("ns");
                                 u.mutable_keys(0)->set_key("a");
                                 return u.SerializeAsString();
                               }())
                  .ok());
  pusher_.received.clear();
  hub->OnChanges({*MakeItem(Res("a", 4)), *MakeItem(Res("b", 5))}, 5);
  EXPECT_EQ(pusher_.received[1], (std::vector<std::string>{"a"}));
  EXPECT_EQ(pusher_.received[2], (std::vector<std::string>{"b"}));
  EXPECT_EQ(pusher_.received[3], (std::vector<std::string>{"b"}));
  EXPECT_EQ(pusher_.received.count(4), 0u);
  EXPECT_EQ(hub->subscribers("c/ns/a"), 1u);
  EXPECT_EQ(registry_.GetCounter("kess_distributor_pushes_total", "")->Value(),
            6);
  EXPECT_EQ(hub->last_fanout().revision, 5);
  EXPECT_EQ(hub->last_fanout().changes, 2u);
  EXPECT_EQ(hub->last_fanout().deliveries, 3u);
}

TEST_F(HubTest, InvalidNamesRejectedOthersKept) {
  auto hub = Hub();
  protocol::Known bad = Known("../etc", 0);
  protocol::Known slash = Known("a/b", 0);
  protocol::Known route;
  route.mutable_key()->set_type(protocol::ResourceKey::ROUTE);
  route.mutable_key()->set_service("");
  protocol::SubscribeResponse r = Parse(
      hub->Subscribe(1, SubscribePayload({bad, Known("a", 0), slash, route})));
  EXPECT_EQ(r.rejected_size(), 3);
  EXPECT_EQ(r.rejected(0).key(), "../etc");
  EXPECT_NE(r.rejected_reason().find("character '/' at offset 2"),
            std::string::npos)
      << r.rejected_reason();
  ASSERT_EQ(r.updates_size(), 1);
  EXPECT_EQ(r.updates(0).key().key(), "a");
  EXPECT_EQ(Rejected("invalid_name"), 3);
  EXPECT_EQ(hub->subscribers("c/ns/a"), 1u);
}

TEST_F(HubTest, AuthTokenRequiredBeforeAnything) {
  auto hub = Hub("t0ken");
  EXPECT_EQ(hub->Subscribe(1, SubscribePayload({Known("a", 0)}, "nope"))
                .response.status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  protocol::PullRequest pull;
  *pull.add_keys() = Known("a", 0);
  EXPECT_EQ(hub->Pull(1, pull.SerializeAsString()).response.status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(hub->subscribers("c/ns/a"), 0u);
  hub->OnChanges({*MakeItem(Res("a", 3))}, 3);
  EXPECT_TRUE(pusher_.received.empty());
  EXPECT_EQ(Rejected("auth"), 2);
  // The right token opens the connection, pulls included.
  Parse(hub->Subscribe(1, SubscribePayload({Known("a", 0)}, "t0ken")));
  EXPECT_TRUE(hub->Pull(1, pull.SerializeAsString()).response.ok());
}

// Before the token, a request's keys are not parsed: keys that would not
// even parse are refused for the token (not as malformed), and a frame of
// empty keys is refused like any request without the token.
TEST_F(HubTest, WithoutTheTokenKeysAreNotParsed) {
  auto hub = Hub("t0ken");
  protocol::SubscribeRequest header;
  header.set_host_id("host-1");
  header.set_auth_token("nope");
  std::string unparsable_keys = header.SerializeAsString();
  unparsable_keys += std::string("\x22\x02\xff\xff", 4);  // keys: a bad Known
  EXPECT_EQ(hub->Subscribe(1, unparsable_keys).response.status().code(),
            absl::StatusCode::kPermissionDenied);
  std::string bomb = header.SerializeAsString();
  for (int i = 0; i < 30000; ++i) bomb += std::string("\x22\x00", 2);
  EXPECT_EQ(hub->Subscribe(1, bomb).response.status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(hub->Pull(1, std::string("\x0a\x02\xff\xff", 4))
                .response.status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Rejected("auth"), 3);
  EXPECT_EQ(Rejected("malformed_request"), 0);
  // A top level that does not parse is still malformed.
  EXPECT_EQ(hub->Subscribe(1, "\xff\xff\xff").response.status().code(),
            absl::StatusCode::kInvalidArgument);
  // The same bytes with the right token: parsed, the bad Known found.
  protocol::SubscribeRequest good;
  good.set_auth_token("t0ken");
  EXPECT_EQ(hub->Subscribe(1, good.SerializeAsString() +
                                  std::string("\x22\x02\xff\xff", 4))
                .response.status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  Parse(hub->Subscribe(1, SubscribePayload({Known("a", 0)}, "t0ken")));
}

TEST_F(HubTest, LimitsAndBadInput) {
  auto hub = Hub("", /*max_keys=*/2);
  protocol::SubscribeResponse r = Parse(hub->Subscribe(
      1, SubscribePayload({Known("a", 0), Known("b", 0), Known("c", 0)})));
  EXPECT_EQ(r.rejected_size(), 1);
  EXPECT_EQ(r.rejected(0).key(), "c");
  EXPECT_EQ(Rejected("too_many_keys"), 1);
  EXPECT_EQ(hub->Subscribe(2, "\xff\xff\xff").response.status().code(),
            absl::StatusCode::kInvalidArgument);
  protocol::SubscribeRequest bad_host;
  bad_host.set_host_id("../host");
  EXPECT_EQ(
      hub->Subscribe(2, bad_host.SerializeAsString()).response.status().code(),
      absl::StatusCode::kInvalidArgument);
  DataSet empty;
  HubOptions options;
  SubscriptionHub unloaded(
      &empty, [] { return true; }, &pusher_, options, &metrics_);
  EXPECT_EQ(unloaded.Subscribe(3, SubscribePayload({Known("a", 0)}))
                .response.status()
                .code(),
            absl::StatusCode::kUnavailable);
}

// Gray release: the connection whose host is selected gets the gray
// version (at its higher revision), the others the base; pushes likewise.
TEST_F(HubTest, GrayVersionGoesOnlyToSelectedHosts) {
  auto hub = Hub();
  auto subscribe = [&](uint64_t c, const std::string& host, int64_t have) {
    protocol::SubscribeRequest request;
    request.set_host_id(host);
    *request.add_keys() = Known("a", have);
    return Parse(hub->Subscribe(c, request.SerializeAsString()));
  };
  // Both hold the base (revision 1).
  EXPECT_EQ(subscribe(1, "host-gray", 1).updates_size(), 0);
  EXPECT_EQ(subscribe(2, "host-other", 1).updates_size(), 0);

  // A gray release of ns/a at revision 3, for host-gray.
  protocol::Resource gray_res = Res("a", 3);
  gray_res.set_value("gray");
  auto made = *MakeItem(gray_res);
  auto gray = std::make_shared<Item>(*made);
  gray->key = GrayKeyString("ns", "a");
  auto record = std::make_shared<zk::GrayRecord>();
  record->set_namespace_name("ns");
  record->set_key("a");
  record->set_revision(3);
  record->add_hosts("host-gray");
  gray->gray = record;
  std::vector<ItemPtr> applied = data_.ApplyNewer({gray}, 3);
  hub->OnChanges(applied, 3);
  EXPECT_EQ(pusher_.received[1], std::vector<std::string>{"a"});
  EXPECT_TRUE(pusher_.received[2].empty());

  // Answers: gray host gets revision 3, the other nothing (it has 1).
  protocol::SubscribeResponse r = subscribe(1, "host-gray", 1);
  ASSERT_EQ(r.updates_size(), 1);
  EXPECT_EQ(r.updates(0).revision(), 3);
  EXPECT_EQ(r.updates(0).value(), "gray");
  EXPECT_EQ(subscribe(1, "host-gray", 3).updates_size(), 0);
  EXPECT_EQ(subscribe(2, "host-other", 1).updates_size(), 0);
  r = subscribe(3, "host-new", 0);
  ASSERT_EQ(r.updates_size(), 1);
  EXPECT_EQ(r.updates(0).revision(), 1);

  // Promote: the config at 4, then the gray record deleted at 5.
  pusher_.received.clear();
  protocol::Resource promoted = Res("a", 4);
  promoted.set_value("gray");
  applied = data_.ApplyNewer({*MakeItem(promoted)}, 4);
  hub->OnChanges(applied, 4);
  EXPECT_EQ(pusher_.received[1], std::vector<std::string>{"a"});
  EXPECT_EQ(pusher_.received[2], std::vector<std::string>{"a"});
  applied = data_.ApplyNewer({MakeAbsent(GrayKeyString("ns", "a"), 5)}, 5);
  pusher_.received.clear();
  hub->OnChanges(applied, 5);
  EXPECT_TRUE(pusher_.received.empty());
  r = subscribe(1, "host-gray", 3);
  ASSERT_EQ(r.updates_size(), 1);
  EXPECT_EQ(r.updates(0).revision(), 4);
}

protocol::Known NamespaceKnown(
    const std::string& ns,
    const std::vector<std::tuple<std::string, int64_t, bool>>& held = {}) {
  protocol::Known k;
  k.mutable_key()->set_type(protocol::ResourceKey::NAMESPACE);
  k.mutable_key()->set_namespace_name(ns);
  for (const auto& [key, revision, absent] : held) {
    protocol::HeldKey* h = k.add_held();
    h->set_key(key);
    h->set_revision(revision);
    h->set_absent(absent);
  }
  return k;
}

std::vector<std::string> UpdatedKeys(const protocol::SubscribeResponse& r) {
  std::vector<std::string> out;
  for (const protocol::Resource& u : r.updates()) {
    out.push_back(absl::StrCat(u.key().namespace_name(), "/", u.key().key(),
                               "@", u.revision(), u.absent() ? "-" : ""));
  }
  return out;
}

TEST_F(HubTest, NamespaceAnswerCarriesEveryKeyNewerThanHeld) {
  Load({Res("a", 1), Res("b", 2), Res("c", 3)}, 3);
  protocol::Resource other = Res("x", 3);
  other.mutable_key()->set_namespace_name("other");
  ASSERT_TRUE(data_.ApplyNewer({*MakeItem(other)}, 4).size() == 1);
  data_.ApplyNewer({MakeAbsent("c/ns/c", 4)}, 4);  // c deleted
  auto hub = Hub();
  // Nothing held: every live key of ns, no tombstone, not "other".
  protocol::SubscribeResponse r =
      Parse(hub->Subscribe(1, SubscribePayload({NamespaceKnown("ns")})));
  EXPECT_EQ(UpdatedKeys(r), (std::vector<std::string>{"ns/a@1", "ns/b@2"}));
  EXPECT_EQ(hub->namespace_subscribers("ns"), 1u);
  EXPECT_EQ(hub->subscribed_connections(), 1u);
  // Held: a current, b old, c live (the tombstone is due), gone live (not
  // known here: a tombstone at the data revision), old tombstone held.
  r = Parse(hub->Subscribe(
      2, SubscribePayload({NamespaceKnown("ns", {{"a", 1, false},
                                                 {"b", 1, false},
                                                 {"c", 3, false},
                                                 {"gone", 2, false},
                                                 {"dead", 2, true}})})));
  EXPECT_EQ(UpdatedKeys(r), (std::vector<std::string>{"ns/b@2", "ns/c@4-",
                                                      "ns/gone@4-"}));
  // A pull with everything held answers nothing.
  protocol::PullRequest pull;
  *pull.add_keys() = NamespaceKnown(
      "ns", {{"a", 1, false}, {"b", 2, false}, {"c", 4, true}});
  r = Parse(hub->Pull(1, pull.SerializeAsString()));
  EXPECT_EQ(r.updates_size(), 0);
}

// A namespace of thousands of keys over a small answer budget: each answer
// says how many it left out, and pulls listing what was received get the
// rest page by page, every key exactly once, until nothing is deferred.
TEST_F(HubTest, LargeNamespaceIsAnsweredPageByPage) {
  constexpr int kKeys = 3000;
  std::vector<protocol::Resource> resources;
  for (int i = 0; i < kKeys; ++i) {
    resources.push_back(Res(absl::StrCat("k", i), i + 1));
  }
  Load(resources, kKeys);
  HubOptions options;
  options.budget_bytes = 20000;  // about 600 of these resources
  auto hub = std::make_unique<SubscriptionHub>(
      &data_, [] { return false; }, &pusher_, options, &metrics_);
  std::map<std::string, int64_t> held;
  protocol::SubscribeResponse r =
      Parse(hub->Subscribe(1, SubscribePayload({NamespaceKnown("ns")})));
  int pages = 1;
  while (true) {
    for (const protocol::Resource& u : r.updates()) {
      EXPECT_TRUE(held.emplace(u.key().key(), u.revision()).second)
          << "sent twice: " << u.key().key();
    }
    EXPECT_EQ(r.deferred() + static_cast<int64_t>(held.size()), kKeys);
    if (r.deferred() == 0) break;
    ASSERT_GT(r.updates_size(), 0);
    ASSERT_LT(pages, 100);
    std::vector<std::tuple<std::string, int64_t, bool>> list;
    for (const auto& [key, revision] : held) {
      list.push_back({key, revision, false});
    }
    protocol::PullRequest pull;
    *pull.add_keys() = NamespaceKnown("ns", list);
    r = Parse(hub->Pull(1, pull.SerializeAsString()));
    ++pages;
  }
  EXPECT_EQ(held.size(), static_cast<size_t>(kKeys));
  EXPECT_GE(pages, 4);
  EXPECT_EQ(pusher_.calls, 0);  // one payload per answer: no follow-ups
}

TEST_F(HubTest, NamespaceGetsLaterKeysOncePerConnectionUntilUnsubscribed) {
  auto hub = Hub();
  Parse(hub->Subscribe(1, SubscribePayload({NamespaceKnown("ns"),
                                            Known("a", 1)})));
  Parse(hub->Subscribe(2, SubscribePayload({Known("a", 1)})));
  // A new key, a change of a key subscribed both ways, a delete, and a key
  // of another namespace.
  protocol::Resource other = Res("x", 6);
  other.mutable_key()->set_namespace_name("other");
  std::vector<ItemPtr> applied = data_.ApplyNewer(
      {*MakeItem(Res("fresh", 3)), *MakeItem(Res("a", 4)),
       MakeAbsent("c/ns/b", 5), *MakeItem(other)},
      6);
  hub->OnChanges(applied, 6);
  EXPECT_EQ(pusher_.received[1],
            (std::vector<std::string>{"fresh", "a", "b"}));
  EXPECT_EQ(pusher_.received[2], (std::vector<std::string>{"a"}));

  // Unsubscribing the namespace keeps the key subscribed on its own.
  protocol::UnsubscribeRequest un;
  *un.add_keys() = NamespaceKnown("ns").key();
  ASSERT_TRUE(hub->Unsubscribe(1, un.SerializeAsString()).ok());
  EXPECT_EQ(hub->namespace_subscribers("ns"), 0u);
  pusher_.received.clear();
  applied = data_.ApplyNewer(
      {*MakeItem(Res("fresh", 7)), *MakeItem(Res("a", 8))}, 8);
  hub->OnChanges(applied, 8);
  EXPECT_EQ(pusher_.received[1], (std::vector<std::string>{"a"}));
  // The last one: the connection is no longer subscribed.
  *un.add_keys() = Known("a", 0).key();
  ASSERT_TRUE(hub->Unsubscribe(1, un.SerializeAsString()).ok());
  EXPECT_EQ(hub->subscribed_connections(), 1u);  // connection 2
  hub->Disconnected(2);
  EXPECT_EQ(hub->subscribed_connections(), 0u);
}

TEST_F(HubTest, NamespaceNamesValidatedAndCountedAgainstTheLimit) {
  auto hub = Hub("", /*max_keys=*/2);
  protocol::SubscribeResponse r = Parse(hub->Subscribe(
      1, SubscribePayload({NamespaceKnown("../etc"), NamespaceKnown("ns"),
                           NamespaceKnown("n2"), NamespaceKnown("n3")})));
  ASSERT_EQ(r.rejected_size(), 2);
  EXPECT_EQ(r.rejected(0).namespace_name(), "../etc");
  EXPECT_EQ(r.rejected(1).type(), protocol::ResourceKey::NAMESPACE);
  EXPECT_EQ(r.rejected(1).namespace_name(), "n3");
  EXPECT_EQ(hub->namespace_subscribers("ns"), 1u);
  EXPECT_EQ(hub->namespace_subscribers("n2"), 1u);
  EXPECT_EQ(Rejected("too_many_keys"), 1);
}

}  // namespace
}  // namespace distributor
}  // namespace kess
