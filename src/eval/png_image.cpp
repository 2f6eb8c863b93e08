#include "eval/png_image.h"

#ifdef VIT_WITH_PNG
#include <png.h>
#endif

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "util/atomic_file.h"
#include "util/error.h"

namespace vit {
namespace {

constexpr size_t kErrorSize = 256;

#ifdef VIT_WITH_PNG

// libpng's error callback: keeps the message for the caller, then jumps back to encode().
[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<char*>(png_get_error_ptr(png));
  std::snprintf(error, kErrorSize, "%s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

// libpng reports errors with longjmp, which would skip C++ destructors: this function holds only
// trivial locals, and the caller turns a false return into an exception.
bool encode(std::FILE* file, const uint8_t* rgb, uint32_t width, uint32_t height, char* error) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, error, on_png_error, on_png_warning);
  if (png == nullptr) {
    std::snprintf(error, kErrorSize, "cannot create a libpng writer");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(error, kErrorSize, "cannot create a libpng info struct");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, /*bit_depth=*/8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (uint32_t y = 0; y < height; ++y) {
    png_write_row(png, rgb + static_cast<size_t>(y) * width * 3);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

#else
bool encode(std::FILE*, const uint8_t*, uint32_t, uint32_t, char* error) {
  std::snprintf(error, kErrorSize, "this build has no libpng (install libpng-dev and rebuild)");
  return false;
}
#endif
}  // namespace

bool png_supported() {
#ifdef VIT_WITH_PNG
  return true;
#else
  return false;
#endif
}

RgbImage::RgbImage(int64_t width, int64_t height, Rgb background) : width_(width), height_(height) {
  VIT_CHECK(width > 0 && height > 0 && width <= (1 << 20) && height <= (1 << 20), "image of ",
            width, "x", height, " pixels: each side must be 1 to 2^20");
  bytes_.resize(static_cast<size_t>(width * height * 3));
  fill(0, 0, width, height, background);
}

Rgb RgbImage::at(int64_t x, int64_t y) const {
  VIT_CHECK(x >= 0 && x < width_ && y >= 0 && y < height_, "pixel (", x, ", ", y,
            ") is outside the ", width_, "x", height_, " image");
  const size_t i = static_cast<size_t>((y * width_ + x) * 3);
  return {bytes_[i], bytes_[i + 1], bytes_[i + 2]};
}

void RgbImage::set(int64_t x, int64_t y, Rgb color) {
  if (x < 0 || x >= width_ || y < 0 || y >= height_) return;
  const size_t i = static_cast<size_t>((y * width_ + x) * 3);
  bytes_[i] = color.r;
  bytes_[i + 1] = color.g;
  bytes_[i + 2] = color.b;
}

void RgbImage::fill(int64_t x, int64_t y, int64_t w, int64_t h, Rgb color) {
  for (int64_t row = y; row < y + h; ++row) {
    for (int64_t column = x; column < x + w; ++column) set(column, row, color);
  }
}

void write_png(const std::string& path, const RgbImage& image) {
  replace_file_atomically(path, [&](const std::string& temp) {
    std::FILE* file = std::fopen(temp.c_str(), "wb");
    VIT_CHECK(file != nullptr, path, ": cannot write: ", std::strerror(errno));
    char error[kErrorSize] = "";
    const bool ok = encode(file, image.bytes().data(), static_cast<uint32_t>(image.width()),
                           static_cast<uint32_t>(image.height()), error);
    const bool closed = std::fclose(file) == 0;
    VIT_CHECK(ok, path, ": cannot write the PNG: ", error);
    VIT_CHECK(closed, path, ": cannot write: ", std::strerror(errno));
  });
}

}  // namespace vit
