// util/log: rank 0 logs at the configured level, other ranks warnings and up with their rank;
// the log file gets what the console gets; a bad level or file is an error naming it.
#include "util/log.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Log, RankZeroAtItsLevelOtherRanksWarningsWithTheirRank) {
  testing::TempDir dir;
  setup_logging({"info", 0, dir.file("zero.log")});
  spdlog::debug("hidden debug");
  spdlog::info("shown info");
  setup_logging({"debug", 3, dir.file("three.log")});
  spdlog::info("rank 3 info");
  spdlog::warn("rank 3 warning");
  setup_logging({"info", 0, ""});  // closes the files
  const std::string zero = read_text(dir.file("zero.log"));
  EXPECT_EQ(zero.find("hidden debug"), std::string::npos) << zero;
  EXPECT_NE(zero.find("[info] shown info"), std::string::npos) << zero;
  const std::string three = read_text(dir.file("three.log"));
  EXPECT_EQ(three.find("rank 3 info"), std::string::npos) << three;
  EXPECT_NE(three.find("[warning] [rank 3] rank 3 warning"), std::string::npos) << three;
}

TEST(Log, BadLevelOrFileIsAnErrorNamingIt) {
  testing::TempDir dir;
  EXPECT_TRUE(is_log_level("warn"));
  EXPECT_FALSE(is_log_level("loud"));
  try {
    setup_logging({"loud", 0, ""});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'loud'"), std::string::npos) << e.what();
  }
  std::ofstream(dir.file("file")) << "x";  // a file where a folder should be (spdlog makes folders)
  const std::string bad = dir.file("file/train.log");
  try {
    setup_logging({"info", 0, bad});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vit
