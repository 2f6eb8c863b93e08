#include "store/checkpoint_dir.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/input_file.h"
#include "util/log.h"

namespace vit {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kMaxLatestBytes = 4096;  // one name of a checkpoint file

// The name of a checkpoint file; match[1] is its step. A plain name: no folder, not "." or "..".
const std::regex& checkpoint_name() {
  static const std::regex pattern(R"(step-(\d{8,})\.pt)");
  return pattern;
}

}  // namespace

std::string CheckpointDir::path_for(int64_t step) const {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08lld.pt", static_cast<long long>(step));
  return (fs::path(dir_) / name).string();
}

std::vector<int64_t> CheckpointDir::steps() const {
  std::vector<int64_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, checkpoint_name())) continue;
    if (match[1].length() > 18) {  // beyond int64: no step of a run
      spdlog::warn("{}: a step number beyond any run's; ignored", entry.path().string());
      continue;
    }
    out.push_back(std::stoll(match[1]));
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

void CheckpointDir::commit(int64_t step, int64_t keep_last, int64_t keep_every) const {
  write_text_atomically((fs::path(dir_) / "LATEST").string(),
                        fs::path(path_for(step)).filename().string() + "\n");
  int64_t newer = 0;  // checkpoints newer than s
  for (int64_t s : steps()) {  // newest first
    const bool recent = newer++ < keep_last;
    const bool milestone = keep_every > 0 && s % keep_every == 0;
    if (s == step || recent || milestone) continue;
    std::error_code ignored;
    fs::remove(path_for(s), ignored);
  }
}

std::vector<std::string> CheckpointDir::candidates() const {
  std::vector<std::string> out;
  const fs::path latest_path = fs::path(dir_) / "LATEST";
  std::string name;
  std::error_code ec;
  if (fs::exists(fs::symlink_status(latest_path, ec))) {
    // One line; a FIFO or a device there would block or never end: refused without a read.
    try {
      name = read_small_file(latest_path.string(), kMaxLatestBytes, "the LATEST file");
      name = name.substr(0, name.find('\n'));
    } catch (const Error& e) {
      spdlog::warn("{}; ignored, the newest step file is used", e.what());
    }
  }
  if (!name.empty()) {
    // Only a checkpoint of this folder: a path elsewhere would resume another run.
    if (!std::regex_match(name, checkpoint_name())) {
      spdlog::warn("{} names '{}', not a checkpoint file of its folder (step-NNNNNNNN.pt): "
                   "ignored, the newest step file is used",
                   latest_path.string(), name);
    } else if (fs::is_regular_file(fs::path(dir_) / name, ec)) {
      out.push_back((fs::path(dir_) / name).string());
    }
  }
  for (int64_t s : steps()) {
    const std::string path = path_for(s);
    if (out.empty() || path != out.front()) out.push_back(path);
  }
  return out;
}

}  // namespace vit
