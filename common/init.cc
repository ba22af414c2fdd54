#include "common/init.h"

#include <signal.h>

#include "common/version.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

namespace kess {

void InitProcess(int* argc, char*** argv, const char* usage) {
  FLAGS_logtostderr = true;  // default; --logtostderr=false overrides
  gflags::SetUsageMessage(usage);
  // --version prints "<program> version <this>" and exits 0.
  gflags::SetVersionString(BuildVersionLine());
  gflags::ParseCommandLineFlags(argc, argv, /*remove_flags=*/true);
  google::InitGoogleLogging((*argv)[0]);
  google::InstallFailureSignalHandler();
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace kess
