// to_model_image: a user's image becomes the model's uint8 input: unchanged at the model's size,
// area-averaged when resized, padded to the model's aspect ratio with its background, inverted
// when its background is light (or as asked).
#include "eval/model_input.h"

#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace vit {
namespace {

const ImageShape kMnist{/*channels=*/1, /*height=*/28, /*width=*/28};

// A gray image whose pixel (x, y) is f(x, y).
template <typename F>
PixelImage gray_image(int64_t width, int64_t height, F f) {
  PixelImage image;
  image.width = width;
  image.height = height;
  image.channels = 1;
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) image.samples.push_back(static_cast<uint8_t>(f(x, y)));
  }
  return image;
}

uint8_t pixel(const ModelImage& image, int64_t x, int64_t y) {
  return image.image[0][y][x].item<uint8_t>();
}

// A dark "digit" on black: a bright block and some texture, border 0.
int64_t digit(int64_t x, int64_t y) {
  if (x == 0 || y == 0 || x == 27 || y == 27) return 0;
  return (x >= 10 && x < 18 && y >= 5 && y < 23) ? 255 : (x * 3 + y * 5) % 40;
}

TEST(ModelInput, ModelSizedImagesPassUnchanged) {
  const PixelImage image = gray_image(28, 28, digit);
  const ModelImage out = to_model_image(image, kMnist, Invert::kAuto);
  EXPECT_FALSE(out.resized);
  EXPECT_FALSE(out.inverted);
  ASSERT_EQ(out.image.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(out.image.dtype(), torch::kUInt8);
  for (int64_t y = 0; y < 28; ++y) {
    for (int64_t x = 0; x < 28; ++x) ASSERT_EQ(pixel(out, x, y), digit(x, y)) << x << "," << y;
  }
}

TEST(ModelInput, DoubleSizeAveragesTwoByTwoBlocks) {
  // Each 2x2 block holds a, a+2, a+4, a+6 around the block's value: their mean is a + 3.
  const PixelImage image = gray_image(56, 56, [](int64_t x, int64_t y) {
    return digit(x / 2, y / 2) / 2 + 2 * (x % 2) + 4 * (y % 2);
  });
  const ModelImage out = to_model_image(image, kMnist, Invert::kNo);
  EXPECT_TRUE(out.resized);
  for (int64_t y = 0; y < 28; ++y) {
    for (int64_t x = 0; x < 28; ++x) ASSERT_EQ(pixel(out, x, y), digit(x, y) / 2 + 3);
  }
}

TEST(ModelInput, HalfSizeRepeatsEachPixel) {
  const PixelImage image = gray_image(14, 14, [](int64_t x, int64_t y) { return x * 10 + y; });
  const ModelImage out = to_model_image(image, kMnist, Invert::kNo);
  for (int64_t y = 0; y < 28; ++y) {
    for (int64_t x = 0; x < 28; ++x) ASSERT_EQ(pixel(out, x, y), (x / 2) * 10 + y / 2);
  }
}

TEST(ModelInput, AreaWeightsCoverFractionalPixels) {
  const auto w = area_weights(/*n_in=*/3, /*n_out=*/2);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_NEAR(w[0][0].item<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(w[0][1].item<double>(), 1.0 / 3, 1e-12);
  EXPECT_EQ(w[0][2].item<double>(), 0.0);
  EXPECT_EQ(w[1][0].item<double>(), 0.0);
  EXPECT_NEAR(w[1][1].item<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(w[1][2].item<double>(), 2.0 / 3, 1e-12);
  for (const auto& [in, out] :
       {std::pair<int64_t, int64_t>{300, 28}, {28, 28}, {5, 28}, {29, 28}}) {
    const auto sums = area_weights(in, out).sum(/*dim=*/1);
    EXPECT_TRUE(torch::allclose(sums, torch::ones({out}, torch::kFloat64))) << in << "->" << out;
  }
}

TEST(ModelInput, ANarrowImageIsPaddedWithItsBackground) {
  // 14 wide, 28 high, background 20, a bright column in the middle: padded to 28x28 with 20,
  // centred (7 columns each side), not stretched.
  const PixelImage image =
      gray_image(14, 28, [](int64_t x, int64_t y) { return x == 7 && y > 0 && y < 27 ? 250 : 20; });
  const ModelImage out = to_model_image(image, kMnist, Invert::kAuto);
  EXPECT_TRUE(out.resized);
  EXPECT_FALSE(out.inverted);
  for (int64_t y = 0; y < 28; ++y) {
    for (int64_t x = 0; x < 28; ++x) {
      const int expected = (x == 14 && y > 0 && y < 27) ? 250 : 20;
      ASSERT_EQ(pixel(out, x, y), expected) << x << "," << y;
    }
  }
}

TEST(ModelInput, ALightBackgroundIsInvertedWhenAuto) {
  const PixelImage dark_on_light =
      gray_image(28, 28, [](int64_t x, int64_t y) { return 255 - digit(x, y); });
  EXPECT_GT(border_mean(dark_on_light), 127.5);
  const ModelImage out = to_model_image(dark_on_light, kMnist, Invert::kAuto);
  EXPECT_TRUE(out.inverted);
  for (int64_t y = 0; y < 28; ++y) {
    for (int64_t x = 0; x < 28; ++x) ASSERT_EQ(pixel(out, x, y), digit(x, y));
  }
  EXPECT_FALSE(to_model_image(dark_on_light, kMnist, Invert::kNo).inverted);
  const PixelImage light_on_dark = gray_image(28, 28, digit);
  EXPECT_TRUE(to_model_image(light_on_dark, kMnist, Invert::kYes).inverted);
  EXPECT_EQ(pixel(to_model_image(light_on_dark, kMnist, Invert::kYes), 12, 10), 0);
}

TEST(ModelInput, BorderMeanIsTheOutermostRing) {
  // Border 100, inside 0: a 3x3 image has 8 border pixels and 1 inside.
  const PixelImage image =
      gray_image(3, 3, [](int64_t x, int64_t y) { return x == 1 && y == 1 ? 0 : 100; });
  EXPECT_DOUBLE_EQ(border_mean(image), 100.0);
  EXPECT_DOUBLE_EQ(border_mean(gray_image(1, 1, [](int64_t, int64_t) { return 7; })), 7.0);
}

TEST(ModelInput, InvertOptionIsParsed) {
  EXPECT_EQ(parse_invert("auto", "--invert"), Invert::kAuto);
  EXPECT_EQ(parse_invert("yes", "--invert"), Invert::kYes);
  EXPECT_EQ(parse_invert("no", "--invert"), Invert::kNo);
  try {
    parse_invert("maybe", "--invert");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "--invert: 'maybe' (allowed: auto, yes, no)");
  }
}

TEST(ModelInput, ChannelsMustMatchTheModel) {
  PixelImage rgb = gray_image(28, 28, digit);
  rgb.channels = 3;
  rgb.samples.resize(28 * 28 * 3);
  EXPECT_THROW(to_model_image(rgb, kMnist, Invert::kAuto), Error);
}

}  // namespace
}  // namespace vit
