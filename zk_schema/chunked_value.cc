#include "zk_schema/chunked_value.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "zk_schema/codec.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace {

constexpr size_t kMaxChunks = (kMaxValueBytes + kChunkBytes - 1) / kChunkBytes;

std::string BaseName(absl::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path
                                                      : path.substr(slash + 1));
}

absl::StatusOr<StoredValue> DecodeStoredValue(absl::string_view record,
                                              absl::string_view where) {
  return DecodeAs<StoredValue>(record, where);
}

}  // namespace

ChunkedValueStore::ChunkedValueStore(ZkApi* zk, Layout layout, AclList acl)
    : zk_(zk), layout_(std::move(layout)), acl_(std::move(acl)) {}

absl::StatusOr<StoredValue> ChunkedValueStore::Prepare(
    absl::string_view value, absl::string_view owner_path, const Meta& meta,
    size_t inline_limit) {
  if (value.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("value for ", owner_path, " has ", value.size(),
                     " bytes, above the limit of ", kMaxValueBytes,
                     " bytes (16 MiB); nothing was written"));
  }
  if (value.size() <= std::min(inline_limit, kInlineValueLimit)) {
    return MakeInlineValue(value);
  }

  const uint32_t count =
      static_cast<uint32_t>((value.size() + kChunkBytes - 1) / kChunkBytes);
  ChunkSetInfo info;
  info.set_owner_path(std::string(owner_path));
  info.set_size(value.size());
  info.set_chunk_count(count);
  *info.mutable_meta() = meta;
  KESS_ASSIGN_OR_RETURN(std::string set_path,
                        zk_->Create(layout_.ChunkSetPrefix(), Encode(info),
                                    CreateMode::kPersistentSequential, acl_));

  StoredValue stored;
  stored.set_size(value.size());
  stored.set_crc32(Crc32(value));
  ChunkManifest* manifest = stored.mutable_chunked();
  manifest->set_chunk_set(BaseName(set_path));
  for (uint32_t i = 0; i < count; ++i) {
    absl::string_view piece = value.substr(i * kChunkBytes, kChunkBytes);
    Chunk chunk;
    chunk.set_index(i);
    chunk.set_data(std::string(piece));
    chunk.set_crc32(Crc32(piece));
    absl::Status written = absl::OkStatus();
    absl::StatusOr<std::string> chunk_path =
        layout_.ChunkPath(manifest->chunk_set(), i);
    if (chunk_path.ok()) {
      written =
          zk_->Create(*chunk_path, Encode(chunk), CreateMode::kPersistent, acl_)
              .status();
    } else {
      written = chunk_path.status();
    }
    if (!written.ok()) {
      absl::Status cleanup = Discard(stored);
      LOG_IF(WARNING, !cleanup.ok())
          << "orphan chunk set " << set_path << ": " << cleanup;
      return written;
    }
    manifest->add_chunk_sizes(static_cast<uint32_t>(piece.size()));
    manifest->add_chunk_crc32(chunk.crc32());
  }
  return stored;
}

absl::Status ChunkedValueStore::CheckManifest(const StoredValue& stored,
                                              absl::string_view where) const {
  const ChunkManifest& m = stored.chunked();
  uint64_t total = 0;
  for (uint32_t size : m.chunk_sizes()) total += size;
  if (m.chunk_sizes_size() != m.chunk_crc32_size() ||
      static_cast<size_t>(m.chunk_sizes_size()) > kMaxChunks ||
      total != stored.size() || stored.size() > kMaxValueBytes) {
    return absl::DataLossError(absl::StrCat(
        where, ": inconsistent chunk manifest (", m.chunk_sizes_size(),
        " sizes, ", m.chunk_crc32_size(), " checksums, ", total,
        " bytes vs size ", stored.size(), ")"));
  }
  return ValidateChunkSetName(m.chunk_set());
}

absl::StatusOr<std::string> ChunkedValueStore::Load(const StoredValue& stored,
                                                    absl::string_view where) {
  if (stored.body_case() != StoredValue::kChunked) {
    KESS_RETURN_IF_ERROR(VerifyValue(stored, stored.inline_data(), where));
    return stored.inline_data();
  }
  KESS_RETURN_IF_ERROR(CheckManifest(stored, where));
  const ChunkManifest& m = stored.chunked();
  std::string value;
  value.reserve(stored.size());
  // The chunks in pipelined batches: one round trip per batch, not per
  // chunk, across a WAN.
  std::vector<std::string> paths;
  for (int i = 0; i < m.chunk_sizes_size(); ++i) {
    KESS_ASSIGN_OR_RETURN(std::string path,
                          layout_.ChunkPath(m.chunk_set(), i));
    paths.push_back(std::move(path));
  }
  std::vector<absl::StatusOr<GetResult>> nodes;
  for (int i = 0; i < m.chunk_sizes_size(); ++i) {
    if (i % kChunksPerRead == 0) {
      std::vector<GetRequest> requests;
      for (int k = i; k < std::min(i + kChunksPerRead, m.chunk_sizes_size());
           ++k) {
        requests.push_back({paths[k], nullptr});
      }
      nodes = zk_->GetMany(std::move(requests));
    }
    const std::string& path = paths[i];
    KESS_ASSIGN_OR_RETURN(GetResult node,
                          std::move(nodes[i % kChunksPerRead]));
    KESS_ASSIGN_OR_RETURN(Chunk chunk, DecodeAs<Chunk>(node.data, path));
    if (chunk.index() != static_cast<uint32_t>(i) ||
        chunk.data().size() != m.chunk_sizes(i) ||
        chunk.crc32() != m.chunk_crc32(i) ||
        Crc32(chunk.data()) != m.chunk_crc32(i)) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk %s does not match its manifest (index %u, %u bytes, "
          "CRC-32 %08x; expected %u bytes, %08x)",
          where, path, chunk.index(), chunk.data().size(), Crc32(chunk.data()),
          m.chunk_sizes(i), m.chunk_crc32(i)));
    }
    value += chunk.data();
  }
  KESS_RETURN_IF_ERROR(VerifyValue(stored, value, where));
  return value;
}

