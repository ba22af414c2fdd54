// Two DCs of real processes for end-to-end tests and benchmarks: a main DC
// ("dc1": its ZooKeeper ensemble and mandators m1..mN, --main) and a slave
// DC ("dc2": its own ensemble and mandators s1..sN replicating dc1), all on
// 127.0.0.1 with free ports, sharing one --zk_auth_file.
//
//   auto cluster = TwoDcCluster::Start({});
//   MandatorProcess* leader = WaitLeader((*cluster)->main(), timeout);
//   auto reader = (*cluster)->ConnectSlaveReader();
//
// TwoDcCluster is MultiDcCluster (multi_dc_cluster.h) under the name its
// callers know: with the default slave_dcs = 1, slave_zk(), slave() and
// ConnectSlaveReader() without an argument are dc2's, and every option and
// accessor (proxies, WanLinks) is described there.
#pragma once

#include "tests/cluster/multi_dc_cluster.h"

namespace kess {
namespace testing {

using TwoDcClusterOptions = MultiDcClusterOptions;
using TwoDcCluster = MultiDcCluster;

}  // namespace testing
}  // namespace kess
