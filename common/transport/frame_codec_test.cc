#include "common/transport/frame_codec.h"

#include <string>
#include <vector>

#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace transport {
namespace {

Frame MakeFrame(uint64_t id, const std::string& method,
                const std::string& payload) {
  Frame frame;
  frame.set_id(id);
  frame.set_kind(Frame::REQUEST);
  frame.set_method(method);
  frame.set_payload(payload);
  return frame;
}

std::string Encode(const Frame& frame) {
  std::string out;
  absl::Status status = AppendEncodedFrame(frame, kDefaultMaxFrameBytes, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// Decodes everything currently buffered; fails the test on a stream error.
std::vector<Frame> DrainOk(FrameDecoder* decoder) {
  std::vector<Frame> frames;
  for (int i = 0; i < 1000; ++i) {
    Frame frame;
    absl::StatusOr<bool> got = decoder->Next(&frame);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || !*got) break;
    frames.push_back(std::move(frame));
  }
  return frames;
}

TEST(FrameCodecTest, HeaderIsBigEndianLengthOfBody) {
  Frame frame = MakeFrame(7, "m", "payload");
  std::string wire = Encode(frame);
  ASSERT_EQ(wire.size(), kFrameHeaderBytes + frame.ByteSizeLong());
  EXPECT_EQ(wire.substr(0, 4), testing::LengthHeader(frame.ByteSizeLong()));
}

TEST(FrameCodecTest, RoundTripByteByByte) {
  Frame frame = MakeFrame(42, "kess.Get", std::string(1000, 'x'));
  std::string wire = Encode(frame);
  FrameDecoder decoder(kDefaultMaxFrameBytes);
  std::vector<Frame> frames;
  for (char c : wire) {
    decoder.Feed(absl::string_view(&c, 1));
    std::vector<Frame> got = DrainOk(&decoder);
    frames.insert(frames.end(), got.begin(), got.end());
  }
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].id(), 42u);
  EXPECT_EQ(frames[0].method(), "kess.Get");
  EXPECT_EQ(frames[0].payload(), std::string(1000, 'x'));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameCodecTest, SeveralFramesInOneRead) {
  std::string wire;
  for (int i = 1; i <= 5; ++i) {
    wire += Encode(MakeFrame(i, "m" + std::to_string(i), std::string(i, 'p')));
  }
  // Plus the first half of a sixth frame.
  std::string sixth = Encode(MakeFrame(6, "m6", "pppppp"));
  wire += sixth.substr(0, sixth.size() / 2);

  FrameDecoder decoder(kDefaultMaxFrameBytes);
  decoder.Feed(wire);
  std::vector<Frame> frames = DrainOk(&decoder);
  ASSERT_EQ(frames.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(frames[i].id(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(frames[i].payload(), std::string(i + 1, 'p'));
  }
  EXPECT_EQ(decoder.buffered_bytes(), sixth.size() / 2);

  decoder.Feed(absl::string_view(sixth).substr(sixth.size() / 2));
  frames = DrainOk(&decoder);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].id(), 6u);
}

TEST(FrameCodecTest, LargestAllowedPayloadFits) {
  Frame frame = MakeFrame(1, "big", std::string(16 << 20, 'z'));
  std::string wire = Encode(frame);
  FrameDecoder decoder(kDefaultMaxFrameBytes);
  decoder.Feed(wire);
  std::vector<Frame> frames = DrainOk(&decoder);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].payload().size(), size_t{16} << 20);
}

TEST(FrameCodecTest, EncodeRejectsFrameOverLimit) {
  std::string out = "keep";
  absl::Status status =
      AppendEncodedFrame(MakeFrame(1, "m", std::string(200, 'x')), 100, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, "keep");
}

TEST(FrameCodecTest, ZeroLengthIsAnError) {
  FrameDecoder decoder(1024);
  decoder.Feed(testing::LengthHeader(0));
  Frame frame;
  absl::StatusOr<bool> got = decoder.Next(&frame);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_STREQ(decoder.error_reason(), "zero_length_frame");
}

TEST(FrameCodecTest, OverLimitLengthFailsOnHeaderAlone) {
  FrameDecoder decoder(1024);
  decoder.Feed(testing::LengthHeader(1025));
  Frame frame;
  absl::StatusOr<bool> got = decoder.Next(&frame);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_STREQ(decoder.error_reason(), "frame_too_large");
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameCodecTest, MaximumLengthHeaderIsNotBuffered) {
  FrameDecoder decoder(kDefaultMaxFrameBytes);
  decoder.Feed(testing::LengthHeader(0xffffffffu));
  Frame frame;
  EXPECT_FALSE(decoder.Next(&frame).ok());
  EXPECT_STREQ(decoder.error_reason(), "frame_too_large");
}

TEST(FrameCodecTest, GarbageBodyIsAnError) {
  // 0xff bytes: field number 31 with wire type 7, which does not exist.
  std::string body(16, '\xff');
  FrameDecoder decoder(1024);
  decoder.Feed(testing::LengthHeader(body.size()) + body);
  Frame frame;
  absl::StatusOr<bool> got = decoder.Next(&frame);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_STREQ(decoder.error_reason(), "malformed_frame");
}

TEST(FrameCodecTest, ErrorIsStickyAndLaterBytesAreIgnored) {
  FrameDecoder decoder(1024);
  decoder.Feed(testing::LengthHeader(0));
  Frame frame;
  EXPECT_FALSE(decoder.Next(&frame).ok());
  decoder.Feed(Encode(MakeFrame(1, "m", "p")));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_FALSE(decoder.Next(&frame).ok());
  EXPECT_STREQ(decoder.error_reason(), "zero_length_frame");
}

TEST(FrameCodecTest, IncompleteHeaderNeedsMore) {
  FrameDecoder decoder(1024);
  decoder.Feed(std::string("\0\0", 2));
  Frame frame;
  absl::StatusOr<bool> got = decoder.Next(&frame);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);
  EXPECT_STREQ(decoder.error_reason(), "");
}

}  // namespace
}  // namespace transport
}  // namespace kess
