#include "sdk/testing/route_tables.h"

#include <cmath>

#include "sdk/stable_hash.h"

namespace kess {
namespace sdk {
namespace testing {

std::string AddressOf(const std::string& id) {
  return "127.0.0.1:" + std::to_string(1024 + StableHash(id) % 60000);
}

RouteInstance Instance(const std::string& id, const std::string& dc, int weight,
                       InstanceState state) {
  RouteInstance instance;
  instance.id = id;
  instance.host = "host-" + id;
  instance.address = AddressOf(id);
  instance.datacenter = dc;
  instance.weight = weight;
  instance.state = state;
  return instance;
}

RouteTable Table(const std::string& service, int64_t revision,
                 std::vector<RouteInstance> instances) {
  RouteTable table;
  table.service = service;
  table.revision = revision;
  table.instances = std::move(instances);
  return table;
}

std::shared_ptr<const RouteSnapshot> Snapshot(
    std::vector<RouteInstance> instances) {
  return RouteSnapshot::Build(std::make_shared<const RouteTable>(
      Table("svc", 1, std::move(instances))));
}

double ChiSquarePValue(double statistic, int df) {
  const double a = df / 2.0, x = statistic / 2.0;
  if (x <= 0) return 1.0;
  const double log_prefix = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {  // series for the lower tail P
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 10000 && term > sum * 1e-17; ++n) {
      term *= x / (a + n);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_prefix);
  }
  // Continued fraction for the upper tail Q (Lentz).
  double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    d = std::fabs(d) < 1e-300 ? 1e300 : 1 / d;
    c = b + an / c;
    h *= d * c;
    if (std::fabs(d * c - 1) < 1e-16) break;
  }
  return std::exp(log_prefix) * h;
}

double ChiSquare(const std::map<std::string, int>& observed,
                 const std::map<std::string, double>& expected_share) {
  double total_share = 0;
  for (const auto& [id, share] : expected_share) total_share += share;
  double n = 0;
  for (const auto& [id, count] : observed) n += count;
  double statistic = 0;
  for (const auto& [id, share] : expected_share) {
    auto it = observed.find(id);
    const double o = it == observed.end() ? 0 : it->second;
    const double e = n * share / total_share;
    statistic += (o - e) * (o - e) / e;
  }
  return statistic;
}

}  // namespace testing
}  // namespace sdk
}  // namespace kess
