#include "train/run_dir.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "util/atomic_file.h"
#include "util/error.h"

namespace vit {

RunDir prepare_run_dir(const TrainConfig& config) {
  RunDir run{config.run_dir};
  std::error_code ec;
  std::filesystem::create_directories(run.checkpoints(), ec);
  VIT_CHECK(!ec, run.checkpoints(), ": cannot create directory: ", ec.message());
  run.lock = std::make_shared<DirLock>(run.root);
  // Temporary files of writes that never finished (atomic_file.h names them ".<name>.tmp.<pid>"):
  // only now, under the lock, can no other job be writing them.
  for (const std::string& dir : {run.root, run.checkpoints(), run.tensorboard()}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos &&
          entry.is_regular_file(ec)) {
        spdlog::info("removing {}, left by a write that did not finish", entry.path().string());
        std::filesystem::remove(entry.path(), ec);
      }
    }
  }
  write_text_atomically(run.config_ini(), to_ini(config));
  return run;
}

}  // namespace vit
