// Start-up of every kess binary (daemons and CLIs).
//
// Flags are gflags; each daemon defines its own with DEFINE_* next to main().
// A config file is a gflags flag file: one `--name=value` per line, `#`
// comments, passed as `--flagfile=/etc/kess/mandator.flags`; flags given on
// the command line after it override the file. `--helpfull` lists all flags.
//
// Logging is glog: to stderr by default (systemd/journald collects it); pass
// `--log_dir=DIR --logtostderr=false` for files.
#pragma once

namespace kess {

// Parses flags (removing them from argv), initialises glog, installs glog's
// failure signal handler (stack traces on crashes) and ignores SIGPIPE (a
// peer closing a socket must never kill a daemon). --version prints the
// release and commit (common/version.h) and exits 0.
// REQUIRES: called once, first thing in main().
void InitProcess(int* argc, char*** argv, const char* usage);

}  // namespace kess
