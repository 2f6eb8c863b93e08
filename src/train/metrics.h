// metrics.jsonl: one JSON object per line, appended and flushed as each event happens, so that a
// crash loses at most the line being written and tools can follow the file while a job runs.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "util/json.h"  // JsonLine

namespace vit {

// Removes the lines of `path` whose "step" is beyond `step` (atomically), so that a run resumed
// from the checkpoint of `step` does not write lines that are already there twice.
void drop_lines_after_step(const std::string& path, int64_t step);

class MetricsWriter {
 public:
  // Opens `path` for appending; throws vit::Error naming it when that fails.
  explicit MetricsWriter(const std::string& path);
  void write(const JsonLine& line);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace vit
