// The admin UI's static files (assets/), compiled into the binary by
// embed_assets.py, so the mandator binary alone is the whole deployment.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace kess {
namespace mandator {
namespace ui {

struct Asset {
  const char* name;          // "index.html"
  const char* content_type;  // "text/html; charset=utf-8"
  const char* data;
  size_t size;
};

// The file named `name` (a base name, no directories); nullptr if none.
const Asset* FindAsset(absl::string_view name);

}  // namespace ui
}  // namespace mandator
}  // namespace kess
