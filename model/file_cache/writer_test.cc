// FileCacheWriter and FileCacheReader on a real temp directory, with faults
// injected through FaultInjectionEnv.
#include "model/file_cache/writer.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "gtest/gtest.h"
#include "model/file_cache/env.h"
#include "model/file_cache/reader.h"
#include "model/file_cache/testing/fault_injection_env.h"

namespace kess {
namespace file_cache {
namespace {

using testing::FaultInjectionEnv;

CacheEntry Entry(const CacheKey& key, int64_t revision, std::string value) {
  CacheEntry e;
  e.key = key;
  e.revision = revision;
  e.value = std::move(value);
  e.content_type = "text/plain";
  return e;
}

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    std::string tmpl = base + "/cacheXXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    Reopen();
  }

  void Reopen() {
    writer_.reset();
    auto w = FileCacheWriter::Open({dir_, &env_});
    ASSERT_TRUE(w.ok()) << w.status();
    writer_ = std::move(w).value();
  }

  std::string RawFile(const std::string& relative) {
    auto text = Env::Default()->ReadFile(dir_ + "/" + relative);
    return text.ok() ? *text : "<" + text.status().ToString() + ">";
  }

  const CacheKey key_ = CacheKey::Config("shop", "db.timeout");
  std::string dir_;
  FaultInjectionEnv env_{Env::Default()};
  std::unique_ptr<FileCacheWriter> writer_;
};

TEST_F(WriterTest, WriteThenRead) {
  env_.SetNowMs(1234);
  auto r = writer_->Write(Entry(key_, 5, "30s"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, FileCacheWriter::Result::kWritten);
  EXPECT_EQ(writer_->Revision(key_), 5);

  FileCacheReader reader(dir_);
  auto e = reader.Read(key_);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->value, "30s");
  EXPECT_EQ(e->revision, 5);
  EXPECT_EQ(e->written_ms, 1234);
}

// A private entry's file is 0600 from its creation on; the next version
// of the same key may be public again.
TEST_F(WriterTest, FileModeIsTheEntrys) {
  umask(022);
  CacheEntry e = Entry(key_, 5, "plaintext");
  e.file_mode = 0600;
  ASSERT_TRUE(writer_->Write(e).ok());
  struct stat st;
  const std::string path = dir_ + "/configs/shop/db.timeout.json";
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_TRUE(writer_->Write(Entry(key_, 6, "public")).ok());
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644);
}

TEST_F(WriterTest, BinaryRouteRoundTrip) {
  std::string binary("\x00\xff\x10route\x80", 9);
  CacheKey route = CacheKey::Route("payments");
  ASSERT_TRUE(writer_->Write(Entry(route, 7, binary)).ok());
  auto e = FileCacheReader(dir_).Read(route);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->value, binary);
}

TEST_F(WriterTest, RevisionNeverGoesBackwards) {
  ASSERT_TRUE(writer_->Write(Entry(key_, 10, "ten")).ok());
  for (int64_t rev : {10, 9, 1}) {
    auto r = writer_->Write(Entry(key_, rev, "older"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, FileCacheWriter::Result::kNotNewer);
  }
  EXPECT_EQ(FileCacheReader(dir_).Read(key_)->value, "ten");
  // Also after a restart: the revision comes from the disk.
  Reopen();
  EXPECT_EQ(writer_->Revision(key_), 10);
  EXPECT_EQ(*writer_->Write(Entry(key_, 3, "older")),
            FileCacheWriter::Result::kNotNewer);
  EXPECT_EQ(*writer_->Write(Entry(key_, 11, "eleven")),
            FileCacheWriter::Result::kWritten);
  EXPECT_EQ(FileCacheReader(dir_).Read(key_)->value, "eleven");
}

TEST_F(WriterTest, DiskFullLeavesOldFileIntact) {
  ASSERT_TRUE(writer_->Write(Entry(key_, 1, "old")).ok());
  const std::string before = RawFile("configs/shop/db.timeout.json");
  env_.FailWrites(ENOSPC);
  auto r = writer_->Write(Entry(key_, 2, std::string(10000, 'n')));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoName(r.status()), "ENOSPC");
  EXPECT_EQ(RawFile("configs/shop/db.timeout.json"), before);
  EXPECT_EQ(writer_->Revision(key_), 1);
  // No temp file left behind.
  auto names = Env::Default()->ListDir(dir_ + "/configs/shop");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);
  // Retried after the disk has room again.
  env_.Heal();
  EXPECT_EQ(*writer_->Write(Entry(key_, 2, "new")),
            FileCacheWriter::Result::kWritten);
  EXPECT_EQ(FileCacheReader(dir_).Read(key_)->value, "new");
}

