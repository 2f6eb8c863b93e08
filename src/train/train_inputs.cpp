#include "train/train_inputs.h"

#include <filesystem>

#include "data/dataset.h"  // check_data_dir
#include "util/error.h"

namespace vit {

void check_train_inputs(const TrainConfig& c) {
  check_data_dir(c.data);
  VIT_CHECK(!c.resume.empty(), "--resume: must be none, auto or a checkpoint path");
  const auto marker = std::filesystem::path(c.run_dir) / "checkpoints" / "LATEST";
  VIT_CHECK(c.resume != "none" || !std::filesystem::exists(marker), "--resume none: ", c.run_dir,
            " already holds checkpoints of an earlier run; continue it with --resume auto, or "
            "choose another --run-dir");
  VIT_CHECK(c.resume == "none" || c.resume == "auto" || std::filesystem::is_regular_file(c.resume),
            "--resume: ", c.resume, ": no such checkpoint file");
  VIT_CHECK(!c.run_dir.empty(), "--run-dir: must not be empty");
}

}  // namespace vit
