#include "common/dev_mode_flag.h"

#include "gflags/gflags.h"

DEFINE_bool(insecure_dev_mode, false,
            "Lift the secure defaults (development and demos only): the "
            "mandator accepts registrations, heartbeats and partial-table "
            "reads from peers without an identity, and anonymous admin "
            "requests. Never in production (docs/security.md).");

namespace kess {

bool InsecureDevModeFlag() { return FLAGS_insecure_dev_mode; }

}  // namespace kess
