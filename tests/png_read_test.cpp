// read_png: PNGs of every colour type and bit depth, written here with libpng itself, decode to
// the expected 8-bit gray or RGB samples; broken files give one vit::Error naming the file.
// Built only with libpng (VIT_WITH_PNG, tests/CMakeLists.txt).
#include "eval/png_read.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <zlib.h>  // crc32, for PNG chunks made by hand

#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

using testing::TempDir;

// What the test writer puts into a PNG: rows of samples in the file's own layout.
struct PngSpec {
  uint32_t width = 0;
  uint32_t height = 0;
  int color_type = PNG_COLOR_TYPE_GRAY;
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<std::vector<uint8_t>> rows;  // packed samples (16 bits: big-endian pairs)
  std::vector<png_color> palette;
  std::vector<uint8_t> palette_alpha;  // tRNS of a palette image
};

// libpng errors longjmp back here; only trivial locals in this frame.
bool encode(std::FILE* file, const PngSpec* spec, png_bytepp rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, spec->width, spec->height, spec->bit_depth, spec->color_type,
               spec->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec->palette.empty()) {
    png_set_PLTE(png, info, spec->palette.data(), static_cast<int>(spec->palette.size()));
  }
  if (!spec->palette_alpha.empty()) {
    png_set_tRNS(png, info, spec->palette_alpha.data(),
                 static_cast<int>(spec->palette_alpha.size()), nullptr);
  }
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

