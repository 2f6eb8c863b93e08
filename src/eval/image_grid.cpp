#include "eval/image_grid.h"

#include <algorithm>
#include <array>

#include "util/error.h"

namespace vit {
namespace {

constexpr int64_t kGlyphWidth = 5;
constexpr int64_t kGlyphHeight = 7;
using Glyph = std::array<const char*, kGlyphHeight>;

// Our own 5x7 bitmap font, just what the labels need: '#' is ink.
const Glyph* glyph(char ch) {
  static const Glyph kDigits[10] = {
      {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},  // 0
      {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},  // 1
      {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},  // 2
      {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},  // 3
      {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},  // 4
      {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},  // 5
      {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},  // 6
      {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},  // 7
      {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},  // 8
      {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},  // 9
  };
  static const Glyph kArrow = {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."};
  static const Glyph kSpace = {".....", ".....", ".....", ".....", ".....", ".....", "....."};
  if (ch >= '0' && ch <= '9') return &kDigits[ch - '0'];
  if (ch == '>') return &kArrow;
  if (ch == ' ') return &kSpace;
  return nullptr;
}

constexpr Rgb kBackground{64, 64, 76};  // lighter than MNIST's black, so tiles stand apart
constexpr Rgb kTruth{90, 220, 90};
constexpr Rgb kArrowColor{200, 200, 200};
constexpr Rgb kPredicted{245, 85, 85};

}  // namespace

int64_t text_width(const std::string& text, int64_t scale) {
  if (text.empty()) return 0;
  const auto n = static_cast<int64_t>(text.size());
  return (n * kGlyphWidth + (n - 1)) * scale;
}

void draw_text(RgbImage& image, int64_t x, int64_t y, const std::string& text, Rgb color,
               int64_t scale) {
  for (const char ch : text) {
    const Glyph* g = glyph(ch);
    VIT_CHECK(g != nullptr, "draw_text: the built-in font has no glyph for '", ch, "'");
    for (int64_t row = 0; row < kGlyphHeight; ++row) {
      for (int64_t column = 0; column < kGlyphWidth; ++column) {
        if ((*g)[row][column] == '#') {
          image.fill(x + column * scale, y + row * scale, scale, scale, color);
        }
      }
    }
    x += (kGlyphWidth + 1) * scale;
  }
}

RgbImage labelled_grid(const torch::Tensor& images, const std::vector<int64_t>& truth,
                       const std::vector<int64_t>& predicted, const GridOptions& options) {
  VIT_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
            "labelled_grid: images must be (k, channels, height, width) uint8, got ",
            images.sizes(), " ", images.scalar_type());
  const int64_t k = images.size(0), channels = images.size(1);
  VIT_CHECK(static_cast<int64_t>(truth.size()) == k && static_cast<int64_t>(predicted.size()) == k,
            "labelled_grid: ", k, " images but ", truth.size(), " true and ", predicted.size(),
            " predicted labels");
  VIT_CHECK(options.columns > 0 && options.scale > 0,
            "labelled_grid: columns and scale must be positive, got ", options.columns, " and ",
            options.scale);
  const int64_t s = options.scale, font = std::max<int64_t>(1, s * 2 / 3);
  const int64_t tile_w = images.size(3) * s, tile_h = images.size(2) * s;
  const int64_t margin = 2 * s;
  // "9 > 9" is as wide as any label.
  const int64_t cell_w = std::max(tile_w, text_width("9 > 9", font)) + margin;
  const int64_t cell_h = tile_h + s + kGlyphHeight * font + margin;
  const int64_t columns = std::max<int64_t>(1, std::min(options.columns, k));
  const int64_t rows = std::max<int64_t>(1, (k + columns - 1) / columns);
  RgbImage grid(margin + columns * cell_w, margin + rows * cell_h, kBackground);

  const auto pixels = images.to(torch::kCPU).contiguous();
  const auto view = pixels.accessor<uint8_t, 4>();
  for (int64_t i = 0; i < k; ++i) {
    const int64_t x0 = margin + (i % columns) * cell_w, y0 = margin + (i / columns) * cell_h;
    const int64_t left = x0 + (cell_w - margin - tile_w) / 2;
    for (int64_t y = 0; y < images.size(2); ++y) {
      for (int64_t x = 0; x < images.size(3); ++x) {
        const uint8_t v = view[i][0][y][x];
        const Rgb color = channels == 3 ? Rgb{v, view[i][1][y][x], view[i][2][y][x]} : Rgb{v, v, v};
        grid.fill(left + x * s, y0 + y * s, s, s, color);
      }
    }
    // "<truth> > <predicted>", centred under the image.
    const std::string t = std::to_string(truth[i]), p = std::to_string(predicted[i]);
    const int64_t label_w = text_width(t + " > " + p, font);
    int64_t x = x0 + (cell_w - margin - label_w) / 2;
    const int64_t y = y0 + tile_h + s;
    draw_text(grid, x, y, t, kTruth, font);
    x += text_width(t + " ", font) + font;
    draw_text(grid, x, y, ">", kArrowColor, font);
    x += text_width("> ", font) + font;
    draw_text(grid, x, y, p, kPredicted, font);
  }
  return grid;
}

}  // namespace vit
