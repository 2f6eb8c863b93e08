// EvalConfig: what vit-eval runs with, filled once and then passed as const&. The model shape and
// the data set come from the checkpoint or model file itself (its stored config keys); the command
// line may override them (--data.dir, --data.dataset, ...). Model keys that differ from those
// stored give the checkpoint's "another shape" error listing them.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "config/train_config.h"
#include "store/checkpoint.h"

namespace vit {

struct EvalConfig {
  std::string checkpoint;    // --checkpoint's file: a step-N.pt or final.pt (a run dir resolved)
  bool json = false;         // --json: one JSON object instead of the text report
  std::string images;        // --images: PNG grid of misclassified test images ("" for none)
  int64_t max_images = 100;  // --max-images: at most this many images in that grid
  int64_t columns = 10;      // --columns: images per row of the grid
  std::string export_path;   // --export: the model as safetensors ("" for none)
  // The run's keys: model.*, data.dataset, data.dir, data.test_limit, train.eval_batch_size and
  // train.attention (the model's kernel) from the file, then the command line's overrides; the machine's keys (train.threads,
  // dist.device, dist.backend) from the command line alone. Validated.
  TrainConfig run;
  StoredRun stored;  // what the file says about its run
  // Keys vit-eval wanted from the file but that it does not store (files of older versions);
  // their defaults or command-line values are used.
  std::vector<std::string> not_stored;
};

// The run of a checkpoint or model file, as vit-eval and vit-predict use it.
struct FileRun {
  // The keys of EvalUse::kStored from the file, then `command_line`'s (key, value) pairs on top
  // (data.dataset given without data.dir: that data set's default folder). Not validated.
  TrainConfig run;
  StoredRun stored;                     // what the file says about its run
  std::vector<std::string> not_stored;  // keys of EvalUse::kStored that the file lacks
};

// Reads the stored keys of `path` (a checkpoint or model file) and applies `command_line` (keys
// of EvalUse::kStored or kMachine). Throws vit::Error naming the file when it is missing, cannot
// be read, or stores no model shape and `command_line` gives none.
FileRun read_file_run(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& command_line);

// The keys of the table (config_keys()) that vit-eval uses as `use`.
std::vector<KeyInfo> keys_used_as(EvalUse use);

// The model file to use for `path`: a file as it is; a run directory or its checkpoints/ folder:
// checkpoints/final.pt, unless a complete checkpoint (CheckpointDir::candidates) was written
// after it (a run resumed for more epochs and still running), then that checkpoint. Throws
// vit::Error naming `path` when it does not exist or holds neither.
std::string find_model_file(const std::string& path);

struct EvalParseResult {
  EvalConfig config;
  bool help = false;     // --help: printed, nothing to do
  bool version = false;  // --version: the caller prints version_report
};

// Parses the command line and reads the file's stored keys. Throws vit::Error naming the option,
// key or file at fault. `help_out` receives --help text.
EvalParseResult parse_eval_args(int argc, const char* const* argv, std::ostream& help_out);

}  // namespace vit
