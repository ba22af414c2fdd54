#include "zk_schema/codec.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kess {
namespace zk {

std::string Encode(const google::protobuf::MessageLite& message) {
  return message.SerializeAsString();
}

absl::Status Decode(absl::string_view bytes, absl::string_view where,
                    google::protobuf::MessageLite* message) {
  if (!message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat(
        where, ": ", bytes.size(), " bytes are not a valid ",
        message->GetTypeName(), " (corrupt or not written by kess)"));
  }
  return absl::OkStatus();
}

StoredValue MakeInlineValue(absl::string_view value) {
  StoredValue stored;
  stored.set_inline_data(std::string(value));
  stored.set_size(value.size());
  stored.set_crc32(Crc32(value));
  return stored;
}

absl::Status VerifyValue(const StoredValue& stored, absl::string_view value,
                         absl::string_view where) {
  if (value.size() != stored.size()) {
    return absl::DataLossError(absl::StrCat(where, ": value has ", value.size(),
                                            " bytes, record says ",
                                            stored.size()));
  }
  uint32_t crc = Crc32(value);
  if (crc != stored.crc32()) {
    return absl::DataLossError(
        absl::StrFormat("%s: value CRC-32 is %08x, record says %08x", where,
                        crc, stored.crc32()));
  }
  return absl::OkStatus();
}

Meta MakeMeta(absl::string_view author, absl::string_view writer,
              absl::Time now, absl::string_view comment) {
  Meta meta;
  meta.set_mtime_ms(absl::ToUnixMillis(now));
  meta.set_author(std::string(author));
  meta.set_writer(std::string(writer));
  meta.set_comment(std::string(comment));
  return meta;
}

}  // namespace zk
}  // namespace kess