void write_test_png(const std::string& path, const PngSpec& spec) {
  std::vector<png_bytep> rows;
  std::vector<std::vector<uint8_t>> copy = spec.rows;
  for (auto& row : copy) rows.push_back(row.data());
  std::FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  const bool ok = encode(file, &spec, rows.data());
  std::fclose(file);
  ASSERT_TRUE(ok) << "libpng could not write " << path;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// The message of the vit::Error that reading `path` throws ("" when none).
std::string read_error(const std::string& path, int64_t channels = 1) {
  try {
    read_png(path, channels);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A 4x2 gray image with values 0, 1, 2, 100, 127, 128, 254, 255.
const std::vector<uint8_t> kGray = {0, 1, 2, 100, 127, 128, 254, 255};

PngSpec gray8() {
  PngSpec spec;
  spec.width = 4;
  spec.height = 2;
  spec.rows = {{kGray.begin(), kGray.begin() + 4}, {kGray.begin() + 4, kGray.end()}};
  return spec;
}

TEST(PngRead, Gray8ReadsBackExactly) {
  TempDir dir;
  write_test_png(dir.file("a.png"), gray8());
  const PixelImage image = read_png(dir.file("a.png"), 1);
  EXPECT_EQ(image.width, 4);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.samples, kGray);
  EXPECT_EQ(image.at(3, 1), 255);
}

TEST(PngRead, Gray8AsRgbCopiesTheValue) {
  TempDir dir;
  write_test_png(dir.file("a.png"), gray8());
  const PixelImage image = read_png(dir.file("a.png"), 3);
  ASSERT_EQ(image.channels, 3);
  for (int64_t i = 0; i < 8; ++i) {
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(image.at(i % 4, i / 4, c), kGray[i]);
  }
}

TEST(PngRead, Gray16IsScaledTo8Bits) {
  PngSpec spec = gray8();
  for (size_t y = 0; y < 2; ++y) {
    std::vector<uint8_t> row;
    for (size_t x = 0; x < 4; ++x) {
      const unsigned v = kGray[y * 4 + x] * 257u;  // 8-bit v as 16 bits: v * 65535 / 255
      row.push_back(static_cast<uint8_t>(v >> 8));
      row.push_back(static_cast<uint8_t>(v & 0xff));
    }
    spec.rows[y] = row;
  }
  spec.bit_depth = 16;
  TempDir dir;
  write_test_png(dir.file("a.png"), spec);
  EXPECT_EQ(read_png(dir.file("a.png"), 1).samples, kGray);
}

TEST(PngRead, LowBitDepthGrayIsExpanded) {
  TempDir dir;
  PngSpec one;  // 1 bit: 8 pixels in one byte, 1 -> 255
  one.width = 8;
  one.height = 1;
  one.bit_depth = 1;
  one.rows = {{0b10100001}};
  write_test_png(dir.file("1.png"), one);
  EXPECT_EQ(read_png(dir.file("1.png"), 1).samples,
            (std::vector<uint8_t>{255, 0, 255, 0, 0, 0, 0, 255}));

  PngSpec four;  // 4 bits: v -> v * 17
  four.width = 4;
  four.height = 1;
  four.bit_depth = 4;
  four.rows = {{0x0f, 0x18}};
  write_test_png(dir.file("4.png"), four);
  EXPECT_EQ(read_png(dir.file("4.png"), 1).samples, (std::vector<uint8_t>{0, 255, 17, 136}));
}

TEST(PngRead, RgbBecomesGrayByLuminance) {
  PngSpec spec;
  spec.width = 4;
  spec.height = 1;
  spec.color_type = PNG_COLOR_TYPE_RGB;
  spec.rows = {{200, 200, 200, 255, 0, 0, 0, 255, 0, 0, 0, 255}};
  TempDir dir;
  write_test_png(dir.file("a.png"), spec);
  const PixelImage gray = read_png(dir.file("a.png"), 1);
  ASSERT_EQ(gray.samples.size(), 4u);
  EXPECT_EQ(gray.samples[0], 200);       // r = g = b keeps its value
  EXPECT_NEAR(gray.samples[1], 54, 1);   // 0.2126 * 255
  EXPECT_NEAR(gray.samples[2], 182, 1);  // 0.7152 * 255
  EXPECT_NEAR(gray.samples[3], 18, 1);   // 0.0722 * 255
  const PixelImage rgb = read_png(dir.file("a.png"), 3);
  EXPECT_EQ(rgb.samples, spec.rows[0]);
}

TEST(PngRead, AlphaIsCompositedOnWhite) {
  TempDir dir;
  PngSpec rgba;
  rgba.width = 3;
  rgba.height = 1;
  rgba.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  // opaque 10, fully transparent black, half transparent black
  rgba.rows = {{10, 10, 10, 255, 0, 0, 0, 0, 0, 0, 0, 128}};
  write_test_png(dir.file("rgba.png"), rgba);
  EXPECT_EQ(read_png(dir.file("rgba.png"), 1).samples, (std::vector<uint8_t>{10, 255, 127}));
  EXPECT_EQ(read_png(dir.file("rgba.png"), 3).samples,
            (std::vector<uint8_t>{10, 10, 10, 255, 255, 255, 127, 127, 127}));

  PngSpec gray_alpha;
  gray_alpha.width = 3;
  gray_alpha.height = 1;
  gray_alpha.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  gray_alpha.rows = {{10, 255, 0, 0, 0, 128}};
  write_test_png(dir.file("ga.png"), gray_alpha);
  EXPECT_EQ(read_png(dir.file("ga.png"), 1).samples, (std::vector<uint8_t>{10, 255, 127}));
}

TEST(PngRead, PaletteWithTransparencyIsExpanded) {
  PngSpec spec;
  spec.width = 3;
  spec.height = 1;
  spec.color_type = PNG_COLOR_TYPE_PALETTE;
  spec.palette = {{0, 0, 0}, {10, 10, 10}, {0, 255, 0}};
  spec.palette_alpha = {0};  // index 0 transparent, the others opaque
  spec.rows = {{0, 1, 2}};
  TempDir dir;
  write_test_png(dir.file("a.png"), spec);
  const PixelImage image = read_png(dir.file("a.png"), 1);
  ASSERT_EQ(image.samples.size(), 3u);
  EXPECT_EQ(image.samples[0], 255);  // transparent: white
  EXPECT_EQ(image.samples[1], 10);
  EXPECT_NEAR(image.samples[2], 182, 1);
}

TEST(PngRead, InterlacedImagesReadLikePlainOnes) {
  PngSpec spec;
  spec.width = 9;
  spec.height = 9;
  spec.interlaced = true;
  std::vector<uint8_t> expected;
  for (uint32_t y = 0; y < 9; ++y) {
    std::vector<uint8_t> row;
    for (uint32_t x = 0; x < 9; ++x) row.push_back(static_cast<uint8_t>(y * 9 + x));
    expected.insert(expected.end(), row.begin(), row.end());
    spec.rows.push_back(row);
  }
  TempDir dir;
  write_test_png(dir.file("a.png"), spec);
  EXPECT_EQ(read_png(dir.file("a.png"), 1).samples, expected);
}

TEST(PngRead, MissingEmptyAndForeignFilesAreNamed) {
  TempDir dir;
  const std::string missing = dir.file("missing.png");
  EXPECT_EQ(read_error(missing), missing + ": no such file (a PNG image)");

  write_bytes(dir.file("empty.png"), {});
  EXPECT_EQ(read_error(dir.file("empty.png")),
            dir.file("empty.png") + ": empty file, not a PNG image");

  write_bytes(dir.file("text.png"), {'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_EQ(read_error(dir.file("text.png")).rfind(dir.file("text.png") + ": not a PNG image", 0),
            0u);

  EXPECT_EQ(read_error(dir.path().string()),
            dir.path().string() + ": is a folder, not a PNG image (only a regular file is read)");
}

// A FIFO named like an image would block the program forever (the other images never
// classified), /dev/zero would never end: refused at once, before a byte is read.
TEST(PngRead, SpecialFilesAreRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("fifo.png").c_str(), 0600), 0);
  EXPECT_EQ(read_error(dir.file("fifo.png")),
            dir.file("fifo.png") + ": is a FIFO, not a PNG image (only a regular file is read)");
  std::filesystem::create_symlink("/dev/zero", dir.file("zero.png"));
  EXPECT_EQ(read_error(dir.file("zero.png")),
            dir.file("zero.png") + ": is a device, not a PNG image (only a regular file is read)");
}

TEST(PngRead, TruncatedFilesAreRefused) {
  TempDir dir;
  PngSpec spec;
  spec.width = 64;
  spec.height = 64;
  for (uint32_t y = 0; y < 64; ++y) {
    std::vector<uint8_t> row;
    for (uint32_t x = 0; x < 64; ++x) row.push_back(static_cast<uint8_t>((x * 7 + y * 13) % 251));
    spec.rows.push_back(row);
  }
  write_test_png(dir.file("full.png"), spec);
  const std::vector<uint8_t> bytes = file_bytes(dir.file("full.png"));
  ASSERT_GT(bytes.size(), 100u);
  // Cut inside the header, inside the image data, and just before the end chunk.
  for (const size_t keep : {size_t{8}, size_t{20}, bytes.size() / 2, bytes.size() - 12}) {
    const std::string path = dir.file("cut-" + std::to_string(keep) + ".png");
    write_bytes(path, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)});
    const std::string error = read_error(path);
    EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
    EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  }
}

