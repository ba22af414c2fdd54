// --insecure_dev_mode: the one switch that lifts the daemons' secure
// defaults for a developer's laptop or a demo. Without it a mandator
// refuses anonymous registrations on its scheduler port (registration
// rights, docs/security.md) and anonymous admin requests. Linking this
// library defines the flag: link it into binaries only, never into a
// library a program embeds.
//
// Thread-safety: read it after flag parsing.
#pragma once

namespace kess {

// True when --insecure_dev_mode was given (logged as a WARNING by the
// daemon that reads it first).
bool InsecureDevModeFlag();

}  // namespace kess
