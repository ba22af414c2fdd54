#include "distributor/data_set.h"

#include <map>

#include "gtest/gtest.h"

namespace kess {
namespace distributor {
namespace {

ItemPtr Config(const std::string& key, int64_t revision,
               const std::string& value) {
  protocol::Resource r;
  r.mutable_key()->set_type(protocol::ResourceKey::CONFIG);
  r.mutable_key()->set_namespace_name("ns");
  r.mutable_key()->set_key(key);
  r.set_revision(revision);
  r.set_value(value);
  r.set_crc32(static_cast<uint32_t>(value.size()));  // any stable checksum
  return *MakeItem(r);
}

TEST(ResourceTest, CanonicalKeysAndValidation) {
  protocol::ResourceKey key;
  key.set_namespace_name("ns");
  key.set_key("a.b");
  EXPECT_EQ(*CanonicalKey(key), "c/ns/a.b");
  key.set_key("../x");
  EXPECT_FALSE(CanonicalKey(key).ok());
  key.set_key(std::string("a\0b", 3));
  EXPECT_FALSE(CanonicalKey(key).ok());
  protocol::ResourceKey route;
  route.set_type(protocol::ResourceKey::ROUTE);
  route.set_service("svc-1");
  EXPECT_EQ(*CanonicalKey(route), "r/svc-1");
  EXPECT_EQ(ParseKeyString("c/ns/a.b").key(), "a.b");
  EXPECT_EQ(ParseKeyString("r/svc-1").service(), "svc-1");
  ItemPtr absent = MakeAbsent("c/ns/gone", 7);
  protocol::Resource decoded;
  ASSERT_TRUE(decoded.ParseFromString(absent->wire));
  EXPECT_TRUE(decoded.absent());
  EXPECT_EQ(decoded.revision(), 7);
  EXPECT_EQ(decoded.key().key(), "gone");
}

TEST(DataSetTest, ApplyNewerKeepsOnlyNewerVersionsInRevisionOrder) {
  DataSet data;
  std::vector<ItemPtr> applied =
      data.ApplyNewer({Config("b", 2, "b2"), Config("a", 1, "a1")}, 2);
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[0]->key, "c/ns/a");
  EXPECT_EQ(data.revision(), 2);
  EXPECT_EQ(data.live_keys(), 2u);
  // Same or older revisions are ignored; the revision never goes down.
  applied =
      data.ApplyNewer({Config("a", 1, "other"), Config("b", 1, "old")}, 1);
  EXPECT_TRUE(applied.empty());
  EXPECT_EQ(data.revision(), 2);
  // A delete is a tombstone.
  applied = data.ApplyNewer({MakeAbsent("c/ns/a", 3)}, 3);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_TRUE(data.Find("c/ns/a")->absent);
  EXPECT_EQ(data.live_keys(), 1u);
  std::vector<ItemPtr> found = data.FindAll({"c/ns/b", "c/ns/none"});
  EXPECT_EQ(found[0]->revision, 2);
  EXPECT_EQ(found[1], nullptr);
}

TEST(DataSetTest, FullLoadDiffHasOnlyDifferencesAndTombstones) {
  DataSet data;
  EXPECT_FALSE(data.loaded());
  DataSet::Diff first =
      data.DiffFullLoad({Config("a", 1, "a"), Config("b", 2, "b")}, 2);
  EXPECT_EQ(first.changes.size(), 2u);
  EXPECT_EQ(first.removed, 0u);
  data.ApplyFullLoad(first, 2);
  EXPECT_TRUE(data.loaded());

  // a unchanged, b changed, c new, d never held; a key held but missing
  // now gets a tombstone newer than what agents hold.
  data.ApplyNewer({Config("e", 3, "e")}, 3);
  DataSet::Diff diff = data.DiffFullLoad(
      {Config("a", 1, "a"), Config("b", 5, "b5"), Config("c", 4, "c")}, 5);
  EXPECT_EQ(diff.held_live, 3u);
  EXPECT_EQ(diff.removed, 1u);
  std::vector<std::string> keys;
  for (const ItemPtr& item : diff.changes) keys.push_back(item->key);
  EXPECT_EQ(keys, (std::vector<std::string>{"c/ns/c", "c/ns/b", "c/ns/e"}));
  EXPECT_TRUE(diff.changes[2]->absent);
  EXPECT_EQ(diff.changes[2]->revision, 5);
  data.ApplyFullLoad(diff, 5);
  EXPECT_EQ(data.live_keys(), 3u);
  EXPECT_EQ(data.revision(), 5);
  // Tombstones do not count as removals again.
  EXPECT_EQ(data.DiffFullLoad({Config("a", 1, "a"), Config("b", 5, "b5"),
                               Config("c", 4, "c")},
                              5)
                .changes.size(),
            0u);
}

TEST(ResourceTest, NamespaceKeys) {
  protocol::ResourceKey ns;
  ns.set_type(protocol::ResourceKey::NAMESPACE);
  ns.set_namespace_name("shop");
  EXPECT_EQ(*CanonicalKey(ns), "n/shop");
  ns.set_namespace_name("../x");
  EXPECT_FALSE(CanonicalKey(ns).ok());
  EXPECT_EQ(ParseKeyString("n/shop").type(), protocol::ResourceKey::NAMESPACE);
  EXPECT_EQ(ParseKeyString("n/shop").namespace_name(), "shop");
  EXPECT_EQ(NamespaceOfConfigKey("c/shop/db.timeout"), "shop");
  EXPECT_EQ(NamespaceOfConfigKey("r/shop"), "");
  EXPECT_EQ(NamespaceOfConfigKey("g/shop/k"), "");
  EXPECT_EQ(NamespaceOfKey("n/shop"), "shop");
}

TEST(DataSetTest, FindNamespaceHasLiveKeysAndTombstonesOfOneNamespace) {
  DataSet data;
  protocol::Resource other;
  other.mutable_key()->set_namespace_name("ns2");
  other.mutable_key()->set_key("a");
  other.set_revision(1);
  protocol::Resource route;
  route.mutable_key()->set_type(protocol::ResourceKey::ROUTE);
  route.mutable_key()->set_service("ns");
  route.set_revision(1);
  data.ApplyFullLoad(
      data.DiffFullLoad({Config("a", 1, "x"), Config("b", 2, "y"),
                         *MakeItem(other), *MakeItem(route)},
                        2),
      2);
  EXPECT_EQ(data.FindNamespace("ns").size(), 2u);
  data.ApplyNewer({MakeAbsent("c/ns/a", 3), Config("c", 4, "z")}, 4);
  std::map<std::string, bool> found;
  for (const ItemPtr& item : data.FindNamespace("ns")) {
    found[item->key] = item->absent;
  }
  EXPECT_EQ(found,
            (std::map<std::string, bool>{
                {"c/ns/a", true}, {"c/ns/b", false}, {"c/ns/c", false}}));
  EXPECT_TRUE(data.FindNamespace("none").empty());
  EXPECT_EQ(data.FindNamespace("ns2").size(), 1u);
}

}  // namespace
}  // namespace distributor
}  // namespace kess
