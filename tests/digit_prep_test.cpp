// prepare_digit: a digit drawn as a user's photo would show it (dark ink on noisy grey paper,
// off-centre, a little rotated, thick or thin, in a large frame) comes out as MNIST prepares its
// digits: background 0, the brightest pixel 255, the longer side 20 of 28, the centre of mass at
// the centre, and the same picture as the same digit drawn cleanly, white on black, elsewhere.
#include "eval/digit_prep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace vit {
namespace {

const ImageShape kMnist{/*channels=*/1, /*height=*/28, /*width=*/28};

struct Point {
  double x, y;
};

// A "7" in a unit box: the top bar and the long diagonal, and a "4" with a gap between its
// strokes (two components).
const std::vector<std::pair<Point, Point>> kSeven = {{{0.1, 0.05}, {0.9, 0.05}},
                                                     {{0.9, 0.05}, {0.45, 0.95}}};
const std::vector<std::pair<Point, Point>> kFour = {
    {{0.15, 0.0}, {0.0, 0.6}}, {{0.0, 0.6}, {0.8, 0.6}}, {{0.65, 0.1}, {0.65, 1.0}}};

struct Drawing {
  int64_t width = 320, height = 240;
  double paper = 170, ink = 40, noise = 8;  // levels; noise is a standard deviation
  double x = 40, y = 30, size = 90;         // the digit's unit box in the image
  double stroke = 9, angle_deg = 0;         // stroke width in pixels, rotation about its centre
  const std::vector<std::pair<Point, Point>>* strokes = &kSeven;
  uint64_t seed = 1;
  std::vector<Point> specks;  // single dark pixels
};

double distance_to_segment(Point p, Point a, Point b) {
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double t = std::clamp(((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy), 0.0, 1.0);
  return std::hypot(p.x - a.x - t * dx, p.y - a.y - t * dy);
}

// Renders `d` as a gray PixelImage (RGB when `channels` is 3): anti-aliased strokes, noise.
PixelImage draw(const Drawing& d, int64_t channels = 1) {
  const double angle = d.angle_deg * M_PI / 180, cx = d.x + d.size / 2, cy = d.y + d.size / 2;
  auto place = [&](Point u) {
    const double px = d.x + u.x * d.size - cx, py = d.y + u.y * d.size - cy;
    return Point{cx + px * std::cos(angle) - py * std::sin(angle),
                 cy + px * std::sin(angle) + py * std::cos(angle)};
  };
  std::vector<std::pair<Point, Point>> segments;
  for (const auto& [a, b] : *d.strokes) segments.emplace_back(place(a), place(b));
  std::mt19937_64 rng(d.seed);
  std::normal_distribution<double> noise(0, d.noise);
  PixelImage image;
  image.width = d.width;
  image.height = d.height;
  image.channels = channels;
  for (int64_t y = 0; y < d.height; ++y) {
    for (int64_t x = 0; x < d.width; ++x) {
      double nearest = 1e9;
      for (const auto& [a, b] : segments) {
        nearest = std::min(nearest, distance_to_segment({x + 0.5, y + 0.5}, a, b));
      }
      const double cover = std::clamp(d.stroke / 2 + 0.5 - nearest, 0.0, 1.0);
      double v = d.paper + (d.ink - d.paper) * cover + noise(rng);
      for (const Point& s : d.specks) {
        if (static_cast<int64_t>(s.x) == x && static_cast<int64_t>(s.y) == y) v = d.ink;
      }
      for (int64_t c = 0; c < channels; ++c) {
        image.samples.push_back(static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)));
      }
    }
  }
  return image;
}

// The same digit drawn cleanly: white on black, no noise, centred in a small frame.
Drawing clean(Drawing d) {
  d.width = d.height = 80;
  d.paper = 0, d.ink = 255, d.noise = 0;
  d.stroke = d.stroke * 60 / d.size;
  d.size = 60, d.x = d.y = 10;
  return d;
}

torch::Tensor as_float(const PreparedDigit& p) { return p.image[0].to(torch::kFloat64); }

