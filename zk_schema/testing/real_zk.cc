#include "zk_schema/testing/real_zk.h"

#include <zookeeper/zookeeper.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "zk_schema/skeleton.h"

namespace kess {
namespace zk {
namespace testing {
namespace {

struct SessionState {
  absl::Mutex mu;
  int state = 0;
};

void Watcher(zhandle_t*, int type, int state, const char*, void* ctx) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* s = static_cast<SessionState*>(ctx);
  absl::MutexLock lock(&s->mu);
  s->state = state;
}

constexpr int kExpireAttempts = 20;

}  // namespace

absl::Status ExpireSession(const std::string& connect_string,
                           const SessionCredentials& creds,
                           absl::Duration timeout) {
  if (creds.password.size() != sizeof(clientid_t{}.passwd)) {
    return absl::InvalidArgumentError("session password must be 16 bytes");
  }
  clientid_t id;
  id.client_id = creds.session_id;
  std::memcpy(id.passwd, creds.password.data(), sizeof(id.passwd));
  // The owner's handle loses its connection when ours attaches and
  // reconnects within milliseconds, which can take the session back before
  // our close is sent. So: attach and close until an attach is told that
  // the session has expired.
  for (int attempt = 0; attempt < kExpireAttempts; ++attempt) {
    SessionState s;
    zhandle_t* zh =
        zookeeper_init(connect_string.c_str(), &Watcher, 10000, &id, &s, 0);
    if (zh == nullptr) return absl::UnavailableError("zookeeper_init failed");
    int state;
    {
      absl::MutexLock lock(&s.mu);
      auto settled = [&s]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
        return s.state == ZOO_CONNECTED_STATE ||
               s.state == ZOO_EXPIRED_SESSION_STATE;
      };
      s.mu.AwaitWithTimeout(absl::Condition(&settled), timeout);
      state = s.state;
    }
    zookeeper_close(zh);  // when connected: ends the shared session
    if (state == ZOO_EXPIRED_SESSION_STATE) return absl::OkStatus();
    if (state != ZOO_CONNECTED_STATE) {
      return absl::DeadlineExceededError(
          absl::StrCat("handle on session 0x", absl::Hex(creds.session_id),
                       " neither connected nor expired within ",
                       absl::FormatDuration(timeout)));
    }
  }
  return absl::DeadlineExceededError(
      absl::StrCat("session 0x", absl::Hex(creds.session_id), " survived ",
                   kExpireAttempts, " attach-and-close attempts"));
}

ZkClientOptions TestClientOptions(const std::string& connect_string) {
  ZkClientOptions options;
  options.connect_string = connect_string;
  // The test servers run tickTime=200: sessions of 0.4..4 s.
  options.session_timeout = absl::Seconds(4);
  options.connect_timeout = absl::Seconds(30);
  return options;
}

absl::StatusOr<Layout> CreateTestTree(ZkApi& zk, const std::string& name,
                                      const SchemaInfo& info,
                                      int changelog_retention) {
  KESS_ASSIGN_OR_RETURN(Layout layout,
                        Layout::Create(absl::StrCat("/", name, "/kess")));
  KESS_RETURN_IF_ERROR(EnsureSkeleton(zk, layout, info, changelog_retention));
  return layout;
}

}  // namespace testing
}  // namespace zk
}  // namespace kess
