// kessctl snapshot save/restore and config export/import, in-process
// against the real mandator HTTP API (mandator/testing/api_server.h: the
// real stores, election, write path and snapshots over the in-memory
// ZooKeeper), and the export formats on their own.
#include "kessctl/transfer_command.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kessctl/commands.h"
#include "mandator/testing/api_server.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace kessctl {
namespace {

using ::kess::mandator::testing::ApiServer;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", getpid(), "-", name);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Values that need escaping somewhere: separators, new lines, quotes,
// leading blanks, non-ASCII, empty.
const std::map<std::string, std::string> kTricky = {
    {"a.b", "plain"},
    {"eq", "x=y:z # not a comment"},
    {"lines", "one\ntwo\r\n\tthree"},
    {"quotes", "say \"hi\" and 'bye' \\ back"},
    {"lead", "  two spaces first"},
    {"utf8", "gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac"},
    {"empty", ""},
    {"json", "{\"k\": [1, 2]}"},
};

TEST(ConfigFormatsTest, EveryFormatRoundTripsTrickyValues) {
  for (const char* format : {"json", "properties", "yaml"}) {
    auto text = FormatConfigs(kTricky, format);
    ASSERT_TRUE(text.ok()) << format << ": " << text.status();
    auto parsed = ParseConfigs(*text, format);
    ASSERT_TRUE(parsed.ok()) << format << ": " << parsed.status() << "\n"
                             << *text;
    EXPECT_EQ(*parsed, kTricky) << format << "\n" << *text;
  }
}

TEST(ConfigFormatsTest, BinaryValuesOnlyInJson) {
  const std::map<std::string, std::string> binary = {
      {"blob", std::string("\0\xff\x01", 3)}};
  auto json = FormatConfigs(binary, "json");
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr("base64"));
  EXPECT_EQ(*ParseConfigs(*json, "json"), binary);
  EXPECT_EQ(FormatConfigs(binary, "properties").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatConfigs(binary, "yaml").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConfigFormatsTest, HandWrittenFilesAreRead) {
  auto properties = ParseConfigs(
      "# a comment\n! another\n\nhost = db1.example\nport:5432\n"
      "long = first \\\n    second\nunicode=\\u00e9t\\u00e9\n",
      "properties");
  ASSERT_TRUE(properties.ok()) << properties.status();
  EXPECT_EQ(*properties, (std::map<std::string, std::string>{
                             {"host", "db1.example"},
                             {"port", "5432"},
                             {"long", "first second"},
                             {"unicode", "\xc3\xa9t\xc3\xa9"}}));
  auto yaml = ParseConfigs(
      "---\n# settings\nhost: db1.example  # primary\nport: 5432\n"
      "name: 'it''s'\nquoted: \"a: b\"\nempty:\n",
      "yaml");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_EQ(*yaml, (std::map<std::string, std::string>{{"host", "db1.example"},
                                                      {"port", "5432"},
                                                      {"name", "it's"},
                                                      {"quoted", "a: b"},
                                                      {"empty", ""}}));
  EXPECT_EQ(ParseConfigs("a:\n  nested: 1\n", "yaml").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseConfigs("a: 1\na: 2\n", "yaml").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseConfigs("[1]", "json").status().code(),
            absl::StatusCode::kInvalidArgument);
}

class TransferTest : public ::testing::Test {
 protected:
  std::unique_ptr<ApiServer> Start(zk::testing::FakeZkServer* zk) {
    ApiServer::Options options;
    options.zk = zk;
    auto server = ApiServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  void SetUp() override {
    server_ = Start(&zk_);
    ASSERT_NE(server_, nullptr);
    options_.mandators = {server_->address()};
    options_.timeout = absl::Seconds(5);
    options_.author = "alice";
  }

  struct Result {
    int code = -1;
    std::string out, err;
  };
  Result Run(const Options& options, std::vector<std::string> args) {
    std::istringstream in;
    std::ostringstream out, err;
    Result r;
    r.code = RunKessctl(args, options, {&in, &out, &err});
    r.out = out.str();
    r.err = err.str();
    return r;
  }
  Result Run(std::vector<std::string> args) { return Run(options_, args); }

  std::string Get(const std::string& ns, const std::string& key,
                  const Options* options = nullptr) {
    Result r = Run(options ? *options : options_, {"config", "get", ns, key});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }

  zk::testing::FakeZkServer zk_;
  std::unique_ptr<ApiServer> server_;
  Options options_;
};

TEST_F(TransferTest, ExportThenImportShowsTheDiffAndWritesOnlyWithoutDryRun) {
  for (const auto& [key, value] : kTricky) {
    ASSERT_EQ(Run({"config", "put", "app", key, value}).code, 0) << key;
  }
  for (const char* format : {"json", "properties", "yaml"}) {
    const std::string file =
        TempPath(absl::StrCat("app.", format == std::string("yaml") ? "yml"
                                                                     : format));
    Options o = options_;
    o.file = file;
    Result exported = Run(o, {"config", "export", "app"});
    ASSERT_EQ(exported.code, 0) << exported.err;
    EXPECT_THAT(exported.out, HasSubstr("8 configs"));
    auto parsed = ParseConfigs(Slurp(file), format);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kTricky) << format;

    // Into another namespace: everything is added; a dry run writes nothing.
    Options dry = options_;
    dry.dry_run = true;
    const std::string ns = absl::StrCat("copy-", format);
    Result diff = Run(dry, {"config", "import", ns, file});
    ASSERT_EQ(diff.code, 0) << diff.err;
    EXPECT_THAT(diff.out, HasSubstr("+ " + ns + "/eq = \"x=y:z # not a comment\""));
    EXPECT_THAT(diff.out, HasSubstr("8 to add, 0 to change, 0 unchanged"));
    EXPECT_THAT(diff.out, HasSubstr("dry run, nothing written"));
    EXPECT_EQ(Run({"config", "list", ns}).code, kExitNotFound)
        << "the dry run wrote";
    Result imported = Run({"config", "import", ns, file});
    ASSERT_EQ(imported.code, 0) << imported.err;
    for (const auto& [key, value] : kTricky) {
      EXPECT_EQ(Get(ns, key), value) << format << " " << key;
    }
  }

