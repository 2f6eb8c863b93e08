// Dataset: the four files together, counts that must agree, limits, and batch gathering.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "data/dataset.h"
#include "data/idx.h"
#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

using testing::TempDir;

DataConfig config_for(const std::string& dir) {
  DataConfig config;
  config.dir = dir;
  return config;
}

TEST(Dataset, LoadsTheFourFiles) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 50, 20);
  const Dataset data = load_dataset(config_for(dir.path().string()));
  EXPECT_EQ(data.train.images.sizes(), torch::IntArrayRef({50, 1, 28, 28}));
  EXPECT_EQ(data.train.labels.scalar_type(), torch::kLong);
  EXPECT_EQ(data.test.size(), 20);
  EXPECT_NE(data.source.find("no SOURCE file"), std::string::npos);
}

TEST(Dataset, ReadsUncompressedFilesAndTheSourceNote) {
  TempDir dir;
  const auto [images, labels] = testing::synthetic_digits(10, 3);
  for (const std::string split : {"train", "t10k"}) {
    write_idx(dir.file(split + "-images-idx3-ubyte"), images);
    write_idx(dir.file(split + "-labels-idx1-ubyte"), labels);
  }
  std::ofstream(dir.file("SOURCE")) << "hand-made\n";
  const Dataset data = load_dataset(config_for(dir.path().string()));
  EXPECT_EQ(data.train.size(), 10);
  EXPECT_EQ(data.source, "hand-made");
}

TEST(Dataset, Limits) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 50, 20);
  DataConfig config = config_for(dir.path().string());
  config.train_limit = 7;
  config.test_limit = 100;  // more than there is: all of it
  const Dataset data = load_dataset(config);
  EXPECT_EQ(data.train.size(), 7);
  EXPECT_EQ(data.test.size(), 20);
}

TEST(Dataset, TheValidationSplitIsTheLastTrainingImagesHeldOut) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 50, 20);
  DataConfig config = config_for(dir.path().string());
  const Dataset all = load_dataset(config);
  EXPECT_TRUE(all.val.empty());
  config.train_limit = 40;  // first the limit, then the split: 10 of the 40
  config.val_split = 0.25;
  const Dataset data = load_dataset(config);
  EXPECT_EQ(data.train.size(), 30);
  EXPECT_EQ(data.val.size(), 10);
  EXPECT_TRUE(torch::equal(data.train.images, all.train.images.narrow(0, 0, 30)));
  EXPECT_TRUE(torch::equal(data.val.images, all.train.images.narrow(0, 30, 10)));
  EXPECT_TRUE(torch::equal(data.val.labels, all.train.labels.narrow(0, 30, 10)));
  EXPECT_EQ(data.test.size(), 20);  // the test set is untouched

  Dataset tiny = all;
  try {
    split_off_validation(tiny, 0.001);  // 0.05 of an image
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "data.val_split: 0.001 of 50 training images is no image to validate on");
  }
  try {
    split_off_validation(tiny, 0.99);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "data.val_split: 0.99 of 50 training images leaves none to train on");
  }
}

TEST(Dataset, CountMismatchNamesBothFiles) {
  TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 50, 20);
  write_idx(dir.file("train-labels-idx1-ubyte.gz"), torch::zeros({49}, torch::kUInt8));
  try {
    load_dataset(config_for(dir.path().string()));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("train-images-idx3-ubyte.gz holds 50 images"), std::string::npos)
        << message;
    EXPECT_NE(message.find("train-labels-idx1-ubyte.gz holds 49 labels"), std::string::npos)
        << message;
  }
}

TEST(Dataset, MissingFileIsNamed) {
  TempDir dir;
  try {
    load_dataset(config_for(dir.path().string()));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte"), std::string::npos);
  }
}

TEST(Dataset, GatherNormalisesToUnitRange) {
  Split split{torch::tensor({0, 255, 51, 102}).to(torch::kUInt8).reshape({4, 1, 1, 1}),
              torch::tensor({0, 1, 2, 3}).to(torch::kLong)};
  const Batch batch = gather(split, torch::tensor({3, 1}).to(torch::kLong));
  EXPECT_EQ(batch.images.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(batch.images[0].item<float>(), 0.4f);
  EXPECT_FLOAT_EQ(batch.images[1].item<float>(), 1.0f);
  EXPECT_EQ(batch.labels[0].item<int64_t>(), 3);
  EXPECT_EQ(batch.labels[1].item<int64_t>(), 1);
}

}  // namespace
}  // namespace vit
