// train/run_log: when a step line is due, the window its figures come from, the console's
// cadence, and the epoch line, all without a trainer.
#include "train/run_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace vit {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The console as text, for the duration of a test.
class ConsoleCapture {
 public:
  ConsoleCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    sink->set_pattern("%v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~ConsoleCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

TEST(RunLog, AStepLineIsDueEveryLogEverySteps) {
  TrainConfig config;
  config.log.every_steps = "3";
  const RunLog every3(config, 1, 100, nullptr);
  std::vector<int64_t> due;
  for (int64_t step = 1; step <= 10; ++step) {
    if (every3.step_line_due(step)) due.push_back(step);
  }
  EXPECT_EQ(due, (std::vector<int64_t>{3, 6, 9}));
  config.log.every_steps = "0";
  EXPECT_FALSE(RunLog(config, 1, 100, nullptr).step_line_due(50));
  config.log.every_steps = "auto";  // about kAutoStepLinesPerEpoch lines an epoch
  const RunLog automatic(config, 1, 10 * kAutoStepLinesPerEpoch, nullptr);
  EXPECT_TRUE(automatic.step_line_due(10));
  EXPECT_FALSE(automatic.step_line_due(15));
}

TEST(RunLog, StepLinesCarryTheWindowSinceTheLastOne) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "metrics.jsonl").string();
  TrainConfig config;
  {
    MetricsWriter metrics(path);
    RunLog log(config, /*world_size=*/2, 100, &metrics);
    log.start_epoch(/*step=*/4, /*allreduce_s=*/1.0);
    log.count(16);
    log.count(16);
    log.step_line(/*epoch=*/0, /*step=*/6, "6/100", 0.25, 0.01, /*allreduce_s=*/1.5);
    log.count(16);
    log.step_line(0, 7, "7/100", 0.125, 0.01, 1.75);
  }
  const auto lines = testing::file_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(has(lines[0], R"("event":"step","step":6,"epoch":1,"loss":0.25,"lr":0.01)"))
      << lines[0];
  EXPECT_TRUE(has(lines[0], R"("allreduce_s":0.25,"world_size":2})")) << lines[0];  // 0.5 s / 2
  EXPECT_TRUE(has(lines[1], R"("allreduce_s":0.25,"world_size":2})")) << lines[1];  // the new one
}

// The run's ETA: the steps left at the pace of the window (here at least 0.1 s a step).
TEST(RunLog, AStepLineGivesTheRunsEtaWhenTheStepsLeftAreKnown) {
  TrainConfig config;
  config.log.console_every_s = 0;
  ConsoleCapture console;
  RunLog log(config, 1, 100, nullptr);
  log.start_epoch(0, 0.0);
  log.count(8);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  log.step_line(0, 1, "1/100", 1.0, 0.1, 0.0, /*steps_left=*/20);
  log.count(8);
  log.step_line(0, 2, "2/100", 1.0, 0.1, 0.0);
  const std::string text = console.text();
  EXPECT_TRUE(has(text, "img/s, run ETA 0:0")) << text;
  EXPECT_EQ(text.find("run ETA 0:00"), std::string::npos) << text;  // 20 steps of >= 0.1 s
  EXPECT_EQ(text.find("run ETA", text.find("step 2 ")), std::string::npos) << text;
}

TEST(RunLog, TheConsoleGetsAStepLineByTimeAndEveryEpochLine) {
  TrainConfig config;
  config.train.epochs = 3;
  config.log.console_every_s = 0.2;
  ConsoleCapture console;
  RunLog log(config, 1, 100, nullptr);
  log.start_epoch(0, 0.0);
  for (int64_t step = 1; step <= 3; ++step) {
    log.count(8);
    log.step_line(0, step, std::to_string(step) + "/100", 1.0, 0.1, 0.0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  log.count(8);
  log.step_line(0, 4, "4/100", 0.5, 0.1, 0.0);
  const std::string text = console.text();
  EXPECT_TRUE(has(text, "epoch 1/3 step 1 1/100 loss 1.0000")) << text;  // the first always
  EXPECT_FALSE(has(text, "step 2 ")) << text;
  EXPECT_FALSE(has(text, "step 3 ")) << text;
  EXPECT_TRUE(has(text, "epoch 1/3 step 4 4/100 loss 0.5000")) << text;
  EpochResult result;
  result.epoch = 1;
  result.epoch_s = 2;
  log.epoch_line(result, 0.1);
  EXPECT_TRUE(has(console.text(), "epoch 1/3 done: train_loss")) << console.text();
}

TEST(RunLog, TheEpochLineHasEveryFieldOfTheSchema) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "metrics.jsonl").string();
  TrainConfig config;
  {
    MetricsWriter metrics(path);  // refuses a line whose fields are not the schema's
    RunLog log(config, 1, 100, &metrics);
    EpochResult result;
    result.epoch = 2;
    result.step = 40;
    result.train_loss = 0.5;
    result.epoch_s = 4;
    result.images_per_s = 100;
    result.peak_memory_bytes = int64_t{3} << 20;
    log.epoch_line(result, 0.001);
    // With a validation split: its line first, then the epoch's.
    result.epoch = 3;
    result.step = 60;
    result.val = make_evaluation(torch::tensor({1, 2, 3, 4}), torch::tensor({1, 2, 0, 4}), 2.0, 10);
    log.epoch_line(result, 0.001);
  }
  const auto lines = testing::file_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(has(lines[0], R"("event":"epoch","epoch":2,"step":40,"train_loss":0.5)")) << lines[0];
  EXPECT_TRUE(has(lines[0], R"("lr":0.001,"elapsed_s":)")) << lines[0];
  EXPECT_TRUE(has(lines[0], R"("peak_mem_mb":3})")) << lines[0];
  EXPECT_EQ(lines[1], R"({"event":"val","epoch":3,"step":60,"val_loss":0.5,"val_acc":0.75,)"
                      R"("val_images":4,"world_size":1})");
  EXPECT_TRUE(has(lines[2], R"("event":"epoch","epoch":3,"step":60,)")) << lines[2];
}

}  // namespace
}  // namespace vit
