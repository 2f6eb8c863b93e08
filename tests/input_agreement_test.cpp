// parallel/input_agreement: what each rank was given, compared with rank 0's; the differences named
// by key and rank. (The collective itself: mpi.train, with ranks given other keys and data.)
#include "parallel/input_agreement.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace vit {
namespace {

std::string value_of(const TrainConfig& config, const std::string& key) {
  for (const auto& [k, v] : config.entries()) {
    if (k == key) return v;
  }
  return "";
}

TEST(InputAgreement, TheSharedTextLeavesOutTheDataFolderAndLogging) {
  TrainConfig a, b;
  b.data.dir = "/elsewhere";
  b.log.level = LogLevel::kDebug;
  EXPECT_EQ(shared_config_text(a), shared_config_text(b));
  b.optim.lr = a.optim.lr * 2;
  EXPECT_NE(shared_config_text(a), shared_config_text(b));
  EXPECT_NE(shared_config_text(a).find("model.hidden_d="), std::string::npos);
}

TEST(InputAgreement, DifferingKeysAreNamedWithEachRanksValue) {
  TrainConfig base, lr, both;
  lr.optim.lr = 0.01;
  both.optim.lr = 0.02;
  both.train.epochs = 9;
  const std::string same = shared_config_text(base);
  EXPECT_EQ(config_disagreement({same, same, same}), "");
  EXPECT_EQ(config_disagreement({same}), "");
  EXPECT_EQ(config_disagreement({same, shared_config_text(lr), same, shared_config_text(both)}),
            "optim.lr: rank 0 " + value_of(base, "optim.lr") + ", rank 1 0.01, rank 3 0.02; " +
                "train.epochs: rank 0 " + value_of(base, "train.epochs") + ", rank 3 9");
}

TEST(InputAgreement, DataOfOtherContentOrSizeIsNamedByRank) {
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.file("a"), 64, 16);
  testing::write_synthetic_dataset(dir.file("b"), 65, 16);
  DataConfig config;
  config.dir = dir.file("a");
  const std::string a = data_digest(load_dataset(config));
  EXPECT_EQ(a, data_digest(load_dataset(config)));  // deterministic
  config.dir = dir.file("b");
  const std::string b = data_digest(load_dataset(config));
  EXPECT_NE(a, b);
  EXPECT_EQ(data_disagreement({a, a}), "");
  EXPECT_EQ(data_disagreement({a, a, b}), "rank 2 loaded " + b + "; rank 0 loaded " + a);
  // The same sizes, one pixel changed: the checksum tells them apart.
  Dataset data = load_dataset(config);
  const std::string before = data_digest(data);
  data.train.images.view(-1)[5] += 1;
  EXPECT_NE(before, data_digest(data));
}

// Ranks that resumed different states (one saw checkpoints, another none: run directories that
// are not shared) are named, each with what it resumed; equal copies agree.
TEST(InputAgreement, RanksThatResumedDifferentStatesAreNamed) {
  const std::string resumed = resume_digest("/a/run/checkpoints/step-00000032.pt", 32, 77);
  EXPECT_EQ(resumed, "step-00000032.pt (step 32), model checksum 77");
  EXPECT_EQ(resume_digest("", 0, 5), "nothing (a fresh start), model checksum 5");
  EXPECT_EQ(resume_disagreement({resumed, resume_digest("/b/copy/checkpoints/step-00000032.pt", 32, 77)}),
            "");
  EXPECT_EQ(resume_disagreement({resumed, resume_digest("", 0, 5), resumed}),
            "rank 1 resumed nothing (a fresh start), model checksum 5; rank 0 resumed "
            "step-00000032.pt (step 32), model checksum 77");
  EXPECT_NE(resume_disagreement({resumed, resume_digest("step-00000032.pt", 32, 78)}), "");
}

}  // namespace
}  // namespace vit
