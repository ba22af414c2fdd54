// libFuzzer target for FrameDecoder (scripts/fuzz.sh; CI replay:
// :frame_codec_fuzz_test). Input: byte 0 picks the frame limit, byte 1 the
// chunk size the rest is fed in. Properties: every frame returned had a
// header length in [1, limit] (checked against an independent walk of the
// headers); the decoder never returns more frames than the bytes hold,
// never buffers more than it was fed; a returned frame re-encodes and
// decodes to the same message; after an error nothing more is returned.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/fuzz_check.h"
#include "common/transport/frame_codec.h"
#include "google/protobuf/stubs/logging.h"

namespace kess {
namespace transport {
namespace {

uint32_t HeaderAt(const std::string& s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void CheckRoundTrip(const Frame& frame, size_t max) {
  std::string wire;
  if (!AppendEncodedFrame(frame, max, &wire).ok()) {
    // Re-serializing can only grow past `max` through nothing: the frame
    // parsed from at most `max` bytes, and proto3 drops default fields.
    FUZZ_CHECK(frame.ByteSizeLong() > max);
    return;
  }
  FrameDecoder again(max);
  again.Feed(wire);
  Frame copy;
  absl::StatusOr<bool> got = again.Next(&copy);
  if (frame.ByteSizeLong() == 0) {
    FUZZ_CHECK(!got.ok());  // an empty frame is a zero-length frame
    return;
  }
  FUZZ_CHECK(got.ok() && *got);
  FUZZ_CHECK(copy.SerializeAsString() == frame.SerializeAsString());
  FUZZ_CHECK(again.buffered_bytes() == 0);
}

// protobuf logs an ERROR for every string field with invalid UTF-8 (the
// parse then fails, which is what is checked); millions of them slow the
// fuzzer down.
void IgnoreLog(google::protobuf::LogLevel, const char*, int,
               const std::string&) {}

}  // namespace
}  // namespace transport
}  // namespace kess

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kess::transport::FrameDecoder;
  using kess::transport::kFrameHeaderBytes;
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(&kess::transport::IgnoreLog);
    return true;
  }();
  (void)quiet;
  if (size < 2) return 0;
  static const size_t kLimits[] = {1, 2, 7, 16, 64, 255, 1024, 1 << 20};
  const size_t max = kLimits[data[0] % 8];
  const size_t chunk = 1 + data[1] % 17;
  const std::string input(reinterpret_cast<const char*>(data) + 2, size - 2);

  FrameDecoder decoder(max);
  kess::transport::Frame frame;
  size_t fed = 0;
  size_t walked = 0;  // bytes of frames returned, by the independent walk
  bool failed = false;
  while (true) {
    if (fed < input.size()) {
      const size_t n = std::min(chunk, input.size() - fed);
      decoder.Feed(absl::string_view(input).substr(fed, n));
      fed += n;
    }
    while (true) {
      absl::StatusOr<bool> got = decoder.Next(&frame);
      if (!got.ok()) {
        // Errors are sticky and name a reason.
        FUZZ_CHECK(decoder.error_reason()[0] != '\0');
        FUZZ_CHECK(!decoder.Next(&frame).ok());
        failed = true;
        break;
      }
      if (!*got) break;
      FUZZ_CHECK(walked + kFrameHeaderBytes <= fed);
      const uint32_t length = kess::transport::HeaderAt(input, walked);
      FUZZ_CHECK(length >= 1 && length <= max);
      FUZZ_CHECK(walked + kFrameHeaderBytes + length <= fed);
      walked += kFrameHeaderBytes + length;
      kess::transport::CheckRoundTrip(frame, max);
    }
    if (!failed) FUZZ_CHECK(decoder.buffered_bytes() == fed - walked);
    if (fed == input.size()) break;
  }
  if (!failed && fed - walked >= kFrameHeaderBytes) {
    // What is left is a frame whose body has not fully arrived.
    const uint32_t length = kess::transport::HeaderAt(input, walked);
    FUZZ_CHECK(length >= 1 && length <= max);
    FUZZ_CHECK(fed - walked - kFrameHeaderBytes < length);
  }
  return 0;
}
