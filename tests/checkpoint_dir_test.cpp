// store/checkpoint_dir: file names, the LATEST marker, pruning by keep_last and keep_every.
#include "store/checkpoint_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "test_util.h"
#include "util/log.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

TEST(CheckpointDir, NamesFilesByStep) {
  const CheckpointDir checkpoints("runs/x/checkpoints");
  EXPECT_EQ(checkpoints.path_for(12), "runs/x/checkpoints/step-00000012.pt");
  testing::TempDir dir;
  EXPECT_TRUE(CheckpointDir(dir.path().string()).candidates().empty());
}

TEST(CheckpointDir, APeriodicCheckpointIsDueEveryNStepsButNotAtAnEpochsEnd) {
  EXPECT_TRUE(periodic_checkpoint_due(/*every=*/4, /*step=*/8, /*last_of_epoch=*/false));
  EXPECT_FALSE(periodic_checkpoint_due(4, 9, false));
  EXPECT_FALSE(periodic_checkpoint_due(4, 8, true));  // the epoch's end writes one anyway
  EXPECT_FALSE(periodic_checkpoint_due(0, 8, false));  // 0: only at epoch ends and on signals
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

// LATEST may only name a checkpoint file of this folder: a path elsewhere (another run's
// checkpoint, a subfolder, an absolute path) is ignored with a warning naming it, and the step
// files of this folder are used instead.
TEST(CheckpointDir, LatestNamingAnotherFolderIsIgnoredWithAWarning) {
  testing::TempDir dir;
  const fs::path mine = dir.path() / "run" / "checkpoints";
  const fs::path other = dir.path() / "other-run" / "checkpoints";
  fs::create_directories(mine / "sub");
  fs::create_directories(other);
  const CheckpointDir checkpoints(mine.string());
  std::ofstream(checkpoints.path_for(3)) << "x";
  std::ofstream(CheckpointDir(other.string()).path_for(10)) << "x";
  std::ofstream(mine / "sub" / "step-00000010.pt") << "x";
  std::ofstream(mine / "step-00000010.pt.bak") << "x";
  for (const std::string& latest : std::vector<std::string>{
           "../../other-run/checkpoints/step-00000010.pt", (other / "step-00000010.pt").string(),
           "sub/step-00000010.pt", "step-00000010.pt.bak", "./step-00000003.pt", ".", ".."}) {
    SCOPED_TRACE(latest);
    std::ofstream(mine / "LATEST") << latest << "\n";
    setup_logging({"info", 0, dir.file("log.txt")});
    const auto candidates = checkpoints.candidates();
    setup_logging({"info", 0, ""});  // closes the file
    EXPECT_EQ(candidates, std::vector<std::string>{checkpoints.path_for(3)});
    std::ifstream log(dir.file("log.txt"));
    std::stringstream text;
    text << log.rdbuf();
    EXPECT_NE(text.str().find("[warning]"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find((mine / "LATEST").string()), std::string::npos) << text.str();
    EXPECT_NE(text.str().find(latest), std::string::npos) << text.str();
    fs::remove(dir.file("log.txt"));
  }
}

// A LATEST that is a FIFO, a device or a huge file would block or read without end: it is
// ignored with a warning naming it, and the step files are used. So are step numbers beyond any
// run's (std::stoll would throw, naming nothing).
TEST(CheckpointDir, ASpecialOrHugeLatestIsIgnoredWithoutReadingIt) {
  testing::TempDir dir;
  const CheckpointDir checkpoints(dir.path().string());
  std::ofstream(checkpoints.path_for(3)) << "x";
  std::ofstream(dir.file("step-99999999999999999999.pt")) << "x";
  const std::string latest = dir.file("LATEST");
  auto make_fifo = [&] { ASSERT_EQ(::mkfifo(latest.c_str(), 0600), 0); };
  auto make_zero = [&] { fs::create_symlink("/dev/zero", latest); };
  auto make_huge = [&] { std::ofstream(latest) << std::string(5000, 'x'); };
  for (const auto& make : std::vector<std::function<void()>>{make_fifo, make_zero, make_huge}) {
    make();
    EXPECT_EQ(checkpoints.candidates(), std::vector<std::string>{checkpoints.path_for(3)});
    fs::remove(latest);
  }
}

}  // namespace
}  // namespace vit
