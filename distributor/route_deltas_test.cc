#include "distributor/route_deltas.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/value_encoding.h"
#include "distributor/data_set.h"
#include "distributor/subscription_hub.h"
#include "gtest/gtest.h"
#include "model/route_delta.h"
#include "model/route_table.h"

namespace kess {
namespace distributor {
namespace {

RouteTable Table(int64_t revision, int instances) {
  RouteTable t;
  t.service = "checkout";
  t.revision = revision;
  for (int n = 0; n < instances; ++n) {
    RouteInstance in;
    in.id = absl::StrCat("i-", 1000 + n);
    in.host = absl::StrCat("h", n);
    in.address = absl::StrCat("127.0.0.1:", 2000 + n);
    in.datacenter = "dc1";
    in.metadata["version"] = "1.0";
    t.instances.push_back(in);
  }
  return t;
}

ItemPtr WholeItem(const RouteTable& table) {
  protocol::Resource r;
  r.mutable_key()->set_type(protocol::ResourceKey::ROUTE);
  r.mutable_key()->set_service(table.service);
  r.set_revision(table.revision);
  r.set_value(RouteTableToJson(table));
  r.set_crc32(Crc32(r.value()));
  r.set_content_type("application/json");
  return *MakeItem(r);
}

zk::ChangeRecord Put(const RouteTable& from, const RouteTable& to) {
  zk::ChangeRecord change;
  change.set_revision(to.revision);
  change.set_kind(zk::ROUTE_PUT);
  change.set_service(to.service);
  const std::string json = RouteTableToJson(to);
  change.set_value_size(json.size());
  change.set_value_crc32(Crc32(json));
  change.set_route_delta(RouteDeltaToJson(ComputeRouteDelta(from, to)));
  change.mutable_meta()->set_mtime_ms(12345);
  return change;
}

std::string ValueOf(const Item& item) {
  protocol::Resource r;
  EXPECT_TRUE(r.ParseFromString(item.wire));
  return r.value();
}

TEST(RouteDeltasTest, ChangesBuildTheNextVersionWithDeltasFromEachBase) {
  RouteTable t1 = Table(10, 200);
  RouteTable t2 = t1;
  t2.revision = 12;
  t2.instances[5].weight = 3;
  RouteTable t3 = t2;
  t3.revision = 15;
  t3.instances.erase(t3.instances.begin() + 7);
  RouteTable t4 = t3;
  t4.revision = 16;
  t4.instances[9].state = InstanceState::kDisabled;

  absl::StatusOr<ItemPtr> v2 = ApplyRouteChanges(WholeItem(t1), {Put(t1, t2)});
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(ValueOf(**v2), RouteTableToJson(t2));
  EXPECT_EQ((*v2)->revision, 12);
  ASSERT_EQ((*v2)->deltas.size(), 1u);
  EXPECT_EQ((*v2)->deltas[0].base_revision, 10);

  // Two changes in one step: composed; and held's own base carried on.
  absl::StatusOr<ItemPtr> v4 =
      ApplyRouteChanges(*v2, {Put(t2, t3), Put(t3, t4)});
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(ValueOf(**v4), RouteTableToJson(t4));
  ASSERT_EQ((*v4)->deltas.size(), 2u);
  EXPECT_EQ((*v4)->deltas[0].base_revision, 12);
  EXPECT_EQ((*v4)->deltas[1].base_revision, 10);

  // What a connection is sent: the delta from what it holds, which gives
  // the same bytes as the table.
  for (const RouteTable* held : {&t1, &t2}) {
    ItemPtr sent = DeltaOrWhole(*v4, held->revision);
    ASSERT_NE(sent, *v4);
    protocol::Resource r;
    ASSERT_TRUE(r.ParseFromString(sent->wire));
    EXPECT_TRUE(r.value().empty());
    EXPECT_EQ(r.delta_base_revision(), held->revision);
    EXPECT_EQ(r.revision(), 16);
    absl::StatusOr<RouteDelta> delta = RouteDeltaFromJson(r.route_delta());
    ASSERT_TRUE(delta.ok()) << delta.status();
    absl::StatusOr<std::string> applied =
        ApplyRouteDeltaToJson(RouteTableToJson(*held), *delta, r.crc32());
    ASSERT_TRUE(applied.ok()) << applied.status();
    EXPECT_EQ(*applied, RouteTableToJson(t4));
  }
  EXPECT_EQ(DeltaOrWhole(*v4, 15), *v4);  // a base it has no delta from
  EXPECT_EQ(DeltaOrWhole(*v4, 0), *v4);
  EXPECT_EQ(NewestDelta(**v4), (*v4)->deltas[0].item);
}

TEST(RouteDeltasTest, RefusesWhatItCannotApply) {
  RouteTable t1 = Table(10, 50);
  RouteTable t2 = t1;
  t2.revision = 11;
  t2.instances[1].weight = 9;
  RouteTable t3 = t2;
  t3.revision = 12;
  t3.instances[2].weight = 9;
  const ItemPtr held = WholeItem(t1);
  // A gap in the chain.
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ApplyRouteChanges(held, {Put(t2, t3)}).status()));
  // A change without a delta.
  zk::ChangeRecord bare = Put(t1, t2);
  bare.clear_route_delta();
  EXPECT_TRUE(
      absl::IsFailedPrecondition(ApplyRouteChanges(held, {bare}).status()));
  // Nothing held, or a tombstone.
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ApplyRouteChanges(nullptr, {Put(t1, t2)}).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ApplyRouteChanges(MakeAbsent("r/checkout", 10), {Put(t1, t2)}).status()));
  // A CRC-32 that does not match what the delta gives.
  zk::ChangeRecord wrong = Put(t1, t2);
  wrong.set_value_crc32(wrong.value_crc32() ^ 1);
  EXPECT_TRUE(absl::IsDataLoss(ApplyRouteChanges(held, {wrong}).status()));
  // Changes no newer than held: held itself.
  absl::StatusOr<ItemPtr> same =
      ApplyRouteChanges(held, {Put(Table(9, 1), t1)});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, held);
}

