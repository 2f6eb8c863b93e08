#include "data/idx.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "util/error.h"

namespace vit {
namespace {

struct GzFileCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzFileCloser>;

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// Parses the header, checks magic and that the payload length matches the dimensions exactly,
// and returns the payload as a tensor of those dimensions.
torch::Tensor parse_idx(const std::string& path, const std::vector<uint8_t>& bytes,
                        uint32_t expected_magic, const char* what) {
  VIT_CHECK(bytes.size() >= 4, path, ": too short for an IDX header (", bytes.size(), " bytes)");
  const uint32_t magic = read_be32(bytes.data());
  VIT_CHECK(magic == expected_magic, path, ": bad magic number 0x", std::hex, magic,
            " for an IDX ", what, " file (expected 0x", expected_magic, ")");
  const size_t ndim = magic & 0xff;
  const size_t header = 4 + 4 * ndim;
  VIT_CHECK(bytes.size() >= header, path, ": header truncated (", bytes.size(), " bytes, ",
            header, " needed for ", ndim, " dimensions)");
  std::vector<int64_t> dims(ndim);
  size_t payload = 1;
  for (size_t i = 0; i < ndim; ++i) {
    dims[i] = read_be32(bytes.data() + 4 + 4 * i);
    payload *= static_cast<size_t>(dims[i]);
  }
  const size_t actual = bytes.size() - header;
  VIT_CHECK(actual == payload, path, ": file length does not match its header: ",
            actual < payload ? "truncated" : "trailing bytes", " (", actual,
            " data bytes, header says ", payload, ")");
  auto tensor = torch::empty(dims, torch::kUInt8);
  if (payload > 0) std::memcpy(tensor.data_ptr<uint8_t>(), bytes.data() + header, payload);
  return tensor;
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  VIT_CHECK(std::filesystem::is_regular_file(path), path, ": no such file");
  GzFile file(gzopen(path.c_str(), "rb"));
  VIT_CHECK(file, path, ": cannot open: ", std::strerror(errno));
  gzbuffer(file.get(), 1 << 20);
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    const int n = gzread(file.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      VIT_FAIL(path, ": corrupt or unreadable compressed data: ", message);
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
  }
  // A gzip stream cut short reads as a clean end in some zlib versions; ask explicitly.
  int code = Z_OK;
  const char* message = gzerror(file.get(), &code);
  VIT_CHECK(code == Z_OK || code == Z_STREAM_END, path, ": corrupt compressed data: ", message);
  return bytes;
}

torch::Tensor read_idx_images(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  auto images = parse_idx(path, bytes, kIdxImagesMagic, "images");
  VIT_CHECK(images.size(1) > 0 && images.size(2) > 0, path, ": empty image size ",
            images.size(1), "x", images.size(2));
  return images.unsqueeze(1);  // (count, channels=1, rows, columns)
}

torch::Tensor read_idx_labels(const std::string& path, int64_t num_classes) {
  const auto bytes = read_file_bytes(path);
  auto labels = parse_idx(path, bytes, kIdxLabelsMagic, "labels");
  if (labels.numel() > 0) {
    const int64_t max_label = labels.max().item<int64_t>();
    VIT_CHECK(max_label < num_classes, path, ": label ", max_label, " at index ",
              labels.argmax().item<int64_t>(), " is not below the number of classes (",
              num_classes, ")");
  }
  return labels;
}

void write_idx(const std::string& path, const torch::Tensor& data) {
  VIT_CHECK(data.scalar_type() == torch::kUInt8, path, ": IDX data must be uint8");
  VIT_CHECK(data.dim() >= 1 && data.dim() <= 255, path, ": bad number of dimensions");
  const auto contiguous = data.contiguous();
  std::vector<uint8_t> bytes;
  put_be32(bytes, 0x00000800u | static_cast<uint32_t>(data.dim()));
  for (int64_t d : data.sizes()) put_be32(bytes, static_cast<uint32_t>(d));
  const auto* p = contiguous.data_ptr<uint8_t>();
  bytes.insert(bytes.end(), p, p + contiguous.numel());

  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  GzFile file(gzopen(path.c_str(), gz ? "wb" : "wbT"));  // "T": write without compression
  VIT_CHECK(file, path, ": cannot open for writing: ", std::strerror(errno));
  const int written = gzwrite(file.get(), bytes.data(), static_cast<unsigned>(bytes.size()));
  VIT_CHECK(written == static_cast<int>(bytes.size()), path, ": write failed");
  VIT_CHECK(gzclose(file.release()) == Z_OK, path, ": close failed");
}

}  // namespace vit