  // A changed file: one changed, one added, the rest unchanged; keys only in
  // the namespace are kept.
  const std::string changed = TempPath("changed.properties");
  Write(changed, "a.b=new\nfresh=1\neq=x=y:z # not a comment\n");
  Options dry = options_;
  dry.dry_run = true;
  Result diff = Run(dry, {"config", "import", "app", changed});
  ASSERT_EQ(diff.code, 0) << diff.err;
  EXPECT_THAT(diff.out, HasSubstr("~ app/a.b: \"plain\" -> \"new\""));
  EXPECT_THAT(diff.out, HasSubstr("+ app/fresh = \"1\""));
  EXPECT_THAT(diff.out,
              HasSubstr("1 to add, 1 to change, 1 unchanged, 6 only in the "
                        "namespace (kept)"));
  EXPECT_EQ(Get("app", "a.b"), "plain");
  ASSERT_EQ(Run({"config", "import", "app", changed}).code, 0);
  EXPECT_EQ(Get("app", "a.b"), "new");
  EXPECT_EQ(Get("app", "fresh"), "1");
  EXPECT_EQ(Get("app", "lines"), kTricky.at("lines"));

  EXPECT_EQ(Run({"config", "import", "app", TempPath("missing.json")}).code,
            kExitUsage);
  Options bad = options_;
  bad.format = "toml";
  EXPECT_EQ(Run(bad, {"config", "export", "app"}).code, kExitUsage);
}

TEST_F(TransferTest, SnapshotSaveThenRestoreIntoAnEmptyEnsemble) {
  ASSERT_EQ(Run({"config", "put", "shop", "price", "1"}).code, 0);
  ASSERT_EQ(Run({"config", "put", "shop", "price", "2"}).code, 0);
  ASSERT_EQ(Run({"config", "put", "shop", "name", "kess"}).code, 0);
  Options gray = options_;
  gray.hosts = {"h1"};
  ASSERT_EQ(Run(gray, {"config", "gray", "shop", "name", "kess-gray"}).code, 0);

  const std::string file = TempPath("snapshot.json");
  Result saved = Run({"snapshot", "save", file});
  ASSERT_EQ(saved.code, 0) << saved.err;
  EXPECT_THAT(saved.out, HasSubstr("snapshot of dc1 at revision 4: 2 configs, "
                                   "1 gray releases"));
  auto doc = ParseJsonObject(Slurp(file));
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)->getValue<int64_t>("revision"), 4);

  // The same ensemble is not empty: refused, exit 3.
  Result refused = Run({"snapshot", "restore", file});
  EXPECT_EQ(refused.code, kExitConflict) << refused.out;
  EXPECT_THAT(refused.err, HasSubstr("not empty"));

  // A new, empty ensemble, above revision 100.
  zk::testing::FakeZkServer fresh;
  auto target = Start(&fresh);
  ASSERT_NE(target, nullptr);
  Options into = options_;
  into.mandators = {target->address()};
  into.min_revision = 100;
  Result restored = Run(into, {"snapshot", "restore", file});
  ASSERT_EQ(restored.code, 0) << restored.err;
  EXPECT_THAT(restored.out,
              HasSubstr("restored the snapshot of revision 4 as revisions "
                        "101..104: 2 configs (3 versions), 1 gray releases"));
  EXPECT_EQ(Get("shop", "price", &into), "2");
  EXPECT_EQ(Get("shop", "name", &into), "kess");
  Result history = Run(into, {"config", "history", "shop", "price"});
  // Keys in order (name at 101), each key's versions oldest first.
  EXPECT_THAT(history.out, HasSubstr("\n103       2 "));
  EXPECT_THAT(history.out, HasSubstr("\n102       1 "));
  Result status = Run(into, {"config", "gray-status", "shop", "name"});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("active at revision 104 to hosts h1"));

  EXPECT_EQ(Run({"snapshot", "save"}).code, kExitUsage);
  Write(TempPath("not-a-snapshot.json"), "{\"x\":1}");
  EXPECT_EQ(Run(into, {"snapshot", "restore", TempPath("not-a-snapshot.json")})
                .code,
            kExitInvalid);
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
