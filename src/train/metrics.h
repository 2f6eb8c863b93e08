// metrics.jsonl: one JSON object per line, appended and flushed as each event happens, so that a
// crash loses at most the line being written and tools can follow the file while a job runs. The
// same numbers go to TensorBoard event files in RUN_DIR/tb/ (builds with protobuf), by step.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "train/metric_schema.h"
#include "util/json.h"  // JsonLine

namespace vit {

class EventFileWriter;

// Removes the lines of `path` whose "step" is beyond `step` (atomically), so that a run resumed
// from the checkpoint of `step` does not write lines that are already there twice; and a torn
// last line (no newline at its end, or not a JSON object), with a warning.
void drop_lines_after_step(const std::string& path, int64_t step);

// The same for the TensorBoard event files of `tb_dir` (logs each file it rewrites); nothing in a
// build without TensorBoard event files.
void drop_tensorboard_after_step(const std::string& tb_dir, int64_t step);

// Whether this build writes TensorBoard event files (CMake found protobuf: VIT_TENSORBOARD).
bool tensorboard_built();

// The TensorBoard tag of field `key` of a metrics line of kind `event` ("step" or "epoch"), or
// "" for fields that are no scalar to plot: metric_schema()'s (train/metric_schema.h).
std::string tensorboard_tag(const std::string& event, const std::string& key);

class MetricsWriter {
 public:
  // Opens `path` for appending (first dropping a torn last line, as drop_lines_after_step does: a
  // job killed before its first checkpoint leaves one too), and when `tb_dir` is given (and the
  // build has them) a new event file in that folder; throws vit::Error naming the file or folder
  // when that fails. The lines must have the fields of `schema`, which also names their tags.
  explicit MetricsWriter(const std::string& path, const std::string& tb_dir = "",
                         MetricSchema schema = metric_schema());
  ~MetricsWriter();
  // Appends `line`; its numbers with a tag go to the event file at its "step". Throws vit::Error
  // (writing nothing) when its keys are not those the schema declares for its "event", in order.
  void write(const JsonLine& line);
  // The run's hyperparameters (key, value as text) to TensorBoard's HPARAMS dashboard, when this
  // writer has an event file (EventFileWriter::write_hparams).
  void write_hparams(const std::vector<std::pair<std::string, std::string>>& hparams);

 private:
  std::string path_;
  MetricSchema schema_;
  std::ofstream out_;
  std::unique_ptr<EventFileWriter> events_;
};

}  // namespace vit
