// Helpers shared by the test suites: a temporary directory that cleans up after itself, and small
// synthetic MNIST-format data sets written as real IDX files.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include <filesystem>
#include <string>
#include <vector>

namespace vit::testing {

// A fresh directory under the system temp folder, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The lines of `text`, and of the file at `path` (empty when it cannot be read), without their
// newlines.
std::vector<std::string> text_lines(const std::string& text);
std::vector<std::string> file_lines(const std::string& path);

// `count` 28x28 images whose class is drawn as a bright 7x7 square at a class-specific place on a
// faint noise background: easy to learn, so a few steps of training visibly reduce the loss.
// Returns images (count, 28, 28) uint8 and labels (count) uint8.
std::pair<torch::Tensor, torch::Tensor> synthetic_digits(int64_t count, uint64_t seed);

// Writes the four IDX files (gzip) of a synthetic data set into `dir`.
void write_synthetic_dataset(const std::string& dir, int64_t train_count, int64_t test_count);

#ifdef VIT_WITH_CUDA
// Enqueues on torch's current CUDA stream a kernel that keeps the GPU busy for about `seconds`
// (cycles per second measured once), so that tests can queue long GPU work.
void queue_gpu_work(double seconds);
#endif

}  // namespace vit::testing

// First line of a GPU test: without a usable CUDA device the test is skipped (ctest shows it as
// Skipped), unless VIT_REQUIRE_GPU is set, as the GPU check (launch/gpu-check.sh) sets it: there a
// skip would hide an untested GPU path, so it fails.
#define VIT_REQUIRE_GPU()                                                                  \
  do {                                                                                     \
    if (!torch::cuda::is_available()) {                                                    \
      if (std::getenv("VIT_REQUIRE_GPU") != nullptr) {                                     \
        FAIL() << "no usable CUDA device, and VIT_REQUIRE_GPU is set (the GPU check)";      \
      }                                                                                    \
      GTEST_SKIP() << "no CUDA device";                                                    \
    }                                                                                      \
  } while (0)
