// The run directory: config.ini (the resolved config), metrics.jsonl, train.log, checkpoints/
// (with final.pt and, under checkpoint.keep_best, best.pt) and tb/ (TensorBoard event files).
#pragma once

#include <ctime>
#include <memory>
#include <string>

#include "config/train_config.h"
#include "util/dir_lock.h"

namespace vit {

struct RunDir {
  std::string root;
  std::shared_ptr<DirLock> lock = nullptr;  // held by the job that writes here (prepare_run_dir)
  std::string config_ini() const { return root + "/config.ini"; }
  std::string metrics() const { return root + "/metrics.jsonl"; }
  std::string log() const { return root + "/train.log"; }
  std::string checkpoints() const { return root + "/checkpoints"; }
  std::string tensorboard() const { return root + "/tb"; }
  std::string final_model() const { return checkpoints() + "/final.pt"; }
  // checkpoint.keep_best: the model of the best epoch by train.monitor
  std::string best_model() const { return checkpoints() + "/best.pt"; }
};

// The folder of a fresh run started without --run-dir: "<parent>/<config file's stem, or run>-
// <local time as YYYYmmdd-HHMMSS>", e.g. runs/mnist-small-20261204-231502.
std::string default_run_dir(const std::string& config_file, std::time_t now,
                            const std::string& parent = "runs");

// Points <parent of run_dir>/latest at `run_dir` (a relative symlink, replaced atomically), so
// that --resume auto without --run-dir continues it. Leaves a real folder named latest (a run of
// an earlier version) alone, and returns false then; throws vit::Error naming the link when it
// cannot be made.
bool point_latest_at(const std::string& run_dir);

// Creates the directory and checkpoints/, takes the directory's lock for the life of the
// returned RunDir (another job's error names the holder), removes temporary files that a killed
// job left behind, and writes config.ini; errors name the path.
RunDir prepare_run_dir(const TrainConfig& config);

}  // namespace vit
