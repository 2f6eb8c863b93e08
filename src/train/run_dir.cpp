#include "train/run_dir.h"

#include <filesystem>

#include "train/checkpoint.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace vit {

RunDir prepare_run_dir(const TrainConfig& config) {
  RunDir run{config.run_dir};
  std::error_code ec;
  std::filesystem::create_directories(run.checkpoints(), ec);
  VIT_CHECK(!ec, run.checkpoints(), ": cannot create directory: ", ec.message());
  write_text_atomically(run.config_ini(), to_ini(config));
  return run;
}

void save_model(VisionTransformer& model, const std::string& path, const TrainConfig& config) {
  write_model_file(path, model, config);
}

}  // namespace vit
