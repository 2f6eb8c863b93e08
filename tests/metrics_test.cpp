// metrics.jsonl lines: valid JSON, escaped strings, appended not truncated.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>

#include "test_util.h"
#include "train/metrics.h"

namespace vit {
namespace {

TEST(JsonLine, FieldsInOrder) {
  const std::string line = JsonLine().add("event", "epoch").add("epoch", 2).add("acc", 0.5).str();
  EXPECT_EQ(line, R"({"event":"epoch","epoch":2,"acc":0.5})");
}

TEST(JsonLine, EscapesAndNonFinite) {
  const std::string line =
      JsonLine().add("s", "a\"b\\c\nd\x01").add("nan", std::numeric_limits<double>::quiet_NaN()).str();
  EXPECT_EQ(line, R"({"s":"a\"b\\c\nd\u0001","nan":null})");
}

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
