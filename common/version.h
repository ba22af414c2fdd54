// The release and the git commit a kess binary was built from.
//
// The release is the top-level VERSION file. The commit is stamped only in
// builds with --stamp (the Debian packages of deploy/ are built so:
// `bazel build --config=deploy //deploy:all`, which also runs
// scripts/workspace_status.sh); every other build says "dev", so that a new
// commit relinks nothing in everyday builds and tests.
//
// Every binary answers --version (InitProcess, common/init.h); the daemons
// report both in /healthz (the X-Kess-Version and X-Kess-Commit headers of
// HttpServer and EventHttpServer) and in their status JSON ("version",
// "commit"), which the admin UI's Overview shows per daemon.
#pragma once

#include <string>

namespace kess {

// "0.9.0": the VERSION file as built.
const char* BuildVersion();

// The git commit (40 hex digits, "-dirty" appended when the tree had
// uncommitted changes) in a stamped build, "dev" otherwise.
const char* BuildCommit();

// "0.9.0 (commit <BuildCommit()>)": what --version prints after the
// program's name.
std::string BuildVersionLine();

// The JSON members `"version":"...","commit":"..."` (no braces, no leading
// comma), for the daemons' status objects.
std::string BuildVersionJsonMembers();

}  // namespace kess
