// Dataset: the four IDX files of an MNIST-format data set, held in memory as uint8 tensors.
// Batches are gathered by index and normalised on the fly, so no per-sample objects exist.
#pragma once

#include <torch/torch.h>

#include <string>

#include "config/train_config.h"

namespace vit {

constexpr int64_t kNumClasses = 10;

// One split: images (count, channels, rows, columns) uint8 and labels (count) int64.
struct Split {
  torch::Tensor images;
  torch::Tensor labels;
  int64_t size() const { return labels.size(0); }
  // No images (also a split never filled: a data set without a validation split).
  bool empty() const { return !labels.defined() || labels.size(0) == 0; }
};

struct Dataset {
  Split train;
  Split test;
  std::string source;  // the SOURCE note that launch/get-data.sh left, or "unknown"
  Split val;           // data.val_split's images, held out of `train`; empty without one
};

// Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz], checks that images and labels
// agree, applies data.train_limit / data.test_limit, then data.val_split.
Dataset load_dataset(const DataConfig& config);

// Moves the last round(fraction x N) of the N training images into data.val (as Keras's
// validation_split takes the last samples): the same images on every rank and run, never trained
// on. Nothing for fraction 0. Throws vit::Error naming data.val_split when that leaves no image to
// validate on or none to train on.
void split_off_validation(Dataset& data, double fraction);

// Throws vit::Error "data.dir: DIR is not a directory (HINT)" unless data.dir is a folder. A
// relative DIR is named with the folder it was looked for from, and where DIR exists from a
// folder above (a program started one folder too deep), the hint names it; else the hint is
// the command that fetches the data set.
void check_data_dir(const DataConfig& data);

// The test split alone (<dir>/t10k-*), with data.test_limit applied: what vit-eval scores.
Split load_test_split(const DataConfig& config);

// Whether <dir> holds the test split's images (raw or gzip): vit-eval --export scores only then.
bool test_split_present(const DataConfig& config);

// The SOURCE note that launch/get-data.sh left in `dir`, or a text saying there is none.
std::string read_data_source(const std::string& dir);

// Checks one split's image and label tensors against each other; names the files on failure.
Split make_split(torch::Tensor images, torch::Tensor labels, const std::string& images_path,
                 const std::string& labels_path);

// Images scaled to [0, 1] as float32, the way the tutorial's ToTensor() does it.
torch::Tensor to_float_images(const torch::Tensor& images_u8);

struct Batch {
  torch::Tensor images;  // (n, channels, rows, columns) float32 in [0, 1]
  torch::Tensor labels;  // (n) int64
};

// Gathers the rows at `indices` (int64 tensor) into a batch.
Batch gather(const Split& split, const torch::Tensor& indices);

}  // namespace vit
