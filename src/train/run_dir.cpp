#include "train/run_dir.h"

#include <spdlog/spdlog.h>

#include <unistd.h>  // getpid

#include <ctime>
#include <filesystem>

#include "util/atomic_file.h"
#include "util/error.h"

namespace vit {

std::string default_run_dir(const std::string& config_file, std::time_t now,
                            const std::string& parent) {
  std::string name = std::filesystem::path(config_file).stem().string();
  if (name.empty()) name = "run";
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return (std::filesystem::path(parent) / (name + "-" + stamp)).string();
}

bool point_latest_at(const std::string& run_dir) {
  namespace fs = std::filesystem;
  const fs::path run(run_dir);
  const fs::path latest = run.parent_path() / "latest";
  std::error_code ec;
  const auto status = fs::symlink_status(latest, ec);
  if (fs::exists(status) && !fs::is_symlink(status)) return false;
  const fs::path temporary = run.parent_path() / (".latest.tmp." + std::to_string(::getpid()));
  fs::remove(temporary, ec);
  fs::create_symlink(run.filename(), temporary, ec);
  VIT_CHECK(!ec, temporary.string(), ": cannot create the link to ", run_dir, ": ", ec.message());
  fs::rename(temporary, latest, ec);  // atomic: a reader sees the old link or the new one
  VIT_CHECK(!ec, latest.string(), ": cannot point it at ", run_dir, ": ", ec.message());
  return true;
}

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
