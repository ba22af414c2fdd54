// Values larger than one znode: chunks plus a manifest flip.
//
// A record (ConfigRecord, RouteRecord, or a bare StoredValue) holds a
// StoredValue. Up to kInlineValueLimit bytes it holds the value inline.
// Above that, the value is split into chunks of kChunkBytes, written first
// under a fresh chunk set (/kess/chunks/cs-<seq>/<index>), and the record
// holds only the manifest. The new value becomes visible in one step: the
// version-checked write of the record (alone, or inside the leader's commit
// multi). Readers therefore see the old complete value or the new complete
// one (invariant 2 of docs/design.md). The replaced value's chunk set is deleted after the flip; a reader
// that still holds the old manifest then finds a chunk missing, re-reads the
// record and retries (bounded).
//
// Sizes: values up to kMaxValueBytes (16 MiB) are accepted; anything larger
// fails with InvalidArgument before anything is written. Every request stays
// below kMaxRequestBytes (zk_api.h), every node (and so every answer) below
// kChunkBytes plus a record's fields (see kInlineValueLimit for why).
//
// Checksums: the StoredValue carries the CRC-32 of the whole value, the
// manifest the CRC-32 of each chunk; Load() verifies both.
//
// A writer that dies between writing chunks and the flip leaves an orphan
// chunk set; its ChunkSetInfo names the record it was meant for, so a
// sweeper can tell (not implemented yet).
//
// Thread-safe (ZkApi's contract); holds no state of its own but its
// arguments.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

inline constexpr size_t kMaxValueBytes = 16 * 1024 * 1024;
// Why 128 KiB, far below ZooKeeper's 1 MB: every answer must cross the
// slowest link between DCs within 2/3 of the session timeout, since the
// ZooKeeper C client drops a connection on which no COMPLETE answer arrived
// for that long, even while an answer's bytes are still arriving. 128 KiB
// (plus framing) crosses a 1 Mbit/s link in ~1.1 s: fine with a 4 s session
// (2.7 s), and down to ~0.16 Mbit/s with the default 10 s. Values written
// with larger chunks before stay readable (the manifest gives each chunk's
// size).
inline constexpr size_t kInlineValueLimit = 128 * 1024;
inline constexpr size_t kChunkBytes = 128 * 1024;
// Chunks requested at once by Load() (pipelined).
inline constexpr int kChunksPerRead = 16;

class ChunkedValueStore {
 public:
  // `zk` must outlive the store. `acl` is used for chunk nodes and for
  // records created by Write(); empty = the client's default.
  ChunkedValueStore(ZkApi* zk, Layout layout, AclList acl = {});

  // Step 1 of a write: a StoredValue for `value`. Inline values touch no
  // node; larger ones are written as a new chunk set, invisible to readers
  // until a record references it. On failure the chunks written so far are
  // deleted. InvalidArgument above kMaxValueBytes (nothing written).
  // `inline_limit` (at most kInlineValueLimit) lets a caller that stores the
  // record twice in one multi (e.g. record + history copy) chunk earlier.
  absl::StatusOr<StoredValue> Prepare(absl::string_view value,
                                      absl::string_view owner_path,
                                      const Meta& meta,
                                      size_t inline_limit = kInlineValueLimit);

  // Reassembles and verifies the value `stored` describes; `where` names
  // the record in errors. NotFound if a chunk is gone (the record was
  // flipped and the old chunks collected: re-read the record); DataLoss if
  // a size or checksum does not match.
  absl::StatusOr<std::string> Load(const StoredValue& stored,
                                   absl::string_view where);

  // Deletes the chunk set of `stored`. OK for inline values and for chunk
  // sets that are already gone. Only call it for a value no record
  // references any more.
  absl::Status Discard(const StoredValue& stored);

  struct ReadResult {
    std::string value;
    std::string record;  // the record node's data
    Stat stat;           // the record node's stat
  };
  // Extracts the StoredValue from a record node's data.
  using Extractor =
      std::function<absl::StatusOr<StoredValue>(absl::string_view record)>;

  // Reads the record at `path`, extracts its StoredValue and loads it; if
  // chunks vanish or checksums fail because the record changed meanwhile,
  // reads again (at most kReadAttempts times).
  absl::StatusOr<ReadResult> ReadRecord(const std::string& path,
                                        const Extractor& extract);

  // For nodes whose data is a bare StoredValue:
  // Writes `value` to `path`: Prepare, then a version-checked flip (create
  // if absent), then Discard of the replaced value. With
  // `expected_version` != kAnyVersion the node must exist at that version
  // (else Aborted / NotFound, nothing changed); with kAnyVersion a lost
  // race is retried (bounded). Returns the node's new stat.
  absl::StatusOr<Stat> Write(const std::string& path, absl::string_view value,
                             const Meta& meta,
                             int expected_version = kAnyVersion);
  absl::StatusOr<ReadResult> Read(const std::string& path);

  static constexpr int kReadAttempts = 5;
  static constexpr int kWriteAttempts = 3;

 private:
  absl::Status CheckManifest(const StoredValue& stored,
                             absl::string_view where) const;

  ZkApi* const zk_;
  const Layout layout_;
  const AclList acl_;
};

}  // namespace zk
}  // namespace kess
