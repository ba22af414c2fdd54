// Test helpers: route tables and snapshots built in a line, and the
// chi-square goodness-of-fit test used by the load-balancer statistics.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/route_table.h"
#include "sdk/route_snapshot.h"

namespace kess {
namespace sdk {
namespace testing {

// An instance "<id>" at "127.0.0.1:<port>" where port is derived from the
// id, so a test can check address and id belong together.
RouteInstance Instance(const std::string& id, const std::string& dc = "dc1",
                       int weight = 100,
                       InstanceState state = InstanceState::kHealthy);
std::string AddressOf(const std::string& id);

RouteTable Table(const std::string& service, int64_t revision,
                 std::vector<RouteInstance> instances);
std::shared_ptr<const RouteSnapshot> Snapshot(
    std::vector<RouteInstance> instances);

// Probability that a chi-square variate with `df` degrees of freedom is at
// least `statistic` (upper tail; regularized incomplete gamma Q).
double ChiSquarePValue(double statistic, int df);

// Pearson's statistic of observed counts against expected shares (need
// not be normalized); ids missing from `observed` count as 0.
double ChiSquare(const std::map<std::string, int>& observed,
                 const std::map<std::string, double>& expected_share);

}  // namespace testing
}  // namespace sdk
}  // namespace kess
