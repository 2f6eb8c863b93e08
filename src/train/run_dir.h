// The run directory: config.ini (the resolved config), metrics.jsonl, train.log, checkpoints/
// (with final.pt and, under checkpoint.keep_best, best.pt) and tb/ (TensorBoard event files).
#pragma once

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

// Creates the directory and checkpoints/, takes the directory's lock for the life of the
// returned RunDir (another job's error names the holder), removes temporary files that a killed
// job left behind, and writes config.ini; errors name the path.
RunDir prepare_run_dir(const TrainConfig& config);

}  // namespace vit
