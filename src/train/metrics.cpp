#include "train/metrics.h"

#include <cmath>
#include <cstdio>
#include <regex>

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

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  check_output_path(path);
  out_.open(path, std::ios::app);
  VIT_CHECK(out_, path, ": cannot open for appending");
}

void MetricsWriter::write(const JsonLine& line) {
  out_ << line.str() << '\n';
  out_.flush();
  VIT_CHECK(out_, path_, ": write failed");
}

}  // namespace vit
