#include "sdk/testing/test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include "common/http_server.h"

namespace kess {
namespace sdk {
namespace testing {

bool WaitFor(const std::function<bool()>& condition) {
  for (int64_t waited = 0; waited < kLongMs; waited += 10) {
    if (condition()) return true;
    usleep(10000);
  }
  return condition();
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl =
      std::string(base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  return mkdtemp(tmpl.data()) == nullptr ? "" : tmpl;
}

int DeadPort() {
  auto server = HttpServer::Create({});
  return (*server)->port();
}

}  // namespace testing
}  // namespace sdk
}  // namespace kess
