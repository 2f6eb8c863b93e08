// Data-parallel training under mpiexec -n 2: the core equivalence (K steps on 2 ranks with batch b
// equal K steps on 1 rank with batch 2b over the same samples), gradient accumulation, one
// all-reduce per step, distributed evaluation, and the replica check.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <cmath>

#include "parallel/mpi_communicator.h"
#include "parallel/replicas.h"
#include "parallel/solo_communicator.h"
#include "test_util.h"
#include "train/trainer.h"
#include "util/error.h"

namespace vit {
namespace {

// Counts the calls that reach the wrapped communicator.
class CountingCommunicator : public MpiCommunicator {
 public:
  using MpiCommunicator::MpiCommunicator;
  void all_reduce_mean(torch::Tensor& buffer) override {
    ++all_reduces;
    MpiCommunicator::all_reduce_mean(buffer);
  }
  int all_reduces = 0;
};

class DistributedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    // Rank 0 writes the data set; every rank reads the same files.
    std::string dir = dir_.path().string();
    int length = static_cast<int>(dir.size());
    MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
    dir.resize(static_cast<size_t>(length));
    MPI_Bcast(dir.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank_ == 0) testing::write_synthetic_dataset(dir, 300, 255);  // 255: uneven shares
    MPI_Barrier(MPI_COMM_WORLD);
    config_.data.dir = dir;
    config_.train.epochs = 1;
    config_.train.max_steps = 5;
    config_.train.batch_size = 16;
    config_.train.eval_batch_size = 50;
    config_.optim.name = OptimName::kSgd;  // a linear update keeps float rounding differences small
    config_.optim.lr = 0.05;
    config_.log.every_steps = "0";
  }
  // Rank 0's folder holds the data of all ranks: no rank leaves (and rank 0 removes it) while
  // another may still read it.
  void TearDown() override { MPI_Barrier(MPI_COMM_WORLD); }

  std::vector<torch::Tensor> params_after_training(const TrainConfig& config, Communicator& comm) {
    Trainer trainer(config, load_dataset(config.data), comm, torch::kCPU);
    trainer.fit(nullptr);
    std::vector<torch::Tensor> out;
    for (const auto& p : trainer.model()->parameters()) out.push_back(p.detach().clone());
    return out;
  }

  static void expect_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    ASSERT_EQ(a.size(), b.size());
    // Bit equality is not expected: the float sums run in another order.
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i], b[i], /*rtol=*/1e-4, /*atol=*/1e-6))
          << "parameter " << i << " max diff " << (a[i] - b[i]).abs().max().item<float>();
    }
  }

  testing::TempDir dir_;
  TrainConfig config_;
  int rank_ = 0;
};

TEST_F(DistributedTest, TwoRanksWithBatchBEqualOneRankWithBatch2B) {
  MpiCommunicator world(MPI_COMM_WORLD);
  ASSERT_EQ(world.world_size(), 2) << "run under mpiexec -n 2";
  const auto distributed = params_after_training(config_, world);
  if (rank_ == 0) {
    MpiCommunicator self(MPI_COMM_SELF);
    TrainConfig single = config_;
    single.train.batch_size = 2 * config_.train.batch_size;
    const auto reference = params_after_training(single, self);
    expect_close(distributed, reference);
    // And the run really moved the parameters: the test would pass trivially otherwise.
    TrainConfig untrained = config_;
    untrained.train.max_steps = 0;
    Trainer fresh(untrained, load_dataset(untrained.data), self, torch::kCPU);
    EXPECT_FALSE(torch::allclose(fresh.model()->parameters()[0], reference[0], 1e-3, 1e-4));
  }
}

TEST_F(DistributedTest, AccumulationOnTwoRanksEqualsOneBigBatch) {
  MpiCommunicator world(MPI_COMM_WORLD);
  TrainConfig accumulated = config_;
  accumulated.train.batch_size = 8;
  accumulated.train.accum_steps = 2;  // 16 per rank and step, in two micro-batches
  const auto distributed = params_after_training(accumulated, world);
  if (rank_ == 0) {
    MpiCommunicator self(MPI_COMM_SELF);
    TrainConfig single = config_;
    single.train.batch_size = 32;
    expect_close(distributed, params_after_training(single, self));
  }
}

TEST_F(DistributedTest, OneAllReducePerStepAndGradientsStayInTheFlatBuffer) {
  CountingCommunicator world(MPI_COMM_WORLD);
  config_.train.accum_steps = 3;  // 150 samples per rank: 4 steps of 48 per epoch
  config_.train.epochs = 2;       // max_steps 5 ends it in the second epoch
  Trainer trainer(config_, load_dataset(config_.data), world, torch::kCPU);
  trainer.fit(nullptr);
  EXPECT_EQ(trainer.step(), 5);
  EXPECT_EQ(world.all_reduces, 5);
  EXPECT_TRUE(trainer.gradients().intact());
}