// A PNG made by hand: signature, IHDR of width x height gray 8-bit, then `rest` chunks.
std::vector<uint8_t> hand_made_png(uint32_t width, uint32_t height) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> chunk = {0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (const uint32_t v : {width, height}) {
    for (int shift = 24; shift >= 0; shift -= 8) chunk.push_back(static_cast<uint8_t>(v >> shift));
  }
  chunk.insert(chunk.end(), {8, 0, 0, 0, 0});  // 8 bits, gray, deflate, filter 0, no interlace
  const uLong crc = crc32(0, chunk.data() + 4, static_cast<uInt>(chunk.size() - 4));
  for (int shift = 24; shift >= 0; shift -= 8) chunk.push_back(static_cast<uint8_t>(crc >> shift));
  out.insert(out.end(), chunk.begin(), chunk.end());
  return out;
}

TEST(PngRead, ZeroAndHugeSidesAreRefused) {
  TempDir dir;
  for (const auto& [width, height] :
       {std::pair<uint32_t, uint32_t>{0, 28}, {28, 0}, {kMaxPngSide + 1, 28}}) {
    const std::string path =
        dir.file("side-" + std::to_string(width) + "x" + std::to_string(height) + ".png");
    write_bytes(path, hand_made_png(width, height));
    const std::string error = read_error(path);
    EXPECT_EQ(error.rfind(path + ": not a valid PNG image", 0), 0u) << error;
  }
}

TEST(PngRead, DamagedImageDataIsRefused) {
  TempDir dir;
  write_test_png(dir.file("a.png"), gray8());
  std::vector<uint8_t> bytes = file_bytes(dir.file("a.png"));
  // The first IDAT chunk's data: a flipped byte breaks its CRC (a critical chunk: an error).
  const std::string text(bytes.begin(), bytes.end());
  const size_t idat = text.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  bytes[idat + 6] ^= 0xff;
  write_bytes(dir.file("bad.png"), bytes);
  const std::string error = read_error(dir.file("bad.png"));
  EXPECT_EQ(error.rfind(dir.file("bad.png") + ": truncated or damaged PNG image", 0), 0u) << error;
}

TEST(PngRead, OnlyGrayOrRgbCanBeAskedFor) {
  TempDir dir;
  write_test_png(dir.file("a.png"), gray8());
  EXPECT_NE(read_error(dir.file("a.png"), 2).find("only 1 (gray) or 3 (RGB)"), std::string::npos);
}

}  // namespace
}  // namespace vit
