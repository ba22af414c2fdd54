// Encoding of what kess stores in ZooKeeper: protobuf messages from
// schema.proto, serialized with the standard protobuf wire format, and the
// CRC-32 checksums they carry.
//
// Checksum: CRC-32 as in zlib/gzip/PNG (IEEE 802.3 polynomial, reflected,
// init and final xor 0xffffffff); check value Crc32("123456789") ==
// 0xcbf43926. Any language reproduces it with its zlib binding.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "common/value_encoding.h"
#include "google/protobuf/message_lite.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace zk {

// The one CRC-32 of kess (common/value_encoding.h), named here for callers
// that work in zk:: terms.
using ::kess::Crc32;

// The serialized message.
std::string Encode(const google::protobuf::MessageLite& message);

// Parses `bytes` into `message`. DataLoss naming `where` (usually the znode
// path) and the message type if the bytes are not a valid message.
absl::Status Decode(absl::string_view bytes, absl::string_view where,
                    google::protobuf::MessageLite* message);

template <typename T>
absl::StatusOr<T> DecodeAs(absl::string_view bytes, absl::string_view where) {
  T message;
  KESS_RETURN_IF_ERROR(Decode(bytes, where, &message));
  return message;
}

// A StoredValue holding `value` inline, with size and checksum set.
// (Values above kInlineValueLimit go through chunked_value.h instead.)
StoredValue MakeInlineValue(absl::string_view value);

// OK iff `value` matches the size and checksum recorded in `stored`;
// DataLoss naming `where` otherwise.
absl::Status VerifyValue(const StoredValue& stored, absl::string_view value,
                         absl::string_view where);

// A Meta stamped with `now`.
Meta MakeMeta(absl::string_view author, absl::string_view writer,
              absl::Time now = absl::Now(), absl::string_view comment = "");

}  // namespace zk
}  // namespace kess
