#include "zk_schema/testing/event_log.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kess {
namespace zk {
namespace testing {

void EventLog::Add(std::string entry) {
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
}

std::vector<std::string> EventLog::entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

void EventLog::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
}

WatchCallback EventLog::Watcher(const std::string& tag) {
  return [this, tag](const WatchEvent& e) {
    Add(absl::StrCat(tag, " ", WatchEventTypeName(e.type), " ", e.path));
  };
}

void EventLog::Listen(ZkApi& zk, const std::string& tag) {
  zk.AddSessionListener([this, tag](const SessionEvent& e) {
    Add(absl::StrCat(tag, ": ", SessionEventTypeName(e.type), " ",
                     e.generation));
  });
}

const char* WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kCreated:
      return "created";
    case WatchEventType::kDeleted:
      return "deleted";
    case WatchEventType::kChanged:
      return "changed";
    case WatchEventType::kChildren:
      return "children";
  }
  return "?";
}

}  // namespace testing
}  // namespace zk
}  // namespace kess
