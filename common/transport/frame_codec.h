// Length-prefixed framing of transport Frames: an encoder and an incremental
// decoder. Pure code (no I/O), so it can be unit-tested and fuzzed.
//
// Wire format: 4-byte big-endian length N, then N bytes of a serialized
// kess.transport.Frame. N must be in [1, max_frame_bytes].
//
// Thread-safety: the free functions are thread-safe; a FrameDecoder is not
// (one per connection, used by one thread at a time).
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "common/transport/frame.pb.h"

namespace kess {
namespace transport {

inline constexpr size_t kFrameHeaderBytes = 4;
// Payloads up to 16 MiB must fit; the rest is room for the envelope.
inline constexpr size_t kDefaultMaxFrameBytes = (16u << 20) + (64u << 10);
// A server that authenticates in the first request (the distributor's
// kess.Subscribe) limits the frames of a connection it does not trust yet
// to this by default (ServerOptions::untrusted_max_frame_bytes); its
// clients size their first request to fit.
inline constexpr size_t kDefaultUntrustedMaxFrameBytes = 64u << 10;

// Appends the header and the serialized `frame` to `*out`.
// On failure (frame larger than `max_frame_bytes`) returns InvalidArgument
// and leaves `*out` unchanged.
absl::Status AppendEncodedFrame(const Frame& frame, size_t max_frame_bytes,
                                std::string* out);

// Feed() bytes as they arrive, then call Next() until it returns false.
//
//   FrameDecoder decoder(max);
//   decoder.Feed(bytes);
//   Frame frame;
//   while (true) {
//     absl::StatusOr<bool> got = decoder.Next(&frame);
//     if (!got.ok()) { close: decoder.error_reason(); break; }
//     if (!*got) break;  // need more bytes
//     Handle(frame);
//   }
//
// An over-limit or zero length is reported as soon as the 4 header bytes are
// in, without waiting for (or buffering) the body.
class FrameDecoder {
 public:
  // REQUIRES: max_frame_bytes >= 1.
  explicit FrameDecoder(size_t max_frame_bytes);

  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Changes the limit for frames whose header is not decoded yet (a server
  // lowers it for a peer that has not authenticated, and raises it after).
  // `over_reason` is the error_reason() of a frame over it.
  void set_max_frame_bytes(size_t max_frame_bytes,
                           const char* over_reason = "frame_too_large") {
    max_frame_bytes_ = max_frame_bytes;
    over_reason_ = over_reason;
  }
  size_t max_frame_bytes() const { return max_frame_bytes_; }

  // Appends received bytes. Ignored after an error.
  void Feed(absl::string_view bytes);

  // true: `*frame` holds the next complete frame. false: more bytes are
  // needed. Error: the stream is corrupt (InvalidArgument for a zero length,
  // OutOfRange for a length over the limit, DataLoss for a body that does
  // not parse); the error is sticky and the stream cannot be resynchronized.
  absl::StatusOr<bool> Next(Frame* frame);

  // After Next() failed: a close_reason constant naming the error
  // ("zero_length_frame", "frame_too_large", "malformed_frame"); "" before.
  // The envelope is pre-scanned (wire_budget.h) before it is parsed: a body
  // made of thousands of unknown fields is "malformed_frame" too.
  const char* error_reason() const { return error_reason_; }

  // Bytes received but not yet returned as frames.
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }

 private:
  absl::Status Fail(const char* reason, absl::Status status);

  size_t max_frame_bytes_;
  const char* over_reason_ = "frame_too_large";
  std::string buffer_;
  size_t consumed_ = 0;  // bytes at the front of buffer_ already decoded
  const char* error_reason_ = "";
  absl::Status error_;
};

}  // namespace transport
}  // namespace kess