TEST_F(WriterTest, FsyncErrorLeavesOldFileIntact) {
  ASSERT_TRUE(writer_->Write(Entry(key_, 1, "old")).ok());
  env_.FailSyncs(EIO);
  auto r = writer_->Write(Entry(key_, 2, "new"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Input/output error"), std::string::npos)
      << r.status();
  EXPECT_EQ(ErrnoName(r.status()), "EIO");
  EXPECT_EQ(FileCacheReader(dir_).Read(key_)->value, "old");
  EXPECT_EQ(writer_->Revision(key_), 1);
  env_.Heal();
  EXPECT_TRUE(writer_->Write(Entry(key_, 2, "new")).ok());
  EXPECT_EQ(writer_->Revision(key_), 2);
}

TEST_F(WriterTest, DirFsyncErrorIsReportedAndRetried) {
  ASSERT_TRUE(writer_->Write(Entry(key_, 1, "old")).ok());
  env_.FailDirSyncs(EIO);
  EXPECT_FALSE(writer_->Write(Entry(key_, 2, "new")).ok());
  // Not durable yet, so not counted as held: the retry writes it again.
  EXPECT_EQ(writer_->Revision(key_), 1);
  env_.Heal();
  EXPECT_EQ(*writer_->Write(Entry(key_, 2, "new")),
            FileCacheWriter::Result::kWritten);
}

TEST_F(WriterTest, InvalidNamesRejected) {
  for (const CacheKey& bad :
       {CacheKey::Config("..", "k"), CacheKey::Config("ns", "a/b"),
        CacheKey::Config("ns", std::string("a\0b", 3)),
        CacheKey::Route("../../etc/passwd")}) {
    auto r = writer_->Write(Entry(bad, 1, "x"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(FileCacheReader(dir_).Read(bad).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(env_.write_calls(), 0);
}

TEST_F(WriterTest, OpenCleansTempFilesAndReportsDamage) {
  ASSERT_TRUE(writer_->Write(Entry(key_, 4, "good")).ok());
  CacheKey other = CacheKey::Config("shop", "other");
  ASSERT_TRUE(writer_->Write(Entry(other, 6, "good")).ok());
  // A temp file from a killed writer, and a garbled file.
  std::ofstream(dir_ + "/configs/shop/.x.json.tmp-1-1") << "{\"partial";
  std::ofstream(dir_ + "/configs/shop/other.json") << "{\"format\":1,";
  Reopen();
  EXPECT_EQ(writer_->Revision(key_), 4);
  EXPECT_EQ(writer_->Revision(other), 0);
  ASSERT_EQ(writer_->damaged_files().size(), 1u);
  EXPECT_EQ(writer_->damaged_files()[0], "configs/shop/other.json");
  EXPECT_FALSE(
      Env::Default()->Stat(dir_ + "/configs/shop/.x.json.tmp-1-1").ok());
  auto e = FileCacheReader(dir_).Read(other);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kDataLoss);
  // A garbled file is replaced by the next version.
  EXPECT_EQ(*writer_->Write(Entry(other, 6, "good")),
            FileCacheWriter::Result::kWritten);
}

TEST_F(WriterTest, ReaderErrors) {
  FileCacheReader reader(dir_);
  EXPECT_EQ(reader.Read(key_).status().code(), absl::StatusCode::kNotFound);
  // A file whose content names another key.
  ASSERT_TRUE(
      writer_->Write(Entry(CacheKey::Config("shop", "b"), 1, "x")).ok());
  ASSERT_TRUE(Env::Default()
                  ->Rename(dir_ + "/configs/shop/b.json",
                           dir_ + "/configs/shop/db.timeout.json")
                  .ok());
  EXPECT_EQ(reader.Read(key_).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace file_cache
}  // namespace kess

// ---- hardening: temp files and planted symbolic links ----

namespace kess {
namespace file_cache {
namespace {

using testing::FaultInjectionEnv;

double Refused(const std::string& reason) {
  const std::string text = metrics::Registry::Default().RenderText();
  const std::string needle =
      "kess_file_cache_refused_total{reason=\"" + reason + "\"} ";
  const size_t at = text.find(needle);
  return at == std::string::npos ? 0 : std::stod(text.substr(at + needle.size()));
}

TEST_F(WriterTest, ReaderRefusesASymlinkPlantedAsAKeysFile) {
  ASSERT_TRUE(writer_->Write(Entry(key_, 1, "v1")).ok());
  const std::string path = dir_ + "/" + RelativePath(key_);
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", path.c_str()), 0);
  const double before = Refused("symlink");
  auto e = FileCacheReader(dir_).Read(key_);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kFailedPrecondition)
      << e.status();
  EXPECT_NE(e.status().message().find("symbolic link"), std::string::npos)
      << e.status();
  EXPECT_EQ(Refused("symlink"), before + 1);
  // The writer replaces the link (rename over it), never writes through it.
  ASSERT_TRUE(writer_->Write(Entry(key_, 2, "v2")).ok());
  auto after = FileCacheReader(dir_).Read(key_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->value, "v2");
}

TEST_F(WriterTest, TempFilesAreCreatedExclusivelyWithUnpredictableNames) {
  // A file (or link) already at the temp path is never written through.
  const std::string target = dir_ + "/victim";
  ASSERT_TRUE(Env::Default()->WriteFileAndSync(target, "keep").ok());
  const double before = Refused("exists");
  absl::Status again = Env::Default()->WriteFileAndSync(target, "overwrite");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  const std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_FALSE(Env::Default()->WriteFileAndSync(link, "through").ok());
  EXPECT_EQ(Refused("exists"), before + 2);
  EXPECT_EQ(RawFile("victim"), "keep");

  // Names: the temp marker and 16 hex digits, different every time.
  class Recorder : public FaultInjectionEnv {
   public:
    using FaultInjectionEnv::FaultInjectionEnv;
    absl::Status WriteFileAndSync(const std::string& path,
                                  absl::string_view data,
                                  int mode = 0644) override {
      names.push_back(BaseName(path));
      return FaultInjectionEnv::WriteFileAndSync(path, data, mode);
    }
    std::vector<std::string> names;
  } recorder(Env::Default());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WriteFileAtomically(&recorder, dir_ + "/f.json", "x").ok());
  }
  ASSERT_EQ(recorder.names.size(), 3u);
  for (const std::string& name : recorder.names) {
    EXPECT_TRUE(IsTempFileName(name)) << name;
    ASSERT_GT(name.size(), 16u);
    EXPECT_EQ(name.find_first_not_of("0123456789abcdef", name.size() - 16),
              std::string::npos)
        << name;
  }
  EXPECT_NE(recorder.names[0], recorder.names[1]);
  EXPECT_NE(recorder.names[1], recorder.names[2]);
  // Leftovers of a crash are still found and removed.
  ASSERT_TRUE(
      Env::Default()->WriteFileAndSync(dir_ + "/" + recorder.names[0], "x").ok());
  EXPECT_EQ(RemoveTempFiles(Env::Default(), dir_), 1);
}

// A private file (the agent's services.json) is created with its mode, so
// it is never readable by others, not even for a moment.
TEST_F(WriterTest, WriteFileAtomicallyCreatesWithTheGivenMode) {
  const std::string path = dir_ + "/private.json";
  ASSERT_TRUE(WriteFileAtomically(&env_, path, "secret", 0600).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(WriteFileAtomically(&env_, path, "again", 0600).ok());
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(RawFile("private.json"), "again");
}

}  // namespace
}  // namespace file_cache
}  // namespace kess
