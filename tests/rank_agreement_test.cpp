// parallel/rank_agreement under mpiexec: a step that fails on one rank fails on all, reported once by
// that rank with its number; describe_error keeps the first line of a message; a lost peer's error
// has its own exit status.
#include "parallel/rank_agreement.h"
#include "parallel/peer_lost.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <mpi.h>

#include <stdexcept>

namespace vit {
namespace {

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

TEST(RankAgreement, SuccessEverywhereIsSuccess) {
  int ran = 0;
  EXPECT_TRUE(succeeded_on_all_ranks(world_rank(), [&] { ++ran; }));
  EXPECT_EQ(ran, 1);
}

TEST(RankAgreement, AFailureOnOneRankFailsAllAndThatRankSaysSo) {
  const int rank = world_rank();
  ::testing::internal::CaptureStderr();
  const bool ok = succeeded_on_all_ranks(rank, [&] {
    if (rank == 1) throw std::runtime_error("data.dir: /x is not a directory\nsecond line");
  });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(ok);
  if (rank == 1) {
    EXPECT_EQ(err, "error: rank 1: data.dir: /x is not a directory\n");
  } else {
    EXPECT_EQ(err, "");
  }
}

TEST(RankAgreement, AFailureOnEveryRankIsReportedOnceByRankZero) {
  const int rank = world_rank();
  ::testing::internal::CaptureStderr();
  const bool ok = succeeded_on_all_ranks(rank, [] { throw std::runtime_error("bad config"); });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(ok);
  EXPECT_EQ(err, rank == 0 ? "error: bad config\n" : "");
}

TEST(DescribeError, FirstLineAndNoBacktrace) {
  EXPECT_EQ(describe_error(std::runtime_error("one\ntwo")), "one");
  try {
    TORCH_CHECK(false, "a torch message");
  } catch (const c10::Error& e) {
    EXPECT_EQ(describe_error(e), "a torch message");
  }
}

// A peer that stopped answering ends the job with 69, which launch/train.sh --max-restarts
// restarts; any other error with 1, which it does not.
TEST(ExitStatus, APeerLostIs69AndAnyOtherErrorIs1) {
  EXPECT_EQ(exit_status_of(PeerLostError("rank 0: NCCL all-reduce did not complete")), 69);
  EXPECT_EQ(exit_status_of(Error("train.batch_size: must be positive")), 1);
  EXPECT_EQ(exit_status_of(std::runtime_error("x")), 1);
}

}  // namespace
}  // namespace vit
