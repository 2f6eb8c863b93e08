#include "eval/eval_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "util/json.h"

namespace vit {
namespace {

std::string percent(double fraction) {
  if (!std::isfinite(fraction)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f%%", 100.0 * fraction);
  return buffer;
}

std::string padded(const std::string& text, int width) {
  return text.size() >= static_cast<size_t>(width)
             ? text
             : std::string(static_cast<size_t>(width) - text.size(), ' ') + text;
}

std::string describe_file(const ReportContext& context) {
  const StoredRun& run = context.stored;
  if (!run.checkpoint) return context.file + " (model file)";
  std::string out = context.file + " (checkpoint at step " + std::to_string(run.step) + ", " +
                    std::to_string(run.epoch) + " epoch(s) done";
  if (run.epoch_position > 0) {
    out += ", " + std::to_string(run.epoch_position) + " samples into the next";
  }
  return out + ")";
}

}  // namespace

std::string text_report(const Evaluation& e, const ReportContext& context) {
  std::ostringstream out;
  out << "model     " << describe_file(context) << "\n"
      << "data      " << context.dataset << " test split from " << context.data_dir << ": "
      << e.count() << " images (" << context.data_source << ")\n"
      << "ranks     " << context.world_size << "\n"
      << "accuracy  " << percent(e.accuracy()) << " (" << e.correct() << " of " << e.count()
      << ")\n";
  char loss[32];
  std::snprintf(loss, sizeof loss, "%.6f", e.loss());
  out << "loss      " << loss << " (mean cross-entropy)\n\n";

  const auto count = e.class_count(), correct = e.class_correct();
  const auto accuracy = e.class_accuracy();
  out << "class  images  correct  accuracy\n";
  for (size_t c = 0; c < count.size(); ++c) {
    out << padded(std::to_string(c), 5) << padded(std::to_string(count[c]), 8)
        << padded(std::to_string(correct[c]), 9) << padded(percent(accuracy[c]), 10) << "\n";
  }

  const int64_t classes = e.confusion.size(0);
  int width = 4;
  for (const int64_t n : count) {
    width = std::max(width, static_cast<int>(std::to_string(n).size()) + 2);
  }
  out << "\nconfusion matrix (rows: true class, columns: predicted class)\n" << padded("", 5);
  for (int64_t p = 0; p < classes; ++p) out << padded(std::to_string(p), width);
  out << "\n";
  const auto m = e.confusion.accessor<int64_t, 2>();
  for (int64_t t = 0; t < classes; ++t) {
    out << padded(std::to_string(t), 5);
    for (int64_t p = 0; p < classes; ++p) out << padded(std::to_string(m[t][p]), width);
    out << "\n";
  }

  const int64_t wrong = e.count() - e.correct();
  out << "\nmisclassified  " << wrong << " image(s)";
  if (!context.png.empty()) {
    out << "; the first " << context.png_images << " drawn in " << context.png
        << " (true class green, predicted red)";
  }
  out << "\n";
  return out.str();
}

std::string json_report(const Evaluation& e, const ReportContext& context) {
  const StoredRun& run = context.stored;
  std::ostringstream out;
  out << "{\"file\":" << json_quote(context.file)
      << ",\"kind\":" << (run.checkpoint ? "\"checkpoint\"" : "\"model\"")
      << ",\"step\":" << (run.checkpoint ? std::to_string(run.step) : "null")
      << ",\"epoch\":" << (run.checkpoint ? std::to_string(run.epoch) : "null")
      << ",\"dataset\":" << json_quote(context.dataset)
      << ",\"data_dir\":" << json_quote(context.data_dir)
      << ",\"data_source\":" << json_quote(context.data_source) << ",\"split\":\"test\""
      << ",\"world_size\":" << context.world_size << ",\"images\":" << e.count()
      << ",\"correct\":" << e.correct() << ",\"accuracy\":" << json_number(e.accuracy())
      << ",\"loss\":" << json_number(e.loss());

  const auto count = e.class_count(), correct = e.class_correct();
  const auto accuracy = e.class_accuracy();
  out << ",\"classes\":[";
  for (size_t c = 0; c < count.size(); ++c) {
    out << (c ? "," : "") << "{\"class\":" << c << ",\"images\":" << count[c]
        << ",\"correct\":" << correct[c] << ",\"accuracy\":" << json_number(accuracy[c]) << "}";
  }
  out << "],\"confusion\":[";
  const int64_t classes = e.confusion.size(0);
  const auto m = e.confusion.accessor<int64_t, 2>();
  for (int64_t t = 0; t < classes; ++t) {
    out << (t ? ",[" : "[");
    for (int64_t p = 0; p < classes; ++p) out << (p ? "," : "") << m[t][p];
    out << "]";
  }
  out << "],\"misclassified\":" << e.count() - e.correct()
      << ",\"png\":" << (context.png.empty() ? "null" : json_quote(context.png))
      << ",\"png_images\":" << context.png_images << "}\n";
  return out.str();
}

}  // namespace vit
