#include "train/metrics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <utility>
#include <vector>

#include "train/event_file.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace vit {

namespace {

// The lines of `path` (none when it does not exist), without a torn last one: a job killed in the
// middle of a line leaves it without its newline, or cut short and not a JSON object (a crash can
// also leave zeros). Sets `torn` when there was one (and warns).
std::vector<std::string> whole_lines(const std::string& path, bool& torn) {
  torn = false;
  std::vector<std::string> lines;
  std::ifstream in(path, std::ios::binary);
  if (!in) return lines;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  VIT_CHECK(!in.bad(), path, ": read failed");
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  if (!lines.empty() && (text.back() != '\n' || !is_json_object(lines.back()))) {
    spdlog::warn("{}: dropped its last line, torn by a write that did not finish ({} bytes)", path,
                 lines.back().size());
    lines.pop_back();
    torn = true;
  }
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// Rewrites `path` without a torn last line, if it has one: the next line appended would be glued
// onto it (as the event files drop a torn record).
void drop_torn_last_line(const std::string& path) {
  bool torn = false;
  const std::vector<std::string> lines = whole_lines(path, torn);
  if (torn) write_text_atomically(path, joined(lines));
}

}  // namespace

void drop_lines_after_step(const std::string& path, int64_t step) {
  bool dropped = false;
  std::vector<std::string> lines = whole_lines(path, dropped);
  static const std::regex step_field(R"("step":(\d+))");
  std::vector<std::string> kept;
  for (std::string& line : lines) {
    std::smatch match;
    if (std::regex_search(line, match, step_field) && std::stoll(match[1]) > step) {
      dropped = true;
    } else {
      kept.push_back(std::move(line));
    }
  }
  if (dropped) write_text_atomically(path, joined(kept));
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
  return metric_schema().tag(event, key);
}

MetricsWriter::MetricsWriter(const std::string& path, const std::string& tb_dir,
                             MetricSchema schema)
    : path_(path), schema_(std::move(schema)) {
  check_output_path(path);
  drop_torn_last_line(path);  // (a run that starts fresh in the folder of a killed one, too)
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

void MetricsWriter::write_hparams(const std::vector<std::pair<std::string, std::string>>& hparams) {
#ifdef VIT_WITH_TENSORBOARD
  if (events_) events_->write_hparams(hparams);
#else
  (void)hparams;
#endif
}

void MetricsWriter::write(const JsonLine& line) {
  const std::string event = line.text("event");
  schema_.check_line(event, line.keys());
  out_ << line.str() << '\n';
  out_.flush();
  VIT_CHECK(out_, path_, ": write failed");
#ifdef VIT_WITH_TENSORBOARD
  if (!events_) return;
  std::vector<TbScalar> scalars;
  bool has_step = false;
  int64_t step = 0;
  for (const auto& [key, value] : line.numbers()) {
    if (key == "step") {
      has_step = true;
      step = static_cast<int64_t>(value);
    }
    const std::string tag = schema_.tag(event, key);
    if (!tag.empty()) scalars.push_back({tag, static_cast<float>(value)});
  }
  if (has_step && !scalars.empty()) events_->write_scalars(step, scalars);
#endif
}

}  // namespace vit
