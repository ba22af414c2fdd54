// A gtest fixture with one real standalone ZooKeeper server per test suite.
//
//   class MyTest : public kess::testing::ZkTestBase {};
//   TEST_F(MyTest, Works) { Connect(zk()->ConnectString()); ... }
//
// The server starts in SetUpTestSuite (about a second) and is stopped in
// TearDownTestSuite; if the test binary crashes or is killed, the server dies
// with it (PR_SET_PDEATHSIG). Tests needing several DCs or a 3-server
// ensemble call ZkEnsemble::Start themselves.
#pragma once

#include <memory>

#include "gtest/gtest.h"
#include "tests/harness/zk_ensemble.h"

namespace kess {
namespace testing {

class ZkTestBase : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    auto zk = ZkEnsemble::Start({.name = "zk", .servers = 1});
    ASSERT_TRUE(zk.ok()) << zk.status();
    Ensemble() = std::move(zk).value();
  }
  static void TearDownTestSuite() { Ensemble().reset(); }

 protected:
  // REQUIRES: SetUpTestSuite succeeded.
  static ZkEnsemble* zk() { return Ensemble().get(); }

 private:
  static std::unique_ptr<ZkEnsemble>& Ensemble() {
    static std::unique_ptr<ZkEnsemble>* ensemble =
        new std::unique_ptr<ZkEnsemble>();
    return *ensemble;
  }
};

}  // namespace testing
}  // namespace kess
