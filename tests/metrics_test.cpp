// metrics.jsonl: appended, not truncated; lines beyond a step dropped.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>

#include "test_util.h"
#include "train/metrics.h"

namespace vit {
namespace {

TEST(MetricsWriter, AppendsAcrossWriters) {
  testing::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  MetricsWriter(path).write(JsonLine().add("n", 1));
  MetricsWriter(path).write(JsonLine().add("n", 2));
  std::ifstream in(path);
  std::string a, b, c;
  std::getline(in, a);
  std::getline(in, b);
  EXPECT_EQ(a, R"({"n":1})");
  EXPECT_EQ(b, R"({"n":2})");
  EXPECT_FALSE(std::getline(in, c));
}

}  // namespace
}  // namespace vit
