// IDX reader: good files, raw and gzip, and every kind of broken file, each with its own error.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <sys/resource.h>
#include <zlib.h>

#include <fstream>

#include "data/idx.h"
#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

using testing::TempDir;

std::vector<uint8_t> be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

// Raw bytes: header words, then `payload` bytes of value 7.
void write_raw(const std::string& path, std::vector<uint32_t> header, size_t payload) {
  std::ofstream out(path, std::ios::binary);
  for (uint32_t word : header) {
    const auto bytes = be32(word);
    out.write(reinterpret_cast<const char*>(bytes.data()), 4);
  }
  out << std::string(payload, '\x07');
}

// Expects read to throw vit::Error whose message contains both the path and `fragment`.
template <typename Read>
void expect_error(Read read, const std::string& path, const std::string& fragment) {
  try {
    read();
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  }
}

TEST(Idx, RoundTripRawAndGzip) {
  TempDir dir;
  const auto images = torch::randint(0, 256, {5, 28, 28}).to(torch::kUInt8);
  const auto labels = torch::tensor({0, 3, 9, 1, 2}).to(torch::kUInt8);
  for (const std::string suffix : {"", ".gz"}) {
    write_idx(dir.file("images" + suffix), images);
    write_idx(dir.file("labels" + suffix), labels);
    const auto read_images = read_idx_images(dir.file("images" + suffix));
    EXPECT_EQ(read_images.sizes(), torch::IntArrayRef({5, 1, 28, 28}));
    EXPECT_TRUE(torch::equal(read_images.squeeze(1), images));
    EXPECT_TRUE(torch::equal(read_idx_labels(dir.file("labels" + suffix), 10), labels));
  }
  // The compressed file really is compressed (gzip magic) and the raw one is not.
  std::ifstream gz(dir.file("images.gz"), std::ios::binary), raw(dir.file("images"), std::ios::binary);
  EXPECT_EQ(gz.get(), 0x1f);
  EXPECT_EQ(raw.get(), 0x00);
}

TEST(Idx, ReadsAHandWrittenFile) {
  TempDir dir;
  write_raw(dir.file("i"), {0x803, 2, 3, 4}, 24);
  const auto images = read_idx_images(dir.file("i"));
  EXPECT_EQ(images.sizes(), torch::IntArrayRef({2, 1, 3, 4}));
  EXPECT_EQ(images.sum().item<int64_t>(), 24 * 7);
}

TEST(Idx, MissingFile) {
  TempDir dir;
  expect_error([&] { read_idx_images(dir.file("nope")); }, dir.file("nope"), "no such file");
}

TEST(Idx, BadMagic) {
  TempDir dir;
  write_raw(dir.file("labels-as-images"), {0x801, 4}, 4);
  expect_error([&] { read_idx_images(dir.file("labels-as-images")); },
               dir.file("labels-as-images"), "bad magic number 0x801");
  write_raw(dir.file("junk"), {0x12345678}, 0);
  expect_error([&] { read_idx_labels(dir.file("junk"), 10); }, dir.file("junk"), "bad magic");
}

TEST(Idx, TooShortForAHeader) {
  TempDir dir;
  std::ofstream(dir.file("tiny"), std::ios::binary) << "ab";
  expect_error([&] { read_idx_images(dir.file("tiny")); }, dir.file("tiny"), "too short");
  write_raw(dir.file("cut-header"), {0x803, 10}, 0);  // 3 dimensions announced, 1 present
  expect_error([&] { read_idx_images(dir.file("cut-header")); }, dir.file("cut-header"),
               "header truncated");
}

TEST(Idx, TruncatedData) {
  TempDir dir;
  write_raw(dir.file("short"), {0x803, 2, 28, 28}, 2 * 784 - 1);
  expect_error([&] { read_idx_images(dir.file("short")); }, dir.file("short"), "truncated");
}

TEST(Idx, TrailingBytes) {
  TempDir dir;
  write_raw(dir.file("long"), {0x801, 3}, 4);
  expect_error([&] { read_idx_labels(dir.file("long"), 10); }, dir.file("long"), "trailing bytes");
}

// A small .gz that inflates to far more than its header promises: refused after the header's
// payload and one byte more, without the rest ever reaching memory (it used to be inflated whole:
// a 3 MB file reached 4.4 GB before the length check).
TEST(Idx, AGzipBombIsRefusedWithoutInflatingIt) {
  TempDir dir;
  const std::string path = dir.file("bomb-idx1-ubyte.gz");
  {
    gzFile out = gzopen(path.c_str(), "wb9");
    const auto header = be32(0x801), count = be32(4);
    gzwrite(out, header.data(), 4);
    gzwrite(out, count.data(), 4);
    const std::string zeros(1 << 20, '\0');
    for (int i = 0; i < 512; ++i) gzwrite(out, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(out);  // 512 MiB of zeros in about half a megabyte
  }
  struct rusage before {}, after {};
  getrusage(RUSAGE_SELF, &before);
  expect_error([&] { read_idx_labels(path, 10); }, path, "trailing bytes");
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024) << "KiB more at peak";  // not 512 MiB
}

TEST(Idx, DimensionsPromisingTooMuchAreRefusedBeforeAllocating) {
  TempDir dir;
  write_raw(dir.file("huge"), {0x803, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 16);
  expect_error([&] { read_idx_images(dir.file("huge")); }, dir.file("huge"),
               "the header's dimensions promise more than");
  // A zero first: the later dimensions are still checked (their strides overflowed LibTorch's).
  write_raw(dir.file("zero"), {0x803, 0, 4244635646u, 2248147477u}, 0);
  expect_error([&] { read_idx_images(dir.file("zero")); }, dir.file("zero"),
               "the header's dimensions promise more than");
}

TEST(Idx, LabelOutOfRange) {
  TempDir dir;
  write_idx(dir.file("labels"), torch::tensor({1, 2, 10, 3}).to(torch::kUInt8));
  expect_error([&] { read_idx_labels(dir.file("labels"), 10); }, dir.file("labels"),
               "label 10 at index 2");
}

TEST(Idx, EmptyImageSize) {
  TempDir dir;
  write_raw(dir.file("flat"), {0x803, 3, 0, 28}, 0);
  expect_error([&] { read_idx_images(dir.file("flat")); }, dir.file("flat"), "empty image size");
}

TEST(Idx, CorruptGzip) {
  TempDir dir;
  write_idx(dir.file("good.gz"), torch::zeros({100, 28, 28}, torch::kUInt8));
  std::ifstream in(dir.file("good.gz"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Cut the compressed stream in half: an unexpected end of the gzip data.
  std::ofstream(dir.file("cut.gz"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error([&] { read_idx_images(dir.file("cut.gz")); }, dir.file("cut.gz"), "corrupt");
  // Flip bytes in the middle of the deflate data: a checksum or data error.
  for (size_t i = 20; i < 40 && i < bytes.size(); ++i) bytes[i] = static_cast<char>(~bytes[i]);
  std::ofstream(dir.file("flipped.gz"), std::ios::binary) << bytes;
  expect_error([&] { read_idx_images(dir.file("flipped.gz")); }, dir.file("flipped.gz"), "corrupt");
}

}  // namespace
}  // namespace vit
