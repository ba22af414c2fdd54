// Responder: the one-shot answer to a server request, usable from any
// thread, now or later (an asynchronous handler keeps it and responds when
// its work is done).
//
// Thread-safety: a Responder is a move-only value; use it from one thread at
// a time (it may move between threads). ResponderLink is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace kess {
namespace transport {

// Where answers go: the server's "queue these bytes on connection N",
// detached at server shutdown so Responders that outlive it do nothing.
class ResponderLink {
 public:
  using SendFn = std::function<void(uint64_t connection_id,
                                    std::shared_ptr<const std::string> bytes)>;

  explicit ResponderLink(SendFn send) : send_(std::move(send)) {}

  // Returns false (and drops the bytes) once detached.
  bool Send(uint64_t connection_id, std::shared_ptr<const std::string> bytes);
  // After this returns no Send() is running or will run.
  void Detach();

 private:
  absl::Mutex mu_;
  SendFn send_ ABSL_GUARDED_BY(mu_);
};

class Responder {
 public:
  Responder(std::shared_ptr<ResponderLink> link, uint64_t connection_id,
            uint64_t request_id, size_t max_frame_bytes);
  Responder(Responder&& other) noexcept;
  Responder& operator=(Responder&& other) noexcept;
  // A Responder dropped without Respond() answers INTERNAL ("no response"),
  // so the caller does not wait for its timeout.
  ~Responder();

  // Sends the RESPONSE frame: the payload on OK, else the status code and
  // message. A payload over the frame limit is answered RESOURCE_EXHAUSTED
  // instead. Only the first call counts; the connection may be gone, in
  // which case the answer is dropped.
  void Respond(absl::StatusOr<std::string> result);

  uint64_t connection_id() const { return connection_id_; }
  bool responded() const { return link_ == nullptr; }

 private:
  std::shared_ptr<ResponderLink> link_;  // null once responded or moved
  uint64_t connection_id_;
  uint64_t request_id_;
  size_t max_frame_bytes_;
};

}  // namespace transport
}  // namespace kess
