// The NCCL back end's set-up decisions, checked on any build: what a GPU run does with one rank
// and with several is fixed here, before a GPU ever sees it.
#include "parallel/nccl_policy.h"

#include <gtest/gtest.h>

#include "parallel/solo_communicator.h"

namespace vit {
namespace {

TEST(NcclPolicy, OneRankBlocksAndMayBeCaptured) {
  EXPECT_TRUE(nccl_blocking(1));
  EXPECT_EQ(nccl_capture_obstacle(1), "");
}

TEST(NcclPolicy, SeveralRanksPollWithADeadlineAndStepEagerly) {
  for (int world : {2, 4, 8}) {
    EXPECT_FALSE(nccl_blocking(world)) << world;
    const std::string why = nccl_capture_obstacle(world);
    EXPECT_NE(why.find(std::to_string(world) + " ranks"), std::string::npos) << why;
  }
}

// A back end that says nothing about graphs (as the MPI one) cannot be captured.
class Uncapturable : public SoloCommunicator {
 public:
  std::string name() const override { return "mpi"; }
  std::string capture_obstacle() const override { return Communicator::capture_obstacle(); }
};

TEST(CaptureObstacle, TheSoloBackEndMayBeCapturedAndOthersNotByDefault) {
  SoloCommunicator solo;
  EXPECT_EQ(solo.capture_obstacle(), "");
  Uncapturable mpi;
  EXPECT_NE(mpi.capture_obstacle().find("the mpi back end"), std::string::npos)
      << mpi.capture_obstacle();
}

}  // namespace
}  // namespace vit
