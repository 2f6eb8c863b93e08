#include "eval/png_read.h"

#ifdef VIT_WITH_PNG
#include <png.h>
#endif

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "util/error.h"
#include "util/input_file.h"

namespace vit {
namespace {

constexpr size_t kErrorSize = 256;
constexpr uint64_t kMaxPngBytes = uint64_t{256} << 20;  // 256 MiB: a large photo is a few MiB
constexpr size_t kSignatureSize = 8;
constexpr unsigned char kSignature[kSignatureSize] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

#ifdef VIT_WITH_PNG

// libpng's error callback: keeps the message (with the warning before it, which often says what
// an error like "Invalid IHDR data" means), then jumps back to the setjmp of the running step.
[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<char*>(png_get_error_ptr(png));
  char warning[kErrorSize];
  std::snprintf(warning, kErrorSize, "%s", error);
  if (warning[0] != '\0') {
    std::snprintf(error, kErrorSize, "%.120s (%.120s)", message, warning);  // both fit
  } else {
    std::snprintf(error, kErrorSize, "%s", message);
  }
  png_longjmp(png, 1);
}

void on_png_warning(png_structp png, png_const_charp message) {
  auto* error = static_cast<char*>(png_get_error_ptr(png));
  if (error[0] == '\0') std::snprintf(error, kErrorSize, "%s", message);
}

// libpng's own reader says only "Read Error" for a short file; this one says it is truncated.
void read_from_file(png_structp png, png_bytep data, png_size_t length) {
  auto* file = static_cast<std::FILE*>(png_get_io_ptr(png));
  if (std::fread(data, 1, length, file) != length) {
    png_error(png, std::ferror(file) ? "read error" : "the file ends early (truncated)");
  }
}

// libpng's read and info structs, destroyed together on every path out. Neither copied nor moved:
// libpng holds a pointer to error_.
class PngReader {
 public:
  PngReader() {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, error_, on_png_error, on_png_warning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngReader() { png_destroy_read_struct(&png_, &info_, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }
  const char* error() const { return error_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
  char error_[kErrorSize] = "";
};

struct Layout {
  uint32_t width = 0;
  uint32_t height = 0;
  int channels = 0;  // after the transforms: `channels`, plus one when the image has alpha
  size_t row_bytes = 0;
};

// libpng reports errors by longjmp back to the setjmp below. The jump must skip no C++
// destructor: this frame and the callbacks hold only trivial locals, and the caller turns a false
// return into an exception once libpng is done.
bool read_header(png_structp png, png_infop info, std::FILE* file, int channels, Layout* out) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, file, read_from_file);
  png_set_sig_bytes(png, kSignatureSize);  // the caller has read and checked them
  png_set_user_limits(png, kMaxPngSide, kMaxPngSide);
  png_read_info(png, info);
  png_set_expand(png);  // palette -> RGB, gray of 1, 2, 4 bits -> 8, tRNS -> an alpha channel
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
  png_set_scale_16(png);  // 16 -> 8 bits rounded (v * 255 / 65535), not just the high byte
#else
  png_set_strip_16(png);
#endif
  const bool color = (png_get_color_type(png, info) & PNG_COLOR_MASK_COLOR) != 0;
  if (channels == 1 && color) {
    // libpng's default weights (ITU-R BT.709: 0.2126 R + 0.7152 G + 0.0722 B); r = g = b stays v.
    png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, -1, -1);
  }
  if (channels == 3 && !color) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out->width = png_get_image_width(png, info);
  out->height = png_get_image_height(png, info);
  out->channels = png_get_channels(png, info);
  out->row_bytes = png_get_rowbytes(png, info);
  return true;
}

// The image data and the chunks after it; errors as in read_header.
bool read_rows(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  return true;
}

PixelImage decode(const std::string& path, std::FILE* file, int channels) {
  PngReader reader;
  VIT_CHECK(reader.ok(), path, ": cannot create a libpng reader");
  Layout layout;
  VIT_CHECK(read_header(reader.png(), reader.info(), file, channels, &layout), path,
            ": not a valid PNG image: ", reader.error());
  const bool alpha = layout.channels == channels + 1;
  VIT_CHECK(layout.channels == channels || alpha, path, ": libpng decoded ", layout.channels,
            " channels where ", channels, " or ", channels + 1, " were asked for");
  VIT_CHECK(layout.width > 0 && layout.height > 0, path, ": an image of ", layout.width, "x",
            layout.height, " pixels");
  VIT_CHECK(layout.row_bytes == size_t{layout.width} * static_cast<size_t>(layout.channels), path,
            ": unexpected row size ", layout.row_bytes, " after libpng's transforms");

  std::vector<uint8_t> decoded(layout.row_bytes * layout.height);
  std::vector<png_bytep> rows(layout.height);
  for (uint32_t y = 0; y < layout.height; ++y) rows[y] = decoded.data() + y * layout.row_bytes;
  VIT_CHECK(read_rows(reader.png(), rows.data()), path,
            ": truncated or damaged PNG image: ", reader.error());

  PixelImage image;
  image.width = layout.width;
  image.height = layout.height;
  image.channels = channels;
  if (!alpha) {
    image.samples = std::move(decoded);
    return image;
  }
  // Alpha composited against white, rounded: v * a / 255 + 255 * (1 - a / 255).
  const size_t pixels = size_t{layout.width} * layout.height;
  image.samples.resize(pixels * static_cast<size_t>(channels));
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* in = decoded.data() + p * static_cast<size_t>(channels + 1);
    const unsigned a = in[channels];
    for (int c = 0; c < channels; ++c) {
      image.samples[p * static_cast<size_t>(channels) + static_cast<size_t>(c)] =
          static_cast<uint8_t>((in[c] * a + 255 * (255 - a) + 127) / 255);
    }
  }
  return image;
}

#else
PixelImage decode(const std::string& path, std::FILE*, int) {
  VIT_FAIL(path,
           ": cannot read PNG images: this build has no libpng (install libpng-dev, then "
           "reconfigure and rebuild)");
}
#endif

}  // namespace

PixelImage read_png(const std::string& path, int64_t channels) {
  VIT_CHECK(channels == 1 || channels == 3, path, ": the model takes images of ", channels,
            " channels; only 1 (gray) or 3 (RGB) can be made from a PNG");
  // A regular file of bounded size, opened without blocking: a FIFO named like an image is
  // refused at once (the other images are still classified), /dev/zero too.
  InputFile input(path, kMaxPngBytes, "a PNG image");
  File file(::fdopen(input.fd(), "rb"));
  VIT_CHECK(file != nullptr, path, ": cannot open: ", std::strerror(errno));
  input.release();  // fclose closes it now
  unsigned char signature[kSignatureSize] = {};
  const size_t got = std::fread(signature, 1, kSignatureSize, file.get());
  VIT_CHECK(!std::ferror(file.get()), path, ": cannot read: ", std::strerror(errno));
  VIT_CHECK(got > 0, path, ": empty file, not a PNG image");
  VIT_CHECK(got == kSignatureSize && std::memcmp(signature, kSignature, kSignatureSize) == 0, path,
            ": not a PNG image (it does not start with the PNG signature)");
  return decode(path, file.get(), static_cast<int>(channels));
}

}  // namespace vit
