#include "tests/wan/link_profile.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kess {
namespace wan {
namespace {

struct RateUnit {
  const char* name;
  int64_t bits;
};
// Largest first: ToString picks the largest unit that divides the rate.
constexpr RateUnit kRateUnits[] = {
    {"gbit", 1000000000}, {"mbit", 1000000}, {"kbit", 1000}, {"bit", 1}};

absl::StatusOr<absl::Duration> ParseNonNegativeDuration(
    absl::string_view key, absl::string_view value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("link profile: ", key, "=", value,
                     " is not a duration (write e.g. 25ms, 1.5s or 0)"));
  }
  return d;  // sign and infinity: ValidateLinkProfile
}

absl::StatusOr<double> ParseLoss(absl::string_view value) {
  absl::string_view number = value;
  double scale = 1;
  if (absl::ConsumeSuffix(&number, "%")) scale = 0.01;
  double p = 0;
  if (!absl::SimpleAtod(number, &p) || !std::isfinite(p)) {
    return absl::InvalidArgumentError(
        absl::StrCat("link profile: loss=", value,
                     " is not a probability (write e.g. 0.01 or 1%)"));
  }
  return p * scale;
}

absl::StatusOr<int64_t> ParseRate(absl::string_view value) {
  size_t unit_at = 0;
  while (unit_at < value.size() &&
         !std::isalpha(static_cast<unsigned char>(value[unit_at]))) {
    ++unit_at;
  }
  const absl::string_view number = value.substr(0, unit_at);
  const absl::string_view unit = value.substr(unit_at);
  int64_t multiplier = 0;
  if (unit.empty()) multiplier = 1;
  for (const RateUnit& u : kRateUnits) {
    if (unit == u.name) multiplier = u.bits;
  }
  double amount = 0;
  if (multiplier == 0 || !absl::SimpleAtod(number, &amount) ||
      !std::isfinite(amount)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "link profile: bw=", value,
        " is not a rate (write e.g. 1mbit, 512kbit, 1.5gbit, 100000; units: "
        "bit kbit mbit gbit; 0 = unlimited)"));
  }
  const double bps = amount * static_cast<double>(multiplier);
  if (bps >= static_cast<double>(std::numeric_limits<int64_t>::max()) / 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("link profile: bw=", value, " is too large"));
  }
  if (bps > 0 && bps < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "link profile: bw=", value, " is below 1 bit/s (0 = unlimited)"));
  }
  return static_cast<int64_t>(std::llround(bps));
}

std::string FormatRate(int64_t bps) {
  for (const RateUnit& u : kRateUnits) {
    if (bps % u.bits == 0) return absl::StrCat(bps / u.bits, u.name);
  }
  return absl::StrCat(bps, "bit");  // not reached: every rate divides by 1
}

}  // namespace

std::string LinkProfile::ToString() const {
  std::vector<std::string> items;
  if (delay != absl::ZeroDuration()) {
    items.push_back(absl::StrCat("delay=", absl::FormatDuration(delay)));
  }
  if (jitter != absl::ZeroDuration()) {
    items.push_back(absl::StrCat("jitter=", absl::FormatDuration(jitter)));
  }
  if (loss != 0) items.push_back(absl::StrFormat("loss=%.6g", loss));
  if (bandwidth_bps != 0) {
    items.push_back(absl::StrCat("bw=", FormatRate(bandwidth_bps)));
  }
  if (items.empty()) return "none";
  return absl::StrJoin(items, ",");
}

absl::Status ValidateLinkProfile(const LinkProfile& p) {
  const auto check_duration = [](const char* key, absl::Duration d) {
    if (d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("link profile: ", key, "=", absl::FormatDuration(d),
                       " must be finite and >= 0"));
    }
    return absl::OkStatus();
  };
  KESS_RETURN_IF_ERROR(check_duration("delay", p.delay));
  KESS_RETURN_IF_ERROR(check_duration("jitter", p.jitter));
  if (!(p.loss >= 0 && p.loss <= 1)) {  // also refuses NaN
    return absl::InvalidArgumentError(absl::StrFormat(
        "link profile: loss=%g must be a probability in [0, 1]", p.loss));
  }
  if (p.bandwidth_bps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("link profile: bw=", p.bandwidth_bps,
                     " bit/s must be >= 0 (0 = unlimited)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LinkProfile> ParseLinkProfile(absl::string_view text) {
  LinkProfile profile;
  if (text.empty() || text == "none") return profile;
  std::set<std::string> seen;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("link profile: \"", item, "\" in \"", text,
                       "\" is not key=value (keys: delay, jitter, loss, bw)"));
    }
    const absl::string_view key = item.substr(0, eq);
    const absl::string_view value = item.substr(eq + 1);
    if (!seen.insert(std::string(key)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "link profile: ", key, " given twice in \"", text, "\""));
    }
    if (key == "delay") {
      KESS_ASSIGN_OR_RETURN(profile.delay,
                            ParseNonNegativeDuration(key, value));
    } else if (key == "jitter") {
      KESS_ASSIGN_OR_RETURN(profile.jitter,
                            ParseNonNegativeDuration(key, value));
    } else if (key == "loss") {
      KESS_ASSIGN_OR_RETURN(profile.loss, ParseLoss(value));
    } else if (key == "bw") {
      KESS_ASSIGN_OR_RETURN(profile.bandwidth_bps, ParseRate(value));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("link profile: unknown key \"", key, "\" in \"", text,
                       "\" (keys: delay, jitter, loss, bw)"));
    }
  }
  KESS_RETURN_IF_ERROR(ValidateLinkProfile(profile));
  return profile;
}

}  // namespace wan
}  // namespace kess
