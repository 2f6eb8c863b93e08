// metrics.jsonl: appended, not truncated; lines beyond a step dropped; the same numbers to
// TensorBoard under the documented tags.
#include "train/metrics.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"
#include "train/event_file.h"
#include "util/error.h"

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

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Issue 29: a job killed in the middle of a line (kill -9 mid-write) left it torn, and the resumed
// run glued its first line onto it. On resume a torn last line is dropped: one cut short, or one
// whose bytes a crash left as zeros.
TEST(DropLinesAfterStep, DropsATornLastLine) {
  testing::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  const std::string whole =
      "{\"event\":\"step\",\"step\":3,\"loss\":1.5}\n"
      "{\"event\":\"epoch\",\"step\":4,\"test_acc\":0.5}\n";
  for (const std::string& torn :
       {std::string("{\"event\":\"step\",\"step\":5,\"lo"), std::string("{\"event\":\"st"),
        std::string("{\"event\":\"step\",\"step\":2,\"loss\":1.5}"),  // its newline missing
        std::string(12, '\0') + "\n", std::string("{\"event\":\"step\",\"st\n")}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole << torn;
    drop_lines_after_step(path, 4);
    EXPECT_EQ(read_all(path), whole) << torn;
    MetricsWriter(path).write(JsonLine().add("event", "step").add("step", 5));
    EXPECT_EQ(read_all(path), whole + "{\"event\":\"step\",\"step\":5}\n") << torn;
  }
  // Whole lines are kept as they are; those beyond the step go.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << whole;
  drop_lines_after_step(path, 4);
  EXPECT_EQ(read_all(path), whole);
  drop_lines_after_step(path, 3);
  EXPECT_EQ(read_all(path), "{\"event\":\"step\",\"step\":3,\"loss\":1.5}\n");
}

// A run that starts fresh where a job was killed before its first checkpoint (--resume auto finds
// none, so no lines are dropped by step) appends to the file too: the writer drops the torn line.
TEST(MetricsWriter, DropsATornLastLineBeforeAppending) {
  testing::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  std::ofstream(path, std::ios::binary) << "{\"event\":\"step\",\"step\":1}\n{\"event\":\"st";
  MetricsWriter(path).write(JsonLine().add("event", "step").add("step", 1));
  EXPECT_EQ(read_all(path), "{\"event\":\"step\",\"step\":1}\n{\"event\":\"step\",\"step\":1}\n");
}

TEST(TensorboardTag, EveryScalarOfBothLineKindsAndNoClash) {
  EXPECT_EQ(tensorboard_tag("step", "loss"), "train/loss");
  EXPECT_EQ(tensorboard_tag("step", "lr"), "train/lr");
  EXPECT_EQ(tensorboard_tag("step", "images_per_s"), "perf/images_per_s");
  EXPECT_EQ(tensorboard_tag("epoch", "test_acc"), "test/accuracy");
  EXPECT_EQ(tensorboard_tag("epoch", "test_loss"), "test/loss");
  EXPECT_EQ(tensorboard_tag("epoch", "lr"), "train/epoch_lr");
  EXPECT_EQ(tensorboard_tag("epoch", "images_per_s"), "perf/epoch_images_per_s");
  for (const char* key : {"step", "epoch", "world_size", "elapsed_s"}) {
    EXPECT_EQ(tensorboard_tag("step", key), "") << key;
    EXPECT_EQ(tensorboard_tag("epoch", key), "") << key;
  }
  EXPECT_EQ(tensorboard_tag("other", "loss"), "");
}

TEST(MetricsWriter, SameNumbersToTensorBoardByStep) {
  if (!tensorboard_built()) GTEST_SKIP() << "built without protobuf";
  testing::TempDir dir;
  const std::string tb = dir.file("tb");
  {
    MetricsWriter writer(dir.file("metrics.jsonl"), tb);
    writer.write(
        JsonLine().add("event", "step").add("step", 4).add("loss", 1.0 / 3.0).add("world_size", 2));
    writer.write(JsonLine().add("event", "epoch").add("step", 8).add("test_acc", 0.75));
    writer.write(JsonLine().add("event", "other").add("step", 9).add("x", 1.0));  // no tags
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(tb)) {
    files.push_back(entry.path().string());
  }
  ASSERT_EQ(files.size(), 1u);
  const EventFileContents contents = read_event_file(files[0]);
  ASSERT_EQ(contents.events.size(), 3u);  // file_version, then one event per line with scalars
  EXPECT_EQ(contents.events[1].step, 4);
  ASSERT_EQ(contents.events[1].scalars.size(), 1u);
  EXPECT_EQ(contents.events[1].scalars[0].tag, "train/loss");
  EXPECT_EQ(contents.events[1].scalars[0].value, 0.333333f);  // what metrics.jsonl says
  EXPECT_EQ(contents.events[2].step, 8);
  EXPECT_EQ(contents.events[2].scalars.at(0).tag, "test/accuracy");
  EXPECT_EQ(contents.events[2].scalars.at(0).value, 0.75f);
}

TEST(MetricsWriter, UnwritableTensorBoardFolderNamesIt) {
  if (!tensorboard_built()) GTEST_SKIP() << "built without protobuf";
  testing::TempDir dir;
  std::ofstream(dir.file("tb")) << "a file where the folder goes";
  try {
    MetricsWriter writer(dir.file("metrics.jsonl"), dir.file("tb"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir.file("tb") + ": cannot create directory", 0), 0u)
        << e.what();
  }
}

}  // namespace
}  // namespace vit
