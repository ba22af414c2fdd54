#include "common/transport/wire_budget.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace kess {
namespace transport {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

class Scanner {
 public:
  explicit Scanner(const WireBudget& budget) : budget_(budget) {}

  // Scans until the stream's current limit (or its end).
  absl::Status Scan(CodedInputStream* in, const Descriptor& type, int depth) {
    if (depth > budget_.max_depth) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "message nesting over ", budget_.max_depth, " levels"));
    }
    while (true) {
      const uint32_t tag = in->ReadTag();
      if (tag == 0) {
        // End of input, of the limit, or a (invalid) zero tag.
        const int left = in->BytesUntilLimit();
        const bool at_end =
            left == 0 || (left < 0 && in->CurrentPosition() == total_);
        if (!at_end) return absl::InvalidArgumentError("invalid tag");
        return absl::OkStatus();
      }
      const int number = WireFormatLite::GetTagFieldNumber(tag);
      const WireFormatLite::WireType wire = WireFormatLite::GetTagWireType(tag);
      const FieldDescriptor* field = type.FindFieldByNumber(number);
      // An unknown field is kept by the parser (an allocation), a repeated
      // element is one; a singular known scalar costs nothing new.
      if (field == nullptr || field->is_repeated() ||
          field->type() == FieldDescriptor::TYPE_MESSAGE ||
          field->type() == FieldDescriptor::TYPE_GROUP) {
        KESS_RETURN_IF_ERROR(Count());
      }
      switch (wire) {
        case WireFormatLite::WIRETYPE_VARINT: {
          uint64_t ignored;
          if (!in->ReadVarint64(&ignored)) return Truncated();
          break;
        }
        case WireFormatLite::WIRETYPE_FIXED64: {
          uint64_t ignored;
          if (!in->ReadLittleEndian64(&ignored)) return Truncated();
          break;
        }
        case WireFormatLite::WIRETYPE_FIXED32: {
          uint32_t ignored;
          if (!in->ReadLittleEndian32(&ignored)) return Truncated();
          break;
        }
        case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
          uint32_t length;
          if (!in->ReadVarint32(&length)) return Truncated();
          if (static_cast<int64_t>(length) >
              static_cast<int64_t>(total_) - in->CurrentPosition()) {
            return Truncated();
          }
          if (field != nullptr &&
              field->type() == FieldDescriptor::TYPE_MESSAGE) {
            const CodedInputStream::Limit limit = in->PushLimit(length);
            KESS_RETURN_IF_ERROR(Scan(in, *field->message_type(), depth + 1));
            in->PopLimit(limit);
          } else if (field != nullptr && field->is_packed()) {
            // Packed repeated scalars: bounded by their smallest wire size
            // (one byte each), i.e. by the length.
            KESS_RETURN_IF_ERROR(Count(length));
            if (!in->Skip(static_cast<int>(length))) return Truncated();
          } else {
            if (!in->Skip(static_cast<int>(length))) return Truncated();
          }
          break;
        }
        default:
          // Groups are not used by kess; refusing them keeps the scan simple.
          return absl::InvalidArgumentError(
              absl::StrCat("unsupported wire type ", static_cast<int>(wire)));
      }
    }
  }

  void set_total(int total) { total_ = total; }

 private:
  absl::Status Count(size_t n = 1) {
    elements_ += n;
    if (elements_ > budget_.max_elements) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "more than ", budget_.max_elements, " elements in one message"));
    }
    return absl::OkStatus();
  }
  static absl::Status Truncated() {
    return absl::InvalidArgumentError("truncated or malformed field");
  }

  const WireBudget budget_;
  size_t elements_ = 0;
  int total_ = 0;
};

}  // namespace

absl::Status CheckWireBudget(absl::string_view bytes, const Descriptor& type,
                             const WireBudget& budget) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::ResourceExhaustedError("message over 2 GiB");
  }
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  Scanner scanner(budget);
  scanner.set_total(static_cast<int>(bytes.size()));
  return scanner.Scan(&in, type, 0);
}

}  // namespace transport
}  // namespace kess
