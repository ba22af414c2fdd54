#include "zk_schema/read_acl.h"

#include <string>

#include "gtest/gtest.h"

namespace kess {
namespace zk {
namespace {

ReadAclRecord Acl(std::vector<std::string> hosts,
                  std::vector<std::string> identities = {}) {
  ReadAclRecord record;
  for (const std::string& h : hosts) record.add_hosts(h);
  for (const std::string& i : identities) record.add_identities(i);
  return record;
}

Reader Host(const std::string& name) { return Reader{"host", name}; }

TEST(GlobMatchTest, Wildcards) {
  EXPECT_TRUE(GlobMatch("web-*", "web-1"));
  EXPECT_TRUE(GlobMatch("web-*", "web-"));
  EXPECT_FALSE(GlobMatch("web-*", "web"));
  EXPECT_FALSE(GlobMatch("web-*", "db-web-1"));
  EXPECT_TRUE(GlobMatch("*-eu", "web-1-eu"));
  EXPECT_FALSE(GlobMatch("*-eu", "web-1-eu2"));
  EXPECT_TRUE(GlobMatch("db-0?", "db-07"));
  EXPECT_FALSE(GlobMatch("db-0?", "db-0"));
  EXPECT_FALSE(GlobMatch("db-0?", "db-071"));
  EXPECT_TRUE(GlobMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "axxbyy"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
  EXPECT_TRUE(GlobMatch("web-1", "web-1"));
  EXPECT_FALSE(GlobMatch("web-1", "web-10"));
}

TEST(GlobMatchTest, WorstCaseStaysBounded) {
  // 8 stars over a 128-character name that almost matches: the one
  // backtrack point keeps this quadratic, not exponential.
  const std::string pattern = "a*a*a*a*a*a*a*a*b";
  const std::string text(128, 'a');
  EXPECT_FALSE(GlobMatch(pattern, text));
  EXPECT_TRUE(GlobMatch(pattern, text + "b"));
}

TEST(ReadAclTest, HostPatterns) {
  absl::StatusOr<CompiledReadAcl> acl =
      CompiledReadAcl::Compile(Acl({"web-*", "db-01", "cache-?-eu"}));
  ASSERT_TRUE(acl.ok()) << acl.status();
  EXPECT_TRUE(acl->Allows(Host("web-17")));
  EXPECT_TRUE(acl->Allows(Host("db-01")));
  EXPECT_FALSE(acl->Allows(Host("db-02")));
  EXPECT_TRUE(acl->Allows(Host("cache-3-eu")));
  EXPECT_FALSE(acl->Allows(Host("cache-33-eu")));
  EXPECT_FALSE(acl->Allows(Host("")));
  // Host patterns match host principals only.
  EXPECT_FALSE(acl->Allows(Reader{"service", "web-17"}));
  EXPECT_FALSE(acl->Allows(Reader{"operator", "db-01"}));
  EXPECT_FALSE(acl->Allows(Reader{"", "web-1"}));
}

TEST(ReadAclTest, Identities) {
  absl::StatusOr<CompiledReadAcl> acl = CompiledReadAcl::Compile(
      Acl({}, {"service/billing", "host/web-1", "operator/alice"}));
  ASSERT_TRUE(acl.ok()) << acl.status();
  EXPECT_TRUE(acl->Allows(Reader{"service", "billing"}));
  EXPECT_TRUE(acl->Allows(Host("web-1")));
  EXPECT_TRUE(acl->Allows(Reader{"operator", "alice"}));
  EXPECT_FALSE(acl->Allows(Reader{"service", "billing2"}));
  EXPECT_FALSE(acl->Allows(Reader{"host", "billing"}));
  EXPECT_FALSE(acl->Allows(Host("web-2")));
}

TEST(ReadAclTest, EmptyAclAllowsNobodyAndStarEveryHost) {
  absl::StatusOr<CompiledReadAcl> none = CompiledReadAcl::Compile(Acl({}));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->Allows(Host("web-1")));
  absl::StatusOr<CompiledReadAcl> all = CompiledReadAcl::Compile(Acl({"*"}));
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Allows(Host("anything.example")));
  EXPECT_FALSE(all->Allows(Reader{"service", "x"}));
}

TEST(ReadAclTest, RefusesHostileEntries) {
  for (const std::string& bad :
       {std::string(""), std::string(129, 'a'), std::string("web/1"),
        std::string("../x"), std::string("a..b*"), std::string("web 1"),
        std::string("web\n1"), std::string("web\0001", 5),
        std::string("[ab]"), std::string("*a*a*a*a*a*a*a*a*a")}) {
    EXPECT_FALSE(ValidateHostPattern(bad).ok()) << bad;
    EXPECT_FALSE(CompiledReadAcl::Compile(Acl({bad})).ok()) << bad;
  }
  for (const std::string& bad :
       {std::string("billing"), std::string("/billing"),
        std::string("service/"), std::string("root/x"),
        std::string("service/a/b"), std::string("service/.."),
        std::string("host/") + std::string(200, 'a'),
        std::string("service/bil ling")}) {
    EXPECT_FALSE(ValidateIdentity(bad).ok()) << bad;
    EXPECT_FALSE(CompiledReadAcl::Compile(Acl({}, {bad})).ok()) << bad;
  }
  std::vector<std::string> many(kMaxReadAclEntries + 1, "web-*");
  EXPECT_FALSE(CompiledReadAcl::Compile(Acl(many)).ok());
  many.pop_back();
  EXPECT_TRUE(CompiledReadAcl::Compile(Acl(many)).ok());
}

TEST(ReadAclTest, WideHostList) {
  std::vector<std::string> hosts;
  for (int i = 0; i < 900; ++i) hosts.push_back("h-" + std::to_string(i));
  absl::StatusOr<CompiledReadAcl> acl = CompiledReadAcl::Compile(Acl(hosts));
  ASSERT_TRUE(acl.ok());
  EXPECT_TRUE(acl->Allows(Host("h-899")));
  EXPECT_FALSE(acl->Allows(Host("h-900")));
}

}  // namespace
}  // namespace zk
}  // namespace kess
