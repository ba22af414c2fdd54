#include "distributor/payload.h"

#include "gtest/gtest.h"

namespace kess {
namespace distributor {
namespace {

ItemPtr Sized(const std::string& key, int64_t revision, size_t bytes) {
  protocol::Resource r;
  r.mutable_key()->set_namespace_name("ns");
  r.mutable_key()->set_key(key);
  r.set_revision(revision);
  r.set_value(std::string(bytes, 'v'));
  return *MakeItem(r);
}

std::string Header(int64_t revision) {
  protocol::UpdatePush push;
  push.set_revision(revision);
  push.set_stale(true);
  return push.SerializeAsString();
}

TEST(PayloadTest, PacksIntoParsableMessages) {
  protocol::SubscribeResponse first;
  first.set_revision(9);
  first.add_rejected()->set_key("bad/key");
  first.set_rejected_reason("because");
  Packed packed =
      PackResources(first.SerializeAsString(), Header(9),
                    {Sized("a", 1, 10), Sized("b", 2, 20)}, 1 << 20, 1 << 20);
  ASSERT_EQ(packed.payloads.size(), 1u);
  EXPECT_EQ(packed.packed, 2u);
  protocol::SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(packed.payloads[0]));
  EXPECT_EQ(parsed.revision(), 9);
  EXPECT_EQ(parsed.rejected_size(), 1);
  EXPECT_EQ(parsed.rejected_reason(), "because");
  ASSERT_EQ(parsed.updates_size(), 2);
  EXPECT_EQ(parsed.updates(1).value(), std::string(20, 'v'));
}

TEST(PayloadTest, SplitsAtThePayloadLimitAndDefersOverTheBudget) {
  std::vector<ItemPtr> items;
  for (int i = 0; i < 10; ++i) {
    items.push_back(Sized(std::to_string(i), i + 1, 1000));
  }
  const size_t field = EncodedFieldSize(*items[0]);
  // Three resources per payload, budget for about seven.
  const size_t max_payload = Header(1).size() + 3 * field;
  Packed packed = PackResources(Header(1), Header(1), items, max_payload,
                                7 * field + 3 * Header(1).size());
  EXPECT_EQ(packed.packed, 7u);
  EXPECT_EQ(packed.deferred, 3u);
  ASSERT_EQ(packed.payloads.size(), 3u);
  int64_t next = 1;
  for (const std::string& payload : packed.payloads) {
    EXPECT_LE(payload.size(), max_payload);
    protocol::UpdatePush push;
    ASSERT_TRUE(push.ParseFromString(payload));
    EXPECT_TRUE(push.stale());
    for (const protocol::Resource& r : push.updates()) {
      EXPECT_EQ(r.revision(), next++);  // order kept across frames
    }
  }
  // One resource is always packed, whatever the budget; one larger than a
  // payload never is.
  Packed one = PackResources(Header(1), Header(1), items, max_payload, 0);
  EXPECT_EQ(one.packed, 1u);
  Packed huge = PackResources(Header(1), Header(1), {Sized("h", 1, 5000)},
                              max_payload, 1 << 20);
  EXPECT_EQ(huge.packed, 0u);
  EXPECT_EQ(huge.too_large, 1u);
}

TEST(PayloadTest, MarksWhatWasDeferredOnTheLastPayload) {
  std::vector<ItemPtr> items;
  for (int i = 0; i < 10; ++i) {
    items.push_back(Sized(std::to_string(i), i + 1, 1000));
  }
  const size_t field = EncodedFieldSize(*items[0]);
  protocol::SubscribeResponse first;
  first.set_revision(10);
  // One payload: the response itself says how many are left.
  Packed single =
      PackResources(first.SerializeAsString(), Header(10), items, 1 << 20,
                    4 * field + first.SerializeAsString().size());
  ASSERT_EQ(single.payloads.size(), 1u);
  ASSERT_EQ(single.deferred, 6u);
  MarkDeferred(&single, /*first_is_response=*/true);
  protocol::SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(single.payloads[0]));
  EXPECT_EQ(parsed.deferred(), 6);
  EXPECT_EQ(parsed.updates_size(), 4);
  EXPECT_EQ(parsed.revision(), 10);

  // Several payloads: only the last push carries it.
  const size_t max_payload = Header(10).size() + 3 * field;
  Packed split = PackResources(first.SerializeAsString(), Header(10), items,
                               max_payload, 7 * field + 3 * Header(10).size());
  ASSERT_EQ(split.payloads.size(), 3u);
  ASSERT_EQ(split.deferred, 3u);
  MarkDeferred(&split, /*first_is_response=*/true);
  protocol::SubscribeResponse response;
  ASSERT_TRUE(response.ParseFromString(split.payloads[0]));
  EXPECT_EQ(response.deferred(), 0);
  protocol::UpdatePush middle, last;
  ASSERT_TRUE(middle.ParseFromString(split.payloads[1]));
  ASSERT_TRUE(last.ParseFromString(split.payloads[2]));
  EXPECT_EQ(middle.deferred(), 0);
  EXPECT_EQ(last.deferred(), 3);
  EXPECT_EQ(last.revision(), 10);

  // Nothing deferred: nothing appended.
  Packed all = PackResources(Header(10), Header(10), items, 1 << 20, 1 << 20);
  const std::string before = all.payloads.back();
  MarkDeferred(&all, /*first_is_response=*/false);
  EXPECT_EQ(all.payloads.back(), before);
}

}  // namespace
}  // namespace distributor
}  // namespace kess
