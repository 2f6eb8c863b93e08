// fuzz-seeds DIR: writes the seed inputs of idx_fuzz and tensor_file_fuzz into DIR/idx_fuzz/ and
// DIR/tensor_file_fuzz/, made with the project's own writers (write_idx, TensorFile::encode), in
// the targets' input layout (a control byte, then the file). make_corpus.sh calls it; config
// seeds come from configs/*.ini there.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "data/idx.h"
#include "store/tensor_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  VIT_CHECK(in, path, ": cannot read");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_seed(const fs::path& path, char control, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.put(control);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  VIT_CHECK(out, path.string(), ": write failed");
}

// An IDX file written by write_idx at `temp`, returned as bytes.
std::string idx_bytes(const fs::path& temp, const torch::Tensor& data) {
  vit::write_idx(temp.string(), data);
  return read_all(temp.string());
}

void idx_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path temp = dir / "tmp.idx";
  const auto images = torch::arange(2 * 4 * 3, torch::kInt64).remainder(256).to(torch::kUInt8)
                          .reshape({2, 4, 3});
  const auto labels = torch::tensor({3, 1, 4, 1, 5, 9}, torch::kUInt8);
  const auto one_mnist = torch::full({1, 28, 28}, 7, torch::kUInt8);
  const std::string raw_images = idx_bytes(temp, images);
  const std::string raw_labels = idx_bytes(temp, labels);
  const std::string raw_mnist = idx_bytes(temp, one_mnist);
  fs::remove(temp);
  // Control byte 0: the file as it is; 1: the fuzzer gzips it (so seeds are the uncompressed IDX).
  write_seed(dir / "images-raw", 0, raw_images);
  write_seed(dir / "labels-raw", 0, raw_labels);
  write_seed(dir / "images-gzip", 1, raw_images);
  write_seed(dir / "labels-gzip", 1, raw_labels);
  write_seed(dir / "mnist-1-gzip", 1, raw_mnist);
  write_seed(dir / "labels-empty", 0, raw_labels.substr(0, 4) + std::string(4, '\0'));
  // A file that is already gzip (written by write_idx as .gz), read through the raw path.
  const fs::path gz = dir / "tmp.idx.gz";
  vit::write_idx(gz.string(), labels);
  write_seed(dir / "labels-gz-file", 0, read_all(gz.string()));
  fs::remove(gz);
}

void tensor_file_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  vit::TensorFile file;
  file.put("step", int64_t{1234});
  file.put("lr", 0.005);
  file.put("config", std::string("[model]\nhidden_d = 8\n"));
  file.put("model.weight", torch::arange(6, torch::kFloat32).reshape({2, 3}));
  file.put("model.bias", torch::ones({3}, torch::kFloat64));
  file.put("half", torch::zeros({2, 2}, torch::kFloat16));
  file.put("bf16", torch::zeros({1}, torch::kBFloat16));
  file.put("rng", torch::arange(5, torch::kUInt8));
  file.put("count", torch::tensor({int32_t{7}}, torch::kInt32));
  file.put("index", torch::tensor({int64_t{-1}, int64_t{2}}, torch::kInt64));
  file.put("empty", torch::zeros({0, 4}, torch::kFloat32));
  file.put("scalar", torch::scalar_tensor(2.5, torch::kFloat32));
  // Control byte 3: the fuzzer repairs body length and CRC-32 (a seed is intact either way).
  write_seed(dir / "checkpoint", 3, file.encode());
  write_seed(dir / "checkpoint-as-is", 0, file.encode());
  vit::TensorFile small;
  small.put("k", int64_t{1});
  write_seed(dir / "one-int", 3, small.encode());
  write_seed(dir / "no-entries", 3, vit::TensorFile().encode());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz-seeds DIR\n");
    return 2;
  }
  try {
    idx_seeds(fs::path(argv[1]) / "idx_fuzz");
    tensor_file_seeds(fs::path(argv[1]) / "tensor_file_fuzz");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz-seeds: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