// The correlation of two frames, the best over shifts of up to a pixel each way: rounding the
// centre of mass to a whole pixel may place the same digit one pixel apart.
double correlation(const torch::Tensor& a, const torch::Tensor& b) {
  double best = -1;
  for (int64_t dy = -1; dy <= 1; ++dy) {
    for (int64_t dx = -1; dx <= 1; ++dx) {
      const auto shifted = torch::roll(b, {dy, dx}, {0, 1});
      const auto x = a - a.mean(), y = shifted - shifted.mean();
      best = std::max(best, ((x * y).sum() / (x.norm() * y.norm())).item<double>());
    }
  }
  return best;
}

// The frame as text, for failure messages: ' ' for 0, '.' up to 127, '#' above.
std::string ascii(const torch::Tensor& img) {
  std::string out = "\n";
  for (int64_t y = 0; y < img.size(0); ++y) {
    for (int64_t x = 0; x < img.size(1); ++x) {
      const double v = img[y][x].item<double>();
      out += v == 0 ? ' ' : v < 128 ? '.' : '#';
    }
    out += "|\n";
  }
  return out;
}

void expect_mnist_like(const PreparedDigit& p) {
  ASSERT_TRUE(p.found) << (p.warnings.empty() ? "" : p.warnings[0]);
  const auto img = as_float(p);
  EXPECT_EQ(img.max().item<double>(), 255);
  // The background is 0, as in MNIST: most of the frame, and its corners.
  EXPECT_GT((img == 0).sum().item<int64_t>(), 28 * 28 / 2) << ascii(img);
  EXPECT_EQ(img[0][0].item<double>() + img[0][27].item<double>(), 0) << ascii(img);
  // The longer side of the digit is 20 pixels (give or take the rounding of its faint edge).
  const auto rows = img.sum(1).nonzero(), cols = img.sum(0).nonzero();
  const int64_t h = rows.max().item<int64_t>() - rows.min().item<int64_t>() + 1;
  const int64_t w = cols.max().item<int64_t>() - cols.min().item<int64_t>() + 1;
  EXPECT_GE(std::max(h, w), 19);
  EXPECT_LE(std::max(h, w), 21);
  // The centre of mass at the frame's centre, to the pixel.
  const auto centre = torch::arange(28, torch::kFloat64) + 0.5;
  const double mass = img.sum().item<double>();
  EXPECT_NEAR((img.sum(1) * centre).sum().item<double>() / mass, 14.0, 0.5);
  EXPECT_NEAR((img.sum(0) * centre).sum().item<double>() / mass, 14.0, 0.5);
}

TEST(DigitPrep, APhotoOfADarkDigitOnGreyPaperBecomesMnistLike) {
  const Drawing photo;
  const PreparedDigit p = prepare_digit(draw(photo), kMnist, Invert::kAuto);
  expect_mnist_like(p);
  EXPECT_TRUE(p.inverted);
  EXPECT_NEAR(p.paper, 255 - photo.paper, 2);
  EXPECT_NEAR(p.noise, photo.noise, 1.5);
  EXPECT_NEAR(p.ink, 255 - photo.ink, 2 * photo.noise);  // the ink's 90th percentile
  // The box holds the drawing and little else.
  EXPECT_NEAR(p.box.x, photo.x + 0.1 * photo.size - photo.stroke / 2, 4);
  EXPECT_NEAR(p.box.y, photo.y + 0.05 * photo.size - photo.stroke / 2, 4);
  EXPECT_NEAR(p.box.width, 0.8 * photo.size + photo.stroke, 8);
  EXPECT_TRUE(p.warnings.empty()) << p.warnings[0];
}

