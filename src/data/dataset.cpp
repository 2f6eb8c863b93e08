#include "data/dataset.h"

#include <cmath>
#include <filesystem>

#include "data/idx.h"
#include "util/error.h"
#include "util/input_file.h"

namespace vit {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxSourceBytes = 4096;  // one line naming where the data came from

// The standard file name, compressed or not; the compressed one is preferred when both exist.
std::string find_idx_file(const std::string& dir, const std::string& base) {
  for (const std::string& name : {base + ".gz", base}) {
    const fs::path path = fs::path(dir) / name;
    if (fs::is_regular_file(path)) return path.string();
  }
  VIT_FAIL((fs::path(dir) / base).string(), "[.gz]: no such file (fetch the data with "
           "launch/get-data.sh, or set data.dir)");
}

Split load_split(const std::string& dir, const std::string& prefix) {
  const std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  return make_split(read_idx_images(images_path), read_idx_labels(labels_path, kNumClasses),
                    images_path, labels_path);
}

Split take_first(const Split& split, int64_t limit) {
  if (limit <= 0 || limit >= split.size()) return split;
  return {split.images.narrow(0, 0, limit).clone(), split.labels.narrow(0, 0, limit).clone()};
}

}  // namespace

Split make_split(torch::Tensor images, torch::Tensor labels, const std::string& images_path,
                 const std::string& labels_path) {
  VIT_CHECK(images.size(0) == labels.size(0), images_path, " holds ", images.size(0),
            " images but ", labels_path, " holds ", labels.size(0), " labels");
  VIT_CHECK(images.size(0) > 0, images_path, ": holds no images");
  return {std::move(images), labels.to(torch::kLong)};
}

void check_data_dir(const DataConfig& data) {
  namespace fs = std::filesystem;
  std::error_code ec;
  VIT_CHECK(!data.dir.empty(), "data.dir: empty (a folder holding the data set's IDX files)");
  if (fs::is_directory(data.dir, ec)) return;
  const fs::path dir(data.dir);
  std::string where = data.dir, hint;
  if (dir.is_relative()) {
    const fs::path cwd = fs::current_path(ec);
    where += " (looked for from " + cwd.string() + ")";
    fs::path up = cwd;
    for (int level = 1; level <= 3 && up.has_parent_path() && up != up.parent_path(); ++level) {
      up = up.parent_path();
      if (fs::is_directory(up / dir, ec)) {
        hint = "it is in " + up.string() + ": run from there, or give --data.dir " +
               (up / dir).lexically_normal().string();
        break;
      }
    }
  }
  if (hint.empty()) hint = "fetch the data with: launch/get-data.sh " + to_string(data.dataset);
  VIT_FAIL("data.dir: ", where, " is not a directory (", hint, ")");
}

Dataset load_dataset(const DataConfig& config) {
  Dataset data;
  data.train = take_first(load_split(config.dir, "train"), config.train_limit);
  data.test = take_first(load_split(config.dir, "t10k"), config.test_limit);
  VIT_CHECK(data.train.images.sizes().slice(1) == data.test.images.sizes().slice(1), config.dir,
            ": training images are ", data.train.images.sizes(), " but test images are ",
            data.test.images.sizes());
  data.source = read_data_source(config.dir);
  split_off_validation(data, config.val_split);
  return data;
}

void split_off_validation(Dataset& data, double fraction) {
  if (fraction <= 0) return;
  const int64_t total = data.train.size();
  const auto held_out = static_cast<int64_t>(std::llround(fraction * static_cast<double>(total)));
  VIT_CHECK(held_out >= 1, "data.val_split: ", fraction, " of ", total,
            " training images is no image to validate on");
  VIT_CHECK(held_out < total, "data.val_split: ", fraction, " of ", total,
            " training images leaves none to train on");
  const int64_t kept = total - held_out;
  data.val = {data.train.images.narrow(0, kept, held_out).clone(),
              data.train.labels.narrow(0, kept, held_out).clone()};
  data.train = {data.train.images.narrow(0, 0, kept).clone(),
                data.train.labels.narrow(0, 0, kept).clone()};
}

Split load_test_split(const DataConfig& config) {
  return take_first(load_split(config.dir, "t10k"), config.test_limit);
}

bool test_split_present(const DataConfig& config) {
  for (const char* name : {"t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"}) {
    if (fs::is_regular_file(fs::path(config.dir) / name)) return true;
  }
  return false;
}

std::string read_data_source(const std::string& dir) {
  const fs::path path = fs::path(dir) / "SOURCE";
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return "unknown (no SOURCE file in " + dir + ")";
  // One line, for the start-up table: never a read that could block or not end, and no reason
  // to stop a run.
  try {
    const std::string text = read_small_file(path.string(), kMaxSourceBytes, "a SOURCE file");
    return text.substr(0, text.find('\n'));
  } catch (const Error& e) {
    return std::string("unknown (") + e.what() + ")";
  }
}

torch::Tensor to_float_images(const torch::Tensor& images_u8) {
  return images_u8.to(torch::kFloat32).div_(255.0);
}

Batch gather(const Split& split, const torch::Tensor& indices) {
  return {to_float_images(split.images.index_select(/*dim=*/0, indices)),
          split.labels.index_select(/*dim=*/0, indices)};
}

}  // namespace vit
