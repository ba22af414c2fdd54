#include "zk_schema/codec.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kess {
namespace zk {

namespace {

struct Crc32Table {
  uint32_t entry[256];
  Crc32Table() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      entry[i] = c;
    }
  }
};

}  // namespace

uint32_t Crc32(absl::string_view data) {
  static const Crc32Table* const table = new Crc32Table();
  uint32_t c = 0xffffffffu;
  for (unsigned char byte : data) {
    c = table->entry[(c ^ byte) & 0xff] ^ (c >> 8);
  }
  return c ^ 0xffffffffu;
}

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