TEST(DigitPrep, ThePhotoAndACleanDrawingGiveTheSameInput) {
  for (const auto* strokes : {&kSeven, &kFour}) {
    for (const double angle : {0.0, 8.0}) {
      Drawing photo;
      photo.strokes = strokes;
      photo.angle_deg = angle;
      photo.x = 190, photo.y = 120;  // bottom right this time
      const PreparedDigit from_photo = prepare_digit(draw(photo), kMnist, Invert::kAuto);
      const PreparedDigit from_clean = prepare_digit(draw(clean(photo)), kMnist, Invert::kAuto);
      expect_mnist_like(from_photo);
      expect_mnist_like(from_clean);
      EXPECT_FALSE(from_clean.inverted);
      EXPECT_GT(correlation(as_float(from_photo), as_float(from_clean)), 0.9)
          << (strokes == &kSeven ? "7" : "4") << " at " << angle << " degrees"
          << ascii(as_float(from_photo)) << ascii(as_float(from_clean));
    }
  }
}

TEST(DigitPrep, ThickAndThinStrokesAndColourPhotos) {
  for (const double stroke : {3.0, 18.0}) {
    Drawing photo;
    photo.stroke = stroke;
    expect_mnist_like(prepare_digit(draw(photo, /*channels=*/3), kMnist, Invert::kAuto));
  }
}

TEST(DigitPrep, SpecksAwayFromTheDigitAreNotPartOfIt) {
  Drawing photo;
  const PreparedDigit without = prepare_digit(draw(photo), kMnist, Invert::kAuto);
  photo.specks = {{300, 220}, {301, 220}, {300, 221}, {5, 200}};
  const PreparedDigit with = prepare_digit(draw(photo), kMnist, Invert::kAuto);
  EXPECT_EQ(with.box.x, without.box.x);
  EXPECT_EQ(with.box.width, without.box.width);
  EXPECT_EQ(with.box.height, without.box.height);
  EXPECT_TRUE(torch::equal(with.image, without.image));
}

TEST(DigitPrep, ALightDigitOnDarkPaperIsNotInverted) {
  Drawing photo;
  photo.paper = 30, photo.ink = 220;
  const PreparedDigit p = prepare_digit(draw(photo), kMnist, Invert::kAuto);
  expect_mnist_like(p);
  EXPECT_FALSE(p.inverted);
  // Forcing the wrong polarity finds no digit rather than a frame of paper.
  EXPECT_FALSE(prepare_digit(draw(photo), kMnist, Invert::kYes).found);
}

TEST(DigitPrep, BlankPaperHasNoDigit) {
  Drawing photo;
  photo.ink = photo.paper;
  const PreparedDigit p = prepare_digit(draw(photo), kMnist, Invert::kAuto);
  EXPECT_FALSE(p.found);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("no digit stands out"), std::string::npos) << p.warnings[0];
  EXPECT_EQ(p.image.sum().item<int64_t>(), 0);
}

TEST(DigitPrep, WarnsAboutATinyDigitAndLowContrast) {
  Drawing tiny;
  tiny.size = 8, tiny.stroke = 2, tiny.noise = 2;
  const PreparedDigit small = prepare_digit(draw(tiny), kMnist, Invert::kAuto);
  ASSERT_TRUE(small.found);
  ASSERT_FALSE(small.warnings.empty());
  EXPECT_NE(small.warnings[0].find("pixels high or wide"), std::string::npos) << small.warnings[0];

  Drawing faint;
  faint.ink = 130, faint.noise = 3;  // 40 levels below the paper
  const PreparedDigit low = prepare_digit(draw(faint), kMnist, Invert::kAuto);
  expect_mnist_like(low);
  ASSERT_FALSE(low.warnings.empty());
  EXPECT_NE(low.warnings[0].find("low contrast"), std::string::npos) << low.warnings[0];
}

TEST(DigitPrep, OtherFrameSizesScaleTheBox) {
  const ImageShape frame{1, 56, 42};
  const PreparedDigit p = prepare_digit(draw(Drawing{}), frame, Invert::kAuto);
  ASSERT_TRUE(p.found);
  EXPECT_EQ(p.image.sizes(), (std::vector<int64_t>{1, 56, 42}));
  const auto img = as_float(p);
  const auto cols = img.sum(0).nonzero();
  // The 7 is wider than tall relative to 40x30: its width fills the box's 30.
  EXPECT_NEAR(cols.max().item<int64_t>() - cols.min().item<int64_t>() + 1, 30, 1);
}

}  // namespace
}  // namespace vit