TEST(RouteDeltasTest, DeltasStayBelowHalfTheTable) {
  RouteTable t1 = Table(10, 4);
  RouteTable t2 = Table(11, 4);
  for (RouteInstance& in : t2.instances) in.weight = 1;  // all changed
  absl::StatusOr<ItemPtr> v2 = ApplyRouteChanges(WholeItem(t1), {Put(t1, t2)});
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_TRUE((*v2)->deltas.empty());
  EXPECT_EQ(NewestDelta(**v2), nullptr);
}

// Records what each connection is pushed. (Both forms of Push: this test
// does not care whether the hub asks to be told when frames are written.)
class RecordingPusher : public Pusher {
 public:
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload) {
    Record(connections, payload);
  }
  void Push(const std::vector<uint64_t>& connections,
            const std::string& payload, std::function<void()> on_written) {
    Record(connections, payload);
    if (on_written) on_written();
  }
  void Record(const std::vector<uint64_t>& connections,
              const std::string& payload) {
    protocol::UpdatePush push;
    ASSERT_TRUE(push.ParseFromString(payload));
    for (uint64_t c : connections) {
      for (const protocol::Resource& r : push.updates()) {
        received[c].push_back(r);
      }
    }
  }
  std::map<uint64_t, std::vector<protocol::Resource>> received;
};

std::string Subscribe(int64_t have, bool deltas) {
  protocol::SubscribeRequest request;
  request.set_host_id("host-1");
  request.set_route_deltas(deltas);
  protocol::Known* k = request.add_keys();
  k->mutable_key()->set_type(protocol::ResourceKey::ROUTE);
  k->mutable_key()->set_service("checkout");
  k->set_revision(have);
  return request.SerializeAsString();
}

protocol::Resource OnlyUpdate(const Answer& answer) {
  protocol::SubscribeResponse response;
  EXPECT_TRUE(answer.response.ok());
  EXPECT_TRUE(response.ParseFromString(*answer.response));
  EXPECT_EQ(response.updates_size(), 1);
  return response.updates_size() > 0 ? response.updates(0)
                                     : protocol::Resource();
}

TEST(RouteDeltasHubTest, ConnectionsThatTakeDeltasGetThemOthersTheTable) {
  RouteTable t1 = Table(10, 300);
  RouteTable t2 = t1;
  t2.revision = 12;
  t2.instances[100].weight = 1;
  DataSet data;
  data.ApplyFullLoad(data.DiffFullLoad({WholeItem(t1)}, 10), 10);
  RecordingPusher pusher;
  metrics::Registry registry;
  DistributorMetrics metrics(&registry);
  SubscriptionHub hub(
      &data, [] { return false; }, &pusher, HubOptions(), &metrics);
  // Both hold nothing: both get the table.
  EXPECT_EQ(OnlyUpdate(hub.Subscribe(1, Subscribe(0, true))).value(),
            RouteTableToJson(t1));
  EXPECT_EQ(OnlyUpdate(hub.Subscribe(2, Subscribe(0, false))).value(),
            RouteTableToJson(t1));

  absl::StatusOr<ItemPtr> v2 =
      ApplyRouteChanges(data.Find("r/checkout"), {Put(t1, t2)});
  ASSERT_TRUE(v2.ok()) << v2.status();
  std::vector<ItemPtr> applied = data.ApplyNewer({*v2}, 12);
  hub.OnChanges(applied, 12);
  ASSERT_EQ(pusher.received[1].size(), 1u);
  ASSERT_EQ(pusher.received[2].size(), 1u);
  const protocol::Resource& delta = pusher.received[1][0];
  EXPECT_TRUE(delta.value().empty());
  EXPECT_EQ(delta.delta_base_revision(), 10);
  EXPECT_EQ(delta.crc32(), Crc32(RouteTableToJson(t2)));
  EXPECT_LT(delta.ByteSizeLong() * 20, RouteTableToJson(t2).size());
  EXPECT_EQ(pusher.received[2][0].value(), RouteTableToJson(t2));
  EXPECT_TRUE(pusher.received[2][0].route_delta().empty());

  // Answers: a delta from the revision held, the table from anything else.
  protocol::Resource answer = OnlyUpdate(hub.Subscribe(3, Subscribe(10, true)));
  EXPECT_EQ(answer.delta_base_revision(), 10);
  EXPECT_TRUE(answer.value().empty());
  EXPECT_EQ(OnlyUpdate(hub.Subscribe(4, Subscribe(11, true))).value(),
            RouteTableToJson(t2));
  EXPECT_EQ(OnlyUpdate(hub.Subscribe(5, Subscribe(10, false))).value(),
            RouteTableToJson(t2));
  EXPECT_EQ(
      registry.GetCounter("kess_distributor_route_delta_resources_total", "")
          ->Value(),
      2);
}

}  // namespace
}  // namespace distributor
}  // namespace kess
