#include "train/metrics.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <regex>
#include <vector>

#include "train/event_file.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace vit {

void drop_lines_after_step(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  static const std::regex step_field(R"("step":(\d+))");
  std::string kept, line;
  bool dropped = false;
  while (std::getline(in, line)) {
    std::smatch match;
    if (std::regex_search(line, match, step_field) && std::stoll(match[1]) > step) {
      dropped = true;
    } else {
      kept += line + "\n";
    }
  }
  if (dropped) write_text_atomically(path, kept);
}

void drop_tensorboard_after_step(const std::string& tb_dir, int64_t step) {
#ifdef VIT_WITH_TENSORBOARD
  for (const std::string& change : drop_events_after_step(tb_dir, step)) {
    spdlog::info("{}", change);
  }
#else
  (void)tb_dir, (void)step;
#endif
}

bool tensorboard_built() {
#ifdef VIT_WITH_TENSORBOARD
  return true;
#else
  return false;
#endif
}

std::string tensorboard_tag(const std::string& event, const std::string& key) {
  struct Tag {
    const char* event;
    const char* key;
    const char* tag;
  };
  // Grouped by what a reader compares: training, test, and the speed of the run.
  static const Tag kTags[] = {
      {"step", "loss", "train/loss"},
      {"step", "lr", "train/lr"},
      {"step", "images_per_s", "perf/images_per_s"},
      {"step", "step_s", "perf/step_s"},
      {"step", "allreduce_s", "perf/allreduce_s"},
      {"epoch", "train_loss", "train/epoch_loss"},
      {"epoch", "test_loss", "test/loss"},
      {"epoch", "test_acc", "test/accuracy"},
      {"epoch", "lr", "train/epoch_lr"},
      {"epoch", "images_per_s", "perf/epoch_images_per_s"},
      {"epoch", "epoch_s", "perf/epoch_s"},
      {"epoch", "allreduce_s", "perf/epoch_allreduce_s"},
  };
  for (const Tag& tag : kTags) {
    if (event == tag.event && key == tag.key) return tag.tag;
  }
  return "";
}

MetricsWriter::MetricsWriter(const std::string& path, const std::string& tb_dir) : path_(path) {
  check_output_path(path);
  out_.open(path, std::ios::app);
  VIT_CHECK(out_, path, ": cannot open for appending");
  if (tb_dir.empty()) return;
#ifdef VIT_WITH_TENSORBOARD
  events_ = std::make_unique<EventFileWriter>(tb_dir);
#else
  spdlog::info("no TensorBoard event files in {}: this build has no protobuf", tb_dir);
#endif
}

MetricsWriter::~MetricsWriter() = default;

void MetricsWriter::write(const JsonLine& line) {
  out_ << line.str() << '\n';
  out_.flush();
  VIT_CHECK(out_, path_, ": write failed");
#ifdef VIT_WITH_TENSORBOARD
  if (!events_) return;
  const std::string event = line.text("event");
  std::vector<TbScalar> scalars;
  bool has_step = false;
  int64_t step = 0;
  for (const auto& [key, value] : line.numbers()) {
    if (key == "step") {
      has_step = true;
      step = static_cast<int64_t>(value);
    }
    const std::string tag = tensorboard_tag(event, key);
    if (!tag.empty()) scalars.push_back({tag, static_cast<float>(value)});
  }
  if (has_step && !scalars.empty()) events_->write_scalars(step, scalars);
#endif
}

}  // namespace vit
