// The checkpoints/ folder of a run directory: step-NNNNNNNN.pt files, the LATEST marker naming
// the newest complete one (written atomically after the file is in place), and pruning.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vit {

// Whether a periodic checkpoint is due after optimizer step `step` with checkpoint.every_steps =
// `every` (0: none); never on an epoch's last step (`last_of_epoch`), which writes one anyway.
// Decided alike on every rank (a checkpoint is collective), which need not have the folder.
inline bool periodic_checkpoint_due(int64_t every, int64_t step, bool last_of_epoch) {
  return every > 0 && step % every == 0 && !last_of_epoch;
}

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
