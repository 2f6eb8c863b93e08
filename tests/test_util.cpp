#include "test_util.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include "data/idx.h"
#ifdef VIT_WITH_CUDA
#include <ATen/cuda/Sleep.h>  // at::cuda::sleep: a kernel that spins for a number of cycles
#endif

namespace vit::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "vit-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

namespace {
std::vector<std::string> lines_from(std::istream& in) {
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
}  // namespace

std::vector<std::string> text_lines(const std::string& text) {
  std::istringstream in(text);
  return lines_from(in);
}

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream in(path);
  return lines_from(in);
}

std::pair<torch::Tensor, torch::Tensor> synthetic_digits(int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto images = torch::zeros({count, 28, 28}, torch::kUInt8);
  auto labels = torch::zeros({count}, torch::kUInt8);
  auto img = images.accessor<uint8_t, 3>();
  auto lab = labels.accessor<uint8_t, 1>();
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng() % 10);
    lab[i] = static_cast<uint8_t>(label);
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) img[i][y][x] = static_cast<uint8_t>(rng() % 40);
    }
    // Ten places on a 4x3 grid of 7x7 cells; one pixel of jitter keeps it from being trivial.
    const int top = (label / 4) * 7 + static_cast<int>(rng() % 2);
    const int left = (label % 4) * 7 + static_cast<int>(rng() % 2);
    for (int y = top; y < std::min(28, top + 7); ++y) {
      for (int x = left; x < std::min(28, left + 7); ++x) img[i][y][x] = 255;
    }
  }
  return {images, labels};
}

void write_synthetic_dataset(const std::string& dir, int64_t train_count, int64_t test_count) {
  fs::create_directories(dir);
  const auto [train_images, train_labels] = synthetic_digits(train_count, 1);
  const auto [test_images, test_labels] = synthetic_digits(test_count, 2);
  write_idx(dir + "/train-images-idx3-ubyte.gz", train_images);
  write_idx(dir + "/train-labels-idx1-ubyte.gz", train_labels);
  write_idx(dir + "/t10k-images-idx3-ubyte.gz", test_images);
  write_idx(dir + "/t10k-labels-idx1-ubyte.gz", test_labels);
}

#ifdef VIT_WITH_CUDA
void queue_gpu_work(double seconds) {
  // The first launch of the sleep kernel loads its module (lazy loading), which once made a 25 ms
  // calibration 40% too slow and the queued work 30% too short on an H200: one warm-up launch
  // first, then the fastest of three samples of about 50 ms each.
  static const double cycles_per_s = [] {
    constexpr int64_t kCycles = 100'000'000;
    at::cuda::sleep(1'000'000);
    torch::cuda::synchronize();
    double fastest = 0;
    for (int sample = 0; sample < 3; ++sample) {
      const auto start = std::chrono::steady_clock::now();
      at::cuda::sleep(kCycles);
      torch::cuda::synchronize();
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      fastest = std::max(fastest, static_cast<double>(kCycles) / took.count());
    }
    return fastest;
  }();
  at::cuda::sleep(static_cast<int64_t>(seconds * cycles_per_s));
}
#endif

}  // namespace vit::testing
