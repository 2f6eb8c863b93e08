// train/run_dir: the folder, checkpoints/ and a config.ini that parses back to the same config.
#include "train/run_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <memory>
#include <sstream>

#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

TEST(RunDir, PathsOfTheContract) {
  const RunDir run{"runs/x"};
  EXPECT_EQ(run.config_ini(), "runs/x/config.ini");
  EXPECT_EQ(run.metrics(), "runs/x/metrics.jsonl");
  EXPECT_EQ(run.log(), "runs/x/train.log");
  EXPECT_EQ(run.checkpoints(), "runs/x/checkpoints");
  EXPECT_EQ(run.final_model(), "runs/x/checkpoints/final.pt");
}

TEST(RunDir, AFreshRunWithoutAFolderIsNamedByItsConfigAndTime) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  EXPECT_EQ(default_run_dir("configs/mnist-small.ini", now),
            std::string("runs/mnist-small-") + stamp);
  EXPECT_EQ(default_run_dir("", now, "out"), std::string("out/run-") + stamp);
}

TEST(RunDir, LatestPointsAtTheNewestRunButNeverReplacesAFolder) {
  testing::TempDir dir;
  const std::string a = dir.file("runs/a"), b = dir.file("runs/b");
  fs::create_directories(a);
  fs::create_directories(b);
  std::ofstream(b + "/marker") << "b";
  EXPECT_TRUE(point_latest_at(a));
  EXPECT_EQ(fs::read_symlink(dir.file("runs/latest")), fs::path("a"));
  EXPECT_TRUE(point_latest_at(b));
  EXPECT_EQ(fs::read_symlink(dir.file("runs/latest")), fs::path("b"));
  EXPECT_TRUE(fs::exists(dir.file("runs/latest/marker")));  // relative: it resolves
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.file("runs")), fs::directory_iterator()), 3)
      << "a temporary link was left behind";
  fs::create_directories(dir.file("old/latest"));  // a run of an earlier version
  fs::create_directories(dir.file("old/c"));
  EXPECT_FALSE(point_latest_at(dir.file("old/c")));
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dir.file("old/latest"))));
}

TEST(RunDir, PrepareMakesTheFoldersAndAConfigIniThatReadsBack) {
  testing::TempDir dir;
  TrainConfig config;
  config.run_dir = dir.file("a/b/run");
  config.train.epochs = 7;
  config.model.hidden_d = 16;
  const RunDir run = prepare_run_dir(config);
  EXPECT_TRUE(fs::is_directory(run.checkpoints()));
  std::ifstream in(run.config_ini());
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), to_ini(config));
  EXPECT_NE(text.str().find("epochs = 7"), std::string::npos);
  EXPECT_NE(text.str().find("hidden_d = 16"), std::string::npos);
}

// Two jobs on one run directory: the second stops with the holder's pid and host, and gets the
// directory once the first is gone. Temporary files of an unfinished write are cleared then.
TEST(RunDir, OneJobAtATimeAndItsLeftoversCleared) {
  testing::TempDir dir;
  TrainConfig config;
  config.run_dir = dir.file("run");
  auto first = std::make_unique<RunDir>(prepare_run_dir(config));
  try {
    prepare_run_dir(config);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find(config.run_dir + ": in use by another vit-train job (pid " +
                        std::to_string(::getpid()) + " on host "),
              std::string::npos)
        << text;
  }
  std::ofstream(first->checkpoints() + "/.step-00000004.pt.tmp.123") << "half";
  std::ofstream(first->root + "/.config.ini.tmp.9") << "half";
  std::ofstream(first->checkpoints() + "/step-00000002.pt") << "kept";
  first.reset();  // the job ends: its lock goes
  const RunDir second = prepare_run_dir(config);
  EXPECT_FALSE(fs::exists(second.checkpoints() + "/.step-00000004.pt.tmp.123"));
  EXPECT_FALSE(fs::exists(second.root + "/.config.ini.tmp.9"));
  EXPECT_TRUE(fs::exists(second.checkpoints() + "/step-00000002.pt"));
  EXPECT_TRUE(fs::exists(second.root + "/.lock"));
}

TEST(RunDir, AFolderThatCannotBeMadeIsAnErrorNamingIt) {
  testing::TempDir dir;
  std::ofstream(dir.file("file")) << "x";  // a file where a folder should go
  TrainConfig config;
  config.run_dir = dir.file("file/run");
  try {
    prepare_run_dir(config);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("file/run/checkpoints")), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vit
