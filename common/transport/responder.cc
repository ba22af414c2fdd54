#include "common/transport/responder.h"

#include "absl/strings/str_cat.h"
#include "common/transport/frame.pb.h"
#include "common/transport/frame_codec.h"
#include "common/transport/protocol_version.h"

namespace kess {
namespace transport {

bool ResponderLink::Send(uint64_t connection_id,
                         std::shared_ptr<const std::string> bytes) {
  absl::MutexLock lock(&mu_);
  if (!send_) return false;
  send_(connection_id, std::move(bytes));
  return true;
}

void ResponderLink::Detach() {
  absl::MutexLock lock(&mu_);
  send_ = nullptr;
}

Responder::Responder(std::shared_ptr<ResponderLink> link,
                     uint64_t connection_id, uint64_t request_id,
                     size_t max_frame_bytes)
    : link_(std::move(link)),
      connection_id_(connection_id),
      request_id_(request_id),
      max_frame_bytes_(max_frame_bytes) {}

Responder::Responder(Responder&& other) noexcept
    : link_(std::move(other.link_)),
      connection_id_(other.connection_id_),
      request_id_(other.request_id_),
      max_frame_bytes_(other.max_frame_bytes_) {
  other.link_ = nullptr;
}

Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    if (link_ != nullptr) {
      Respond(absl::InternalError("handler replaced its responder"));
    }
    link_ = std::move(other.link_);
    other.link_ = nullptr;
    connection_id_ = other.connection_id_;
    request_id_ = other.request_id_;
    max_frame_bytes_ = other.max_frame_bytes_;
  }
  return *this;
}

Responder::~Responder() {
  if (link_ != nullptr) {
    Respond(absl::InternalError("handler dropped the request unanswered"));
  }
}

void Responder::Respond(absl::StatusOr<std::string> result) {
  if (link_ == nullptr) return;
  std::shared_ptr<ResponderLink> link = std::move(link_);
  link_ = nullptr;

  Frame frame;
  frame.set_id(request_id_);
  frame.set_kind(Frame::RESPONSE);
  frame.set_protocol_version(kProtocolVersion);
  if (result.ok()) {
    frame.set_payload(std::move(result).value());
  } else {
    frame.set_status_code(static_cast<int>(result.status().code()));
    frame.set_status_message(std::string(result.status().message()));
  }
  auto bytes = std::make_shared<std::string>();
  absl::Status status =
      AppendEncodedFrame(frame, max_frame_bytes_, bytes.get());
  if (!status.ok()) {
    Frame error;
    error.set_id(request_id_);
    error.set_kind(Frame::RESPONSE);
    error.set_protocol_version(kProtocolVersion);
    error.set_status_code(
        static_cast<int>(absl::StatusCode::kResourceExhausted));
    error.set_status_message(
        absl::StrCat("response too large: ", status.message()));
    bytes->clear();
    status = AppendEncodedFrame(error, max_frame_bytes_, bytes.get());
    if (!status.ok()) return;  // max_frame_bytes is absurdly small
  }
  link->Send(connection_id_, std::move(bytes));
}

}  // namespace transport
}  // namespace kess
