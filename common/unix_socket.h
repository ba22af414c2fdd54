// UnixSocketPlacement: puts a listening unix-domain socket at a path
// safely, for the HTTP servers' Options::unix_socket (http_server.h,
// http/event_http_server.h).
//
//   auto place = UnixSocketPlacement::Prepare("/run/kess/agent.sock");
//   bind(fd, place->bind_path(), ...);      // in a private 0700 directory
//   place->Publish(0660);                   // mode set, then renamed in place
//   ...
//   place->RemoveIfOurs();                  // at shutdown
//
// What it guarantees:
//  - The socket's mode is set while it sits in a fresh directory only this
//    user can enter, then it is renamed over the final path: no moment at
//    which the socket is reachable with the wrong mode, and no chmod by a
//    path that another user could have swapped for a symbolic link.
//  - The final path's directory must not be writable by group or others
//    unless it has the sticky bit (/tmp): there, another user could replace
//    the socket and receive the clients' requests.
//  - A socket file already at the path is replaced only if nobody serves on
//    it (connect() is refused): a second daemon started by mistake does not
//    take the first one's socket. Any other kind of file is never replaced.
//  - RemoveIfOurs unlinks the path only if it is still the socket Publish
//    put there.
//
// Thread-compatible.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace kess {

class UnixSocketPlacement {
 public:
  // Checks the directory and what is at `path`, and creates the private
  // directory. InvalidArgument for a path too long for sockaddr_un (also
  // counting the private directory's name); FailedPrecondition for an
  // unsafe directory, a file that is not a socket, or a socket someone
  // serves on; the errno of a failing call otherwise.
  static absl::StatusOr<std::unique_ptr<UnixSocketPlacement>> Prepare(
      const std::string& path);
  ~UnixSocketPlacement();  // removes the private directory if still there

  // Where to bind(2) the socket (inside the private directory).
  const std::string& bind_path() const { return bind_path_; }
  // REQUIRES: a socket bound at bind_path(). Sets its mode, renames it to
  // the final path, removes the private directory.
  absl::Status Publish(int mode);
  // Unlinks the final path if it is still the socket Publish put there.
  void RemoveIfOurs();

  const std::string& path() const { return path_; }

 private:
  UnixSocketPlacement() = default;

  std::string path_;
  std::string private_dir_;
  std::string bind_path_;
  bool published_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace kess