// One rank's NaN reaches every rank through the gradient all-reduce: all stop at the same step
// with the same error, no extra collective, none left waiting.
TEST_F(DistributedTest, ANaNOnOneRankStopsEveryRank) {
  CountingCommunicator world(MPI_COMM_WORLD);
  Trainer trainer(config_, load_dataset(config_.data), world, torch::kCPU);
  if (rank_ == 1) {
    torch::NoGradGuard no_grad;
    trainer.model()->parameters()[5].view(-1)[0] = std::nan("");
  }
  const int before = world.all_reduces;
  try {
    trainer.fit(nullptr);
    FAIL() << "rank " << rank_ << ": no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step 1: training diverged"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(world.all_reduces - before, 1);
  EXPECT_EQ(trainer.step(), 0);
}

// Each rank draws other initial parameters (its own seed): after the start-up broadcast all hold
// rank 0's, the very ones a one-rank trainer with rank 0's seed draws.
TEST_F(DistributedTest, StartUpBroadcastGivesEveryRankRank0sParameters) {
  MpiCommunicator world(MPI_COMM_WORLD);
  SoloCommunicator solo;
  TrainConfig mine = config_;
  mine.train.seed = config_.train.seed + rank_;
  Trainer trainer(mine, load_dataset(mine.data), world, torch::kCPU);
  Trainer rank0s(config_, load_dataset(config_.data), solo, torch::kCPU);
  EXPECT_EQ(state_checksum(*trainer.model()), state_checksum(*rank0s.model()));
  if (rank_ != 0) {  // without the broadcast this rank's would differ
    Trainer alone(mine, load_dataset(mine.data), solo, torch::kCPU);
    EXPECT_NE(state_checksum(*alone.model()), state_checksum(*rank0s.model()));
  }
}

TEST_F(DistributedTest, ReplicasStayBitIdentical) {
  MpiCommunicator world(MPI_COMM_WORLD);
  Trainer trainer(config_, load_dataset(config_.data), world, torch::kCPU);
  EXPECT_NO_THROW(check_replicas(*trainer.model(), world, "at start"));
  trainer.fit(nullptr);
  EXPECT_NO_THROW(check_replicas(*trainer.model(), world, "after training"));
  // A replica that drifts is caught on every rank, and rank 1 is named.
  if (rank_ == 1) {
    torch::NoGradGuard no_grad;
    trainer.model()->parameters()[0].view(-1)[0] += 1e-6f;
  }
  try {
    check_replicas(*trainer.model(), world, "after a drift");
    ADD_FAILURE() << "drift not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank(s) 1 differ"), std::string::npos) << e.what();
  }
}

TEST_F(DistributedTest, DistributedEvaluationEqualsOneRank) {
  MpiCommunicator world(MPI_COMM_WORLD);
  Trainer trainer(config_, load_dataset(config_.data), world, torch::kCPU);
  trainer.fit(nullptr);
  const Evaluation distributed = trainer.evaluate(trainer.data().test);
  EXPECT_EQ(distributed.count(), 255);
  // The same parameters scored by one rank alone.
  if (rank_ == 0) {
    MpiCommunicator self(MPI_COMM_SELF);
    TrainConfig untrained = config_;
    untrained.train.max_steps = 0;
    Trainer single(untrained, load_dataset(config_.data), self, torch::kCPU);
    {
      torch::NoGradGuard no_grad;
      auto from = trainer.model()->parameters();
      auto to = single.model()->parameters();
      for (size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
    }
    const Evaluation reference = single.evaluate(single.data().test);
    EXPECT_EQ(distributed.correct(), reference.correct());
    EXPECT_EQ(distributed.accuracy(), reference.accuracy());
    // Loss sums add up in another order (other batch boundaries): equal to float rounding.
    EXPECT_NEAR(distributed.loss(), reference.loss(), 1e-6 * reference.loss());
  }
}

TEST_F(DistributedTest, LinearLearningRateScaling) {
  // With lr_scaling = linear on 2 ranks, the first step equals one rank's step at twice the lr.
  MpiCommunicator world(MPI_COMM_WORLD);
  config_.train.max_steps = 1;
  config_.optim.momentum = 0;
  TrainConfig scaled = config_;
  scaled.optim.lr_scaling = LrScaling::kLinear;
  const auto distributed = params_after_training(scaled, world);
  if (rank_ == 0) {
    MpiCommunicator self(MPI_COMM_SELF);
    TrainConfig single = config_;
    single.train.batch_size = 32;
    single.optim.lr = 2 * config_.optim.lr;
    expect_close(distributed, params_after_training(single, self));
  }
}

}  // namespace
}  // namespace vit
