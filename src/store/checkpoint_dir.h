// The checkpoints/ folder of a run directory: step-NNNNNNNN.pt files, the LATEST marker naming
// the newest complete one (written atomically after the file is in place), and pruning.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vit {

// The checkpoints/ folder of a run directory.
class CheckpointDir {
 public:
  explicit CheckpointDir(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  std::string path_for(int64_t step) const;

  // Marks the checkpoint of `step` as the newest complete one, then removes those that neither
  // are among the newest `keep_last` nor have a step that is a multiple of `keep_every`.
  void commit(int64_t step, int64_t keep_last, int64_t keep_every) const;

  // Complete checkpoints, newest first: the one LATEST names, then the others by step.
  std::vector<std::string> candidates() const;

 private:
  std::vector<int64_t> steps() const;
  std::string dir_;
};

}  // namespace vit
