// What vit-train's config points at, checked before training starts: the data folder exists, and
// --resume fits the run directory. validate() (config/train_config.h) checks the keys alone and
// looks at no file; these checks are vit-train's, not vit-eval's or vit-predict's.
#pragma once

#include "config/train_config.h"

namespace vit {

// Throws vit::Error naming the key or option at fault: a data.dir that is not a folder, an empty
// --resume, --resume none on a run directory that holds an earlier run's checkpoints, --resume
// PATH of no file, an empty --run-dir. Call after validate() (data.dir has its default then).
void check_train_inputs(const TrainConfig& config);

}  // namespace vit