absl::Status ChunkedValueStore::Discard(const StoredValue& stored) {
  if (stored.body_case() != StoredValue::kChunked) return absl::OkStatus();
  KESS_ASSIGN_OR_RETURN(std::string set_path,
                        layout_.ChunkSetPath(stored.chunked().chunk_set()));
  // Delete every child that exists (a failed Prepare may have written fewer
  // chunks than the manifest lists).
  absl::StatusOr<ChildrenResult> children = zk_->GetChildren(set_path);
  if (absl::IsNotFound(children.status())) return absl::OkStatus();
  KESS_RETURN_IF_ERROR(children.status());
  for (const std::string& child : children->children) {
    absl::Status deleted = zk_->Delete(absl::StrCat(set_path, "/", child));
    if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
  }
  absl::Status deleted = zk_->Delete(set_path);
  if (absl::IsNotFound(deleted)) return absl::OkStatus();
  return deleted;
}

absl::StatusOr<ChunkedValueStore::ReadResult> ChunkedValueStore::ReadRecord(
    const std::string& path, const Extractor& extract) {
  absl::Status last;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    KESS_ASSIGN_OR_RETURN(GetResult node, zk_->Get(path));
    KESS_ASSIGN_OR_RETURN(StoredValue stored, extract(node.data));
    absl::StatusOr<std::string> value = Load(stored, path);
    if (value.ok()) {
      return ReadResult{*std::move(value), std::move(node.data), node.stat};
    }
    last = value.status();
    if (!absl::IsNotFound(last) && !absl::IsDataLoss(last)) return last;
    // Did the record change under us? Then its old chunks may be gone.
    KESS_ASSIGN_OR_RETURN(std::optional<Stat> now, zk_->Exists(path));
    if (now.has_value() && now->version == node.stat.version) {
      if (absl::IsNotFound(last)) {
        return absl::DataLossError(absl::StrCat(
            path, " references chunks that do not exist: ", last.message()));
      }
      return last;  // corrupt, not a race
    }
  }
  return absl::UnavailableError(
      absl::StrCat("read of ", path, " kept racing with writers for ",
                   kReadAttempts, " attempts; last: ", last.message()));
}

absl::StatusOr<ChunkedValueStore::ReadResult> ChunkedValueStore::Read(
    const std::string& path) {
  return ReadRecord(path, [&path](absl::string_view record) {
    return DecodeStoredValue(record, path);
  });
}

absl::StatusOr<Stat> ChunkedValueStore::Write(const std::string& path,
                                              absl::string_view value,
                                              const Meta& meta,
                                              int expected_version) {
  KESS_ASSIGN_OR_RETURN(StoredValue stored, Prepare(value, path, meta));
  const std::string data = Encode(stored);
  absl::Status last;
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    absl::StatusOr<GetResult> current = zk_->Get(path);
    const bool exists = current.ok();
    if (!exists && !absl::IsNotFound(current.status())) {
      last = current.status();
      break;
    }
    if (expected_version != kAnyVersion && !exists) {
      last = absl::NotFoundError(absl::StrCat(
          path, " does not exist (expected version ", expected_version, ")"));
      break;
    }
    const int version = expected_version != kAnyVersion
                            ? expected_version
                            : (exists ? current->stat.version : kAnyVersion);
    absl::StatusOr<Stat> flipped = absl::UnknownError("unset");
    if (exists) {
      flipped = zk_->Set(path, data, version);
    } else {
      absl::Status created =
          zk_->Create(path, data, CreateMode::kPersistent, acl_).status();
      if (created.ok()) {
        absl::StatusOr<GetResult> now = zk_->Get(path);
        flipped = now.ok() ? absl::StatusOr<Stat>(now->stat) : Stat();
      } else if (absl::IsAlreadyExists(created)) {
        flipped = absl::AbortedError(
            absl::StrCat("create ", path, ": created concurrently"));
      } else {
        flipped = created;
      }
    }
    if (flipped.ok()) {
      if (exists) {
        absl::StatusOr<StoredValue> old =
            DecodeStoredValue(current->data, path);
        absl::Status collected = old.ok() ? Discard(*old) : old.status();
        LOG_IF(WARNING, !collected.ok())
            << "chunks of the value replaced at " << path
            << " not collected: " << collected;
      }
      return *flipped;
    }
    last = flipped.status();
    if (IsConnectionLoss(last)) {
      // The flip may have happened: if the node references our chunk set,
      // it did; we cannot know which value it replaced, so its chunks stay.
      absl::StatusOr<GetResult> now = zk_->Get(path);
      if (now.ok() && now->data == data) return now->stat;
      break;
    }
    if (!absl::IsAborted(last) || expected_version != kAnyVersion) break;
  }
  absl::Status cleanup = Discard(stored);
  LOG_IF(WARNING, !cleanup.ok())
      << "orphan chunks for " << path << ": " << cleanup;
  return last;
}

}  // namespace zk
}  // namespace kess
