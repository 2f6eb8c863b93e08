// IDX files (the MNIST format): a big-endian header of magic number and dimensions, then uint8
// data. Raw and gzip-compressed files are both read; the checks name the file and what is wrong.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vit {

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // uint8, 3 dimensions: count, rows, columns
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // uint8, 1 dimension: count
// The most data one IDX file may promise (4 GiB: MNIST's training images are 47 MB).
constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 32;

// Images as a (count, 1, rows, columns) uint8 tensor.
torch::Tensor read_idx_images(const std::string& path);

// Labels as a (count) uint8 tensor; every label must be below num_classes.
torch::Tensor read_idx_labels(const std::string& path, int64_t num_classes);

// Writes an IDX file (gzip-compressed when path ends in ".gz") holding a uint8 tensor; the magic
// number follows from its number of dimensions. Used by tests and data tools.
void write_idx(const std::string& path, const torch::Tensor& data);


}  // namespace vit
