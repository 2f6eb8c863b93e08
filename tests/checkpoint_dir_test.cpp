// train/checkpoint_dir: file names, the LATEST marker, pruning by keep_last and keep_every.
#include "train/checkpoint_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

TEST(CheckpointDir, NamesFilesByStep) {
  const CheckpointDir checkpoints("runs/x/checkpoints");
  EXPECT_EQ(checkpoints.path_for(12), "runs/x/checkpoints/step-00000012.pt");
  testing::TempDir dir;
  EXPECT_TRUE(CheckpointDir(dir.path().string()).candidates().empty());
}

TEST(CheckpointDir, PruningKeepsTheNewestAndTheMilestones) {
  testing::TempDir dir;
  const CheckpointDir checkpoints(dir.path().string());
  for (int64_t step : {1, 2, 3, 4, 5, 6, 7}) {
    std::ofstream(checkpoints.path_for(step)) << "x";
    checkpoints.commit(step, /*keep_last=*/2, /*keep_every=*/3);
  }
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    left.push_back(entry.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"LATEST", "step-00000003.pt", "step-00000006.pt",
                                            "step-00000007.pt"}));
  EXPECT_EQ(checkpoints.candidates().front(), checkpoints.path_for(7));
}

// LATEST, not the highest step number, names the newest complete checkpoint: a file of a higher
// step that was never committed (a write cut short after its rename, a stray copy) comes after it.
TEST(CheckpointDir, LatestNamesTheNewestEvenWhenAHigherStepExists) {
  testing::TempDir dir;
  const CheckpointDir checkpoints(dir.path().string());
  for (int64_t step : {3, 5}) {
    std::ofstream(checkpoints.path_for(step)) << "x";
    checkpoints.commit(step, /*keep_last=*/3, /*keep_every=*/0);
  }
  std::ofstream(checkpoints.path_for(9)) << "x";  // never committed
  const auto candidates = checkpoints.candidates();
  ASSERT_EQ(candidates.size(), 3u);
  EXPECT_EQ(candidates[0], checkpoints.path_for(5));
  EXPECT_EQ(candidates[1], checkpoints.path_for(9));
  EXPECT_EQ(candidates[2], checkpoints.path_for(3));
}

}  // namespace
}  // namespace vit
