// The memory estimate: it grows with the keys that make a run large (batch, tokens, width), and a
// run whose estimate exceeds the free memory of its machine (times its ranks there) or the
// address-space limit is refused with one line naming the keys, warned about, or let through, as
// train.memory_check says.
#include "train/memory_budget.h"

#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace vit {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
const ImageShape kMnist{1, 28, 28};

MemoryEstimate estimate(const TrainConfig& config) {
  return estimate_memory(config, kMnist, 60000, 10000, 1);
}

TEST(MemoryBudget, TheSeedRunIsSmall) {
  const MemoryEstimate e = estimate(TrainConfig{});
  // 70,000 images of 784 floats: 220 MB; the 8-wide model's activations are a few MB.
  EXPECT_NEAR(static_cast<double>(e.data), 70000.0 * (784 * 4 + 8), 1.0);
  EXPECT_LT(e.activations, uint64_t{64} << 20);
  EXPECT_LT(e.total(), kGiB);
}

TEST(MemoryBudget, ActivationsGrowWithBatchWidthAndTokens) {
  TrainConfig config;
  config.model.hidden_d = 64;
  const MemoryEstimate base = estimate(config);
  TrainConfig twice_batch = config;
  twice_batch.train.batch_size *= 2;
  EXPECT_EQ(estimate(twice_batch).activations, 2 * base.activations);
  TrainConfig wider = config;
  wider.model.hidden_d = 128;
  EXPECT_GT(estimate(wider).activations, base.activations);
  EXPECT_GT(estimate(wider).model, 3 * base.model);  // parameters grow with width squared
  TrainConfig more_patches = config;
  more_patches.model.n_patches = 14;  // 197 tokens, not 50: the attention part grows 16-fold
  EXPECT_GT(estimate(more_patches).activations, 4 * base.activations);
  TrainConfig bigger_eval = config;
  bigger_eval.train.eval_batch_size *= 4;
  EXPECT_EQ(estimate(bigger_eval).evaluation, 4 * base.evaluation);
}

// A wide model with many patches at batch 128: tens of GiB of activations.
TrainConfig large_run() {
  TrainConfig config;
  config.model.hidden_d = 1024;
  config.model.n_heads = 16;
  config.model.n_patches = 28;
  config.model.n_blocks = 12;
  return config;
}

TEST(MemoryBudget, ARunBeyondTheFreeMemoryIsRefusedNamingItsKeys) {
  const TrainConfig config = large_run();
  const MemoryEstimate e = estimate(config);
  EXPECT_GT(e.activations, 20 * kGiB);
  try {
    check_memory(e, config, 1, 16 * kGiB, "MemAvailable", std::nullopt, 0);
    FAIL() << "no error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const char* part : {"train.batch_size = 128", "model.n_patches = 28",
                             "model.hidden_d = 1024", "16.0 GiB are free (MemAvailable)",
                             "train.memory_check = warn"}) {
      EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
    }
  }
}

TEST(MemoryBudget, RanksOnOneMachineShareItsMemory) {
  const TrainConfig config;  // the seed run: under 1 GiB a rank
  const MemoryEstimate e = estimate(config);
  const uint64_t free = e.total() * 3;
  EXPECT_EQ(check_memory(e, config, 2, free, "MemAvailable", std::nullopt, 0), "");
  try {
    check_memory(e, config, 4, free, "MemAvailable", std::nullopt, 0);
    FAIL() << "4 ranks fit where 3 would";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("4 ranks x "), std::string::npos) << error.what();
  }
}

TEST(MemoryBudget, WarnReturnsTheLineAndOffChecksNothing) {
  TrainConfig config = large_run();
  config.train.memory_check = MemoryCheck::kWarn;
  const std::string warning =
      check_memory(estimate(config), config, 1, 16 * kGiB, "MemAvailable", std::nullopt, 0);
  EXPECT_NE(warning.find("trying anyway"), std::string::npos) << warning;
  config.train.memory_check = MemoryCheck::kOff;
  EXPECT_EQ(check_memory(estimate(config), config, 1, 16 * kGiB, "MemAvailable", 1 << 20, 0), "");
}

TEST(MemoryBudget, AnAddressSpaceLimitBelowTheNeedIsRefusedNamingTheLimit) {
  const TrainConfig config;
  const MemoryEstimate e = estimate(config);
  const uint64_t mapped = uint64_t{900} << 20;  // what the libraries map
  try {
    check_memory(e, config, 1, 16 * kGiB, "MemAvailable", kGiB, mapped);
    FAIL() << "no error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("the address-space limit (ulimit -v) is 1.0 GiB"), std::string::npos)
        << message;
  }
  EXPECT_EQ(check_memory(e, config, 1, 16 * kGiB, "MemAvailable", 8 * kGiB, mapped), "");
  TrainConfig warn = config;
  warn.train.memory_check = MemoryCheck::kWarn;
  EXPECT_NE(check_memory(e, warn, 1, 16 * kGiB, "MemAvailable", kGiB, mapped).find("ulimit -v"),
            std::string::npos);
}

}  // namespace
}  // namespace vit
