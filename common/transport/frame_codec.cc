#include "common/transport/frame_codec.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/transport/close_reason.h"
#include "common/transport/wire_budget.h"

namespace kess {
namespace transport {
namespace {

constexpr size_t kRetainedBufferBytes = 256 << 10;
// A Frame has six fields; a well-formed one never repeats them much. More
// elements than this are unknown fields that would each be kept on parse.
constexpr size_t kMaxEnvelopeElements = 64;

void PutBigEndian32(uint32_t v, char* out) {
  out[0] = static_cast<char>(v >> 24);
  out[1] = static_cast<char>(v >> 16);
  out[2] = static_cast<char>(v >> 8);
  out[3] = static_cast<char>(v);
}

uint32_t GetBigEndian32(const char* in) {
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

absl::Status AppendEncodedFrame(const Frame& frame, size_t max_frame_bytes,
                                std::string* out) {
  const size_t size = frame.ByteSizeLong();
  if (size > max_frame_bytes || size > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame of ", size, " bytes exceeds the limit of ",
                     max_frame_bytes, " bytes"));
  }
  const size_t start = out->size();
  out->resize(start + kFrameHeaderBytes + size);
  char* p = &(*out)[start];
  PutBigEndian32(static_cast<uint32_t>(size), p);
  // An empty Frame serializes to 0 bytes; it still gets a valid header, and
  // the decoder rejects it as a zero-length frame, as it should: a frame
  // without a kind means nothing.
  if (!frame.SerializeToArray(p + kFrameHeaderBytes, static_cast<int>(size))) {
    out->resize(start);
    return absl::InternalError("frame serialization failed");
  }
  return absl::OkStatus();
}

FrameDecoder::FrameDecoder(size_t max_frame_bytes)
    : max_frame_bytes_(max_frame_bytes) {}

void FrameDecoder::Feed(absl::string_view bytes) {
  if (!error_.ok()) return;
  // Drop what was decoded before growing, so the buffer stays about one
  // frame long however long the connection lives.
  if (consumed_ > 0 &&
      (consumed_ == buffer_.size() || consumed_ >= buffer_.size() / 2)) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

absl::Status FrameDecoder::Fail(const char* reason, absl::Status status) {
  error_reason_ = reason;
  error_ = std::move(status);
  buffer_.clear();
  buffer_.shrink_to_fit();
  consumed_ = 0;
  return error_;
}

absl::StatusOr<bool> FrameDecoder::Next(Frame* frame) {
  if (!error_.ok()) return error_;
  const size_t available = buffer_.size() - consumed_;
  if (available < kFrameHeaderBytes) return false;
  const char* start = buffer_.data() + consumed_;
  const uint32_t length = GetBigEndian32(start);
  if (length == 0) {
    return Fail(close_reason::kZeroLengthFrame,
                absl::InvalidArgumentError("zero-length frame"));
  }
  if (length > max_frame_bytes_) {
    return Fail(over_reason_,
                absl::OutOfRangeError(absl::StrCat(
                    "frame of ", length, " bytes exceeds the limit of ",
                    max_frame_bytes_, " bytes")));
  }
  if (available - kFrameHeaderBytes < length) return false;
  WireBudget envelope;
  envelope.max_elements = kMaxEnvelopeElements;
  envelope.max_depth = 1;
  absl::Status scan =
      CheckWireBudget(absl::string_view(start + kFrameHeaderBytes, length),
                      *Frame::descriptor(), envelope);
  if (!scan.ok()) {
    return Fail(close_reason::kMalformedFrame,
                absl::DataLossError(absl::StrCat("frame of ", length,
                                                 " bytes refused: ",
                                                 scan.message())));
  }
  if (!frame->ParseFromArray(start + kFrameHeaderBytes,
                             static_cast<int>(length))) {
    return Fail(close_reason::kMalformedFrame,
                absl::DataLossError(absl::StrCat("frame of ", length,
                                                 " bytes does not parse")));
  }
  consumed_ += kFrameHeaderBytes + length;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
    // One large frame must not pin its buffer for the connection's life.
    if (buffer_.capacity() > kRetainedBufferBytes) buffer_.shrink_to_fit();
  }
  return true;
}

}  // namespace transport
}  // namespace kess
