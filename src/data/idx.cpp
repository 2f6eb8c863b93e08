#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "util/error.h"
#include "util/input_file.h"

namespace vit {
namespace {

constexpr uint64_t kMaxCompressedBytes = uint64_t{1} << 34;  // 16 GiB: far beyond any data set here

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

// Reads up to `size` bytes into `out`; returns how many came (fewer only at the end of the data).
size_t read_some(gzFile_s* file, const std::string& path, uint8_t* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    const unsigned want = static_cast<unsigned>(std::min<size_t>(size - done, size_t{1} << 30));
    const int n = gzread(file, out + done, want);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      VIT_FAIL(path, ": corrupt or unreadable compressed data: ", message);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  // A gzip stream cut short reads as a clean end in some zlib versions; ask explicitly.
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  VIT_CHECK(code == Z_OK || code == Z_STREAM_END, path, ": corrupt compressed data: ", message);
  return done;
}

// Reads the header, checks the magic and the dimensions, then inflates exactly the payload the
// header promises, plus one byte to detect trailing data: a small .gz that expands to gigabytes
// is refused after its header, never inflated into memory.
torch::Tensor read_idx(const std::string& path, uint32_t expected_magic, const char* what) {
  // A regular file, opened without blocking (a FIFO is refused, not waited on); the payload's
  // size is bounded by the header's dimensions below, whatever the compressed size.
  InputFile input(path, kMaxCompressedBytes, "an IDX file");
  GzFile file(gzdopen(input.fd(), "rb"));
  VIT_CHECK(file, path, ": cannot open: ", std::strerror(errno));
  input.release();  // gzclose closes it now
  gzbuffer(file.get(), 1 << 20);
  uint8_t head[4];
  const size_t got = read_some(file.get(), path, head, 4);
  VIT_CHECK(got == 4, path, ": too short for an IDX header (", got, " bytes)");
  const uint32_t magic = read_be32(head);
  VIT_CHECK(magic == expected_magic, path, ": bad magic number 0x", std::hex, magic,
            " for an IDX ", what, " file (expected 0x", expected_magic, ")");
  const size_t ndim = magic & 0xff;
  std::vector<uint8_t> dim_bytes(4 * ndim);
  const size_t dims_got = read_some(file.get(), path, dim_bytes.data(), dim_bytes.size());
  VIT_CHECK(dims_got == dim_bytes.size(), path, ": header truncated (", 4 + dims_got, " bytes, ",
            4 + dim_bytes.size(), " needed for ", ndim, " dimensions)");
  std::vector<int64_t> dims(ndim);
  // Checked without regard to a zero dimension (an empty set): the tensor's strides are products of
  // the later dimensions, and a 0 x 2^32 x 2^32 header overflowed them (found by fuzzing).
  uint64_t nonzero = 1;
  bool empty = false;
  for (size_t i = 0; i < ndim; ++i) {
    const uint32_t dim = read_be32(dim_bytes.data() + 4 * i);
    dims[i] = dim;
    if (dim == 0) {
      empty = true;
      continue;
    }
    VIT_CHECK(nonzero <= kMaxIdxBytes / dim, path, ": the header's dimensions promise ",
              "more than ", kMaxIdxBytes, " bytes of ", what, " (a damaged or hostile file)");
    nonzero *= dim;
  }
  const uint64_t payload = empty ? 0 : nonzero;
  auto tensor = torch::empty(dims, torch::kUInt8);
  const size_t data_got = read_some(file.get(), path, tensor.data_ptr<uint8_t>(), payload);
  uint8_t extra = 0;
  const size_t trailing = data_got == payload ? read_some(file.get(), path, &extra, 1) : 0;
  VIT_CHECK(data_got == payload && trailing == 0, path, ": file length does not match its header: ",
            data_got < payload ? "truncated" : "trailing bytes", " (",
            data_got < payload ? std::to_string(data_got) : "more than " + std::to_string(payload),
            " data bytes, header says ", payload, ")");
  return tensor;
}

}  // namespace

torch::Tensor read_idx_images(const std::string& path) {
  auto images = read_idx(path, kIdxImagesMagic, "images");
  VIT_CHECK(images.size(1) > 0 && images.size(2) > 0, path, ": empty image size ",
            images.size(1), "x", images.size(2));
  return images.unsqueeze(1);  // (count, channels=1, rows, columns)
}

torch::Tensor read_idx_labels(const std::string& path, int64_t num_classes) {
  auto labels = read_idx(path, kIdxLabelsMagic, "labels");
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
