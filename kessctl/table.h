// Plain-text tables for kessctl's text output: left-aligned columns two
// spaces apart, the header first, no trailing spaces.
//
//   Table t({"KEY", "REVISION"});
//   t.AddRow({"db.timeout_ms", "42"});
//   t.Print(out);
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace kess {
namespace kessctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // A row with fewer cells than the header is padded with empty cells.
  void AddRow(std::vector<std::string> cells);
  // Writes the table to `out`, each line prefixed with `indent`.
  void Print(std::ostream& out, const std::string& indent = "") const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

}  // namespace kessctl
}  // namespace kess
