// ldns for C++: include this, never <ldns/ldns.h> directly. ldns's
// common.h defines the macros `true`, `false` and `bool` unless
// <stdbool.h> came first, and those macros break C++ headers included after
// it (GoogleMock's among them); <stdbool.h> defines none of them in C++.
#pragma once

#include <stdbool.h>

#include <ldns/ldns.h>
