// The metric schema: the declared lines checked field by field, ambiguous declarations refused,
// the JSON lines the scripts read.
#include "train/metric_schema.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

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

// The trainer's lines as the schema declares them; a field missing, extra, out of order or of an
// unknown kind of line is refused, naming it, before anything is written.
TEST(MetricSchema, LinesMustHaveTheDeclaredFieldsInOrder) {
  const MetricSchema& schema = metric_schema();
  const std::vector<std::string> step = {"event",        "step",   "epoch",       "loss",      "lr",
                                         "images_per_s", "step_s", "allreduce_s", "world_size"};
  const std::vector<std::string> epoch = {"event",       "epoch",      "step",         "train_loss",
                                          "test_loss",   "test_acc",   "images_per_s", "epoch_s",
                                          "allreduce_s", "world_size", "lr",           "elapsed_s",
                                          "gflop_per_s", "peak_mem_mb"};
  EXPECT_NO_THROW(schema.check_line("step", step));
  EXPECT_NO_THROW(schema.check_line("epoch", epoch));
  const auto message = [&](const std::string& event, const std::vector<std::string>& keys) {
    try {
      schema.check_line(event, keys);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto missing = step;
  missing.pop_back();
  EXPECT_EQ(message("step", missing),
            "metrics line of event \"step\" lacks world_size (src/train/metric_schema.cpp "
            "declares it)");
  auto extra = step;
  extra.push_back("grad_norm");
  EXPECT_EQ(message("step", extra),
            "metrics line of event \"step\" has grad_norm, which src/train/metric_schema.cpp "
            "does not declare");
  auto swapped = step;
  std::swap(swapped[3], swapped[4]);
  EXPECT_EQ(message("step", swapped),
            "metrics line of event \"step\" has lr where src/train/metric_schema.cpp declares "
            "loss");
  EXPECT_EQ(message("valid", {"event"}),
            "metrics line of event \"valid\": no such event in src/train/metric_schema.cpp");
}

TEST(MetricSchema, RefusesAmbiguousDeclarations) {
  const MetricField event = field("step", "event", MetricType::kText);
  EXPECT_THROW(MetricSchema({field("step", "step", MetricType::kInteger)}),
               Error);  // no "event" first
  EXPECT_THROW(MetricSchema({event, field("step", "loss"), field("step", "loss")}), Error);
  EXPECT_THROW(MetricSchema({event, field("step", "loss", MetricType::kNumber, "train/loss"),
                             field("step", "lr", MetricType::kNumber, "train/loss")}),
               Error);
}

// What the scripts read (vit-train --metric-schema): one object per field, in order.
TEST(MetricSchema, JsonLinesOneObjectPerField) {
  const std::string text = metric_schema().json_lines();
  EXPECT_EQ(text.substr(0, text.find('\n')),
            R"({"event":"step","key":"event","type":"text","tag":"","timing":false,"unit":"",)"
            R"("meaning":"the kind of line: step"})");
  size_t lines = 0;
  for (size_t at = 0; (at = text.find('\n', at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, metric_schema().fields().size());
  EXPECT_EQ(
      metric_schema().without_timings(
          R"({"event":"epoch","epoch":1,"step":235,"train_loss":1.20202,"test_loss":0.792102,)"
          R"("test_acc":0.7098,"images_per_s":13025.2,"epoch_s":4.60645,"allreduce_s":0.529785,)"
          R"("world_size":2,"lr":0.005,"elapsed_s":5.57145})"),
      R"({"event":"epoch","epoch":1,"step":235,"train_loss":1.20202,"test_loss":0.792102,)"
      R"("test_acc":0.7098,"world_size":2,"lr":0.005})");
}

}  // namespace
}  // namespace vit
