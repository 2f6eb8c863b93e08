// metrics.jsonl: appended, not truncated; lines beyond a step dropped; the same numbers to
// TensorBoard under the schema's tags; lines that disagree with the schema refused; a field added
// to the schema reaching both.
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
#include "train/metric_schema.h"
#include "util/error.h"

namespace vit {
namespace {

// A field with no unit or meaning.
MetricField field(const std::string& event, const std::string& key,
                  MetricType type = MetricType::kNumber, const std::string& tag = "") {
  MetricField f;
  f.event = event;
  f.key = key;
  f.type = type;
  f.tag = tag;
  return f;
}

// Lines of two fields, for the tests of the file's handling.
MetricSchema step_only() {
  return MetricSchema(
      {field("step", "event", MetricType::kText), field("step", "step", MetricType::kInteger)});
}

TEST(MetricsWriter, AppendsAcrossWriters) {
  testing::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  MetricsWriter(path, "", step_only()).write(JsonLine().add("event", "step").add("step", 1));
  MetricsWriter(path, "", step_only()).write(JsonLine().add("event", "step").add("step", 2));
  std::ifstream in(path);
  std::string a, b, c;
  std::getline(in, a);
  std::getline(in, b);
  EXPECT_EQ(a, R"({"event":"step","step":1})");
  EXPECT_EQ(b, R"({"event":"step","step":2})");
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
    MetricsWriter(path, "", step_only()).write(JsonLine().add("event", "step").add("step", 5));
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
  MetricsWriter(path, "", step_only()).write(JsonLine().add("event", "step").add("step", 1));
  EXPECT_EQ(read_all(path), "{\"event\":\"step\",\"step\":1}\n{\"event\":\"step\",\"step\":1}\n");
}

// The files of one writer's event folder `tb`, read back.
std::vector<EventFileContents> read_event_files(const std::string& tb) {
  std::vector<EventFileContents> files;
  for (const auto& entry : std::filesystem::directory_iterator(tb)) {
    files.push_back(read_event_file(entry.path().string()));
  }
  return files;
}

TEST(MetricsWriter, SameNumbersToTensorBoardByStep) {
  if (!tensorboard_built()) GTEST_SKIP() << "built without protobuf";
  testing::TempDir dir;
  const std::string tb = dir.file("tb");
  const MetricSchema schema(
      {field("step", "event", MetricType::kText), field("step", "step", MetricType::kInteger),
       field("step", "loss", MetricType::kNumber, "train/loss"),
       field("step", "world_size", MetricType::kInteger),
       field("epoch", "event", MetricType::kText), field("epoch", "step", MetricType::kInteger),
       field("epoch", "test_acc", MetricType::kNumber, "test/accuracy")});
  {
    MetricsWriter writer(dir.file("metrics.jsonl"), tb, schema);
    writer.write(
        JsonLine().add("event", "step").add("step", 4).add("loss", 1.0 / 3.0).add("world_size", 2));
    writer.write(JsonLine().add("event", "epoch").add("step", 8).add("test_acc", 0.75));
  }
  const std::vector<EventFileContents> files = read_event_files(tb);
  ASSERT_EQ(files.size(), 1u);
  const EventFileContents& contents = files[0];
  ASSERT_EQ(contents.events.size(), 3u);  // file_version, then one event per line with scalars
  EXPECT_EQ(contents.events[1].step, 4);
  ASSERT_EQ(contents.events[1].scalars.size(), 1u);
  EXPECT_EQ(contents.events[1].scalars[0].tag, "train/loss");
  EXPECT_EQ(contents.events[1].scalars[0].value, 0.333333f);  // what metrics.jsonl says
  EXPECT_EQ(contents.events[2].step, 8);
  EXPECT_EQ(contents.events[2].scalars.at(0).tag, "test/accuracy");
  EXPECT_EQ(contents.events[2].scalars.at(0).value, 0.75f);
}

// A new metric is one entry in the schema: the trainer's line carries it (here written by hand),
// metrics.jsonl holds it as written, TensorBoard gets it under the entry's tag, the scripts see it
// in --metric-schema's lines, and the comparison of runs leaves it out when it is a timing.
TEST(MetricSchema, ANewEntryReachesMetricsJsonlAndTensorBoard) {
  std::vector<MetricField> fields = metric_schema().fields();
  const MetricField grad_norm{"step", "grad_norm", MetricType::kNumber,     "train/grad_norm",
                              false,  "",          "the gradient's L2 norm"};
  const MetricField data_s{"step", "data_s", MetricType::kNumber,        "perf/data_s",
                           true,   "s",      "seconds gathering batches"};
  fields.insert(fields.begin() + 5, {grad_norm, data_s});  // after lr
  const MetricSchema schema(fields);
  EXPECT_EQ(schema.tag("step", "grad_norm"), "train/grad_norm");
  EXPECT_NE(schema.json_lines().find(R"({"event":"step","key":"grad_norm","type":"number",)"
                                     R"("tag":"train/grad_norm","timing":false,"unit":"",)"
                                     R"("meaning":"the gradient's L2 norm"})"
                                     "\n"),
            std::string::npos);

  testing::TempDir dir;
  const JsonLine line = JsonLine()
                            .add("event", "step")
                            .add("step", 3)
                            .add("epoch", 1)
                            .add("loss", 2.5)
                            .add("lr", 0.005)
                            .add("grad_norm", 0.125)
                            .add("data_s", 0.001)
                            .add("images_per_s", 1000.0)
                            .add("step_s", 0.064)
                            .add("allreduce_s", 0.002)
                            .add("world_size", 2);
  // The vit-train's own schema has no such fields: the line is refused, nothing written.
  {
    MetricsWriter writer(dir.file("old.jsonl"));
    EXPECT_THROW(writer.write(line), Error);
  }
  EXPECT_EQ(read_all(dir.file("old.jsonl")), "");
  {
    MetricsWriter writer(dir.file("metrics.jsonl"), dir.file("tb"), schema);
    writer.write(line);
  }
  EXPECT_EQ(read_all(dir.file("metrics.jsonl")), line.str() + "\n");
  EXPECT_EQ(schema.without_timings(line.str()),
            R"({"event":"step","step":3,"epoch":1,"loss":2.5,"lr":0.005,"grad_norm":0.125,)"
            R"("world_size":2})");
  if (!tensorboard_built()) return;
  const std::vector<EventFileContents> files = read_event_files(dir.file("tb"));
  ASSERT_EQ(files.size(), 1u);
  ASSERT_EQ(files[0].events.size(), 2u);
  std::vector<std::string> tags;
  for (const TbScalar& scalar : files[0].events[1].scalars) tags.push_back(scalar.tag);
  EXPECT_EQ(tags,
            (std::vector<std::string>{"train/loss", "train/lr", "train/grad_norm", "perf/data_s",
                                      "perf/images_per_s", "perf/step_s", "perf/allreduce_s"}));
  EXPECT_EQ(files[0].events[1].scalars[2].value, 0.125f);
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

}  // namespace
}  // namespace vit
