// vit-predict's units: the model file found for a run directory, the command line over the file's
// stored keys, and one image classified exactly as the model classifies the same test-set pixels.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <sstream>
#include <variant>

#include "data/dataset.h"
#include "parallel/solo_communicator.h"
#include "eval/eval_config.h"
#include "eval/png_image.h"
#include "eval/png_read.h"
#include "eval/predict_config.h"
#include "eval/prediction.h"
#include "test_util.h"
#include "store/checkpoint.h"
#include "store/checkpoint_dir.h"
#include "store/tensor_file.h"
#include "train/run_dir.h"
#include "train/trainer.h"

namespace vit {
namespace {
namespace fs = std::filesystem;

class PredictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_.file("data"), 256, 20);
    config_.data.dir = dir_.file("data");
    config_.train.epochs = 1;
    config_.train.batch_size = 32;
    config_.model.hidden_d = 16;
    config_.log.every_steps = "0";
    fs::create_directories(checkpoints_dir());
  }
  std::string checkpoints_dir() const { return dir_.file("run/checkpoints"); }
  std::unique_ptr<Trainer> trained() {
    auto trainer =
        std::make_unique<Trainer>(config_, load_dataset(config_.data), solo_, torch::kCPU);
    trainer->fit(nullptr);
    return trainer;
  }
  PredictParseResult parse(std::vector<std::string> args) {
    args.insert(args.begin(), "vit-predict");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    std::ostringstream help;
    return parse_predict_args(static_cast<int>(argv.size()), argv.data(), help);
  }
  std::string error_of(std::vector<std::string> args) {
    try {
      parse(std::move(args));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }
  testing::TempDir dir_;
  TrainConfig config_;
  SoloCommunicator solo_;
};

TEST_F(PredictTest, ARunDirectoryGivesItsFinalModelOrANewerCheckpoint) {
  auto trainer = trained();
  const CheckpointDir checkpoints(checkpoints_dir());
  trainer->save(&checkpoints, 0, 0);
  const std::string checkpoint = checkpoints.path_for(trainer->step());
  const std::string final_model = checkpoints_dir() + "/final.pt";
  write_model_file(final_model, trainer->model(), config_);

  EXPECT_EQ(find_model_file(dir_.file("run")), final_model);
  EXPECT_EQ(find_model_file(checkpoints_dir()), final_model);
  EXPECT_EQ(find_model_file(checkpoint), checkpoint);
  // A checkpoint written after final.pt: a resumed run, still going.
  fs::last_write_time(final_model, fs::last_write_time(checkpoint) - std::chrono::hours(1));
  EXPECT_EQ(find_model_file(dir_.file("run")), checkpoint);
  fs::remove(final_model);
  EXPECT_EQ(find_model_file(dir_.file("run")), checkpoint);

  fs::create_directories(dir_.file("empty/checkpoints"));
  try {
    find_model_file(dir_.file("empty"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir_.file("empty") + ": holds no model file", 0), 0u)
        << e.what();
  }
  EXPECT_NE(error_of({"--model", dir_.file("nowhere"), "a.png"})
                .find(dir_.file("nowhere") + ": no such file or directory"),
            std::string::npos);
}

TEST_F(PredictTest, TheCommandLineKeepsEveryImageAndTheStoredShape) {
  auto trainer = trained();
  const std::string final_model = checkpoints_dir() + "/final.pt";
  write_model_file(final_model, trainer->model(), config_);

  const PredictConfig config =
      parse({"--model", dir_.file("run"), "b.png", "--json", "a.png", "b.png"}).config;
  EXPECT_EQ(config.model_file, final_model);
  EXPECT_EQ(config.images, (std::vector<std::string>{"b.png", "a.png", "b.png"}));
  EXPECT_TRUE(config.json);
  EXPECT_EQ(config.invert, Invert::kAuto);
  EXPECT_EQ(config.run.model.hidden_d, 16);
  EXPECT_EQ(
      parse({"--model", final_model, "--invert", "no", "--invert", "yes", "a.png"}).config.invert,
      Invert::kYes);

  EXPECT_NE(error_of({"a.png"}).find("--model: required"), std::string::npos);
  EXPECT_NE(error_of({"--model", final_model}).find("no image given"), std::string::npos);
  EXPECT_NE(error_of({"--model", final_model, "--invert", "x", "a.png"}).find("--invert: 'x'"),
            std::string::npos);
  EXPECT_NE(error_of({"--model", final_model, "--model.n_heads", "3", "a.png"})
                .find("model.hidden_d: 16 is not divisible by model.n_heads = 3"),
            std::string::npos);
  EXPECT_NE(error_of({"--model", final_model, "--bogus", "a.png"}).find("command line: "),
            std::string::npos);
}

// Issue 25: the model file stores the shape of its images and vit-predict takes it from there; a
// file without it (of earlier versions) gets data.dataset's 1x28x28, as before.
TEST_F(PredictTest, TheModelFileStoresItsImageShape) {
  torch::manual_seed(1);
  VisionTransformer model(config_.model, ImageShape{1, 14, 21}, kNumClasses);
  const std::string path = checkpoints_dir() + "/final.pt";
  write_model_file(path, model, config_);
  const StoredRun stored = read_stored_run(path);
  ASSERT_TRUE(stored.image.has_value());
  EXPECT_EQ(stored.image->channels, 1);
  EXPECT_EQ(stored.image->height, 14);
  EXPECT_EQ(stored.image->width, 21);
  const PredictConfig config = parse({"--model", path, "a.png"}).config;
  EXPECT_EQ(config.image.channels, 1);
  EXPECT_EQ(config.image.height, 14);
  EXPECT_EQ(config.image.width, 21);

  // The same file as an earlier version wrote it: no image/ entries.
  const TensorFile written = TensorFile::load(path);
  TensorFile old;
  for (const auto& [key, value] : written.entries()) {
    if (key.rfind("image/", 0) == 0) continue;
    std::visit([&, k = key](const auto& v) { old.put(k, v); }, value);
  }
  old.save(path);
  EXPECT_FALSE(read_stored_run(path).image.has_value());
  const PredictConfig old_config = parse({"--model", path, "a.png"}).config;
  EXPECT_EQ(old_config.image.channels, 1);
  EXPECT_EQ(old_config.image.height, 28);
  EXPECT_EQ(old_config.image.width, 28);
}

TEST_F(PredictTest, APngOfATestImageScoresAsTheModelDoesOnItsPixels) {
  if (!png_supported()) GTEST_SKIP() << "built without libpng (VIT_PNG)";
  auto trainer = trained();
  VisionTransformer& model = trainer->model();
  model->eval();
  const Split test = load_test_split(config_.data);
  const ImageShape shape = run_image_shape(config_.data);
  for (int64_t i = 0; i < 5; ++i) {
    // An RGB PNG with r = g = b: read back as gray, it is the test image's pixels.
    const auto pixels = test.images[i][0];
    RgbImage image(28, 28);
    for (int64_t y = 0; y < 28; ++y) {
      for (int64_t x = 0; x < 28; ++x) {
        const auto v = pixels[y][x].item<uint8_t>();
        image.set(x, y, {v, v, v});
      }
    }
    const std::string path = dir_.file("test-" + std::to_string(i) + ".png");
    write_png(path, image);

    const Prediction prediction = predict_image(model, shape, path, PredictOptions{});
    torch::NoGradGuard no_grad;
    const auto logits = model->forward(to_float_images(test.images.narrow(0, i, 1)))[0];
    const auto expected = logits.to(torch::kFloat64).softmax(0);
    EXPECT_EQ(prediction.predicted, logits.argmax().item<int64_t>());
    ASSERT_EQ(prediction.probabilities.size(), 10u);
    double sum = 0;
    for (int64_t c = 0; c < 10; ++c) {
      EXPECT_EQ(prediction.probabilities[c], expected[c].item<double>()) << c;
      sum += prediction.probabilities[c];
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
    EXPECT_FALSE(prediction.resized);
    EXPECT_FALSE(prediction.inverted);
  }
}

TEST_F(PredictTest, APhotoIsPreparedAsADigitAndTheInputSavedIsWhatTheModelSaw) {
  if (!png_supported()) GTEST_SKIP() << "built without libpng (VIT_PNG)";
  auto trainer = trained();
  VisionTransformer& model = trainer->model();
  model->eval();
  const ImageShape shape = run_image_shape(config_.data);
  // A dark bar and a stem on grey paper, in the top left of a 200x150 photo.
  RgbImage photo(200, 150, {180, 180, 180});
  photo.fill(20, 15, 40, 8, {30, 30, 30});
  photo.fill(52, 15, 8, 50, {30, 30, 30});
  const std::string path = dir_.file("photo.png");
  write_png(path, photo);

  const Prediction digit = predict_image(model, shape, path, PredictOptions{});
  EXPECT_TRUE(digit.prepared);
  EXPECT_TRUE(digit.inverted);
  EXPECT_FALSE(digit.resized);
  EXPECT_NEAR(digit.box.x, 20, 3);
  EXPECT_NEAR(digit.box.y, 15, 3);
  ASSERT_EQ(digit.input.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(digit.input[0][0][0].item<int>(), 0);
  EXPECT_EQ(digit.input.max().item<int>(), 255);
  EXPECT_NE(prediction_text(digit).find("[digit at "), std::string::npos) << prediction_text(digit);
  // The probabilities are the model's on exactly the input it reports (and saves).
  {
    torch::NoGradGuard no_grad;
    const auto expected = model->forward(to_float_images(digit.input.unsqueeze(0)))[0]
                              .to(torch::kFloat64)
                              .softmax(0);
    EXPECT_EQ(digit.probabilities[0], expected[0].item<double>());
  }
  const std::string saved = dir_.file("photo.input.png");
  save_input_png(digit, saved);
  const PixelImage back = read_png(saved, 1);
  ASSERT_EQ(back.width, 28);
  EXPECT_TRUE(torch::equal(
      torch::from_blob(const_cast<uint8_t*>(back.samples.data()), {1, 28, 28}, torch::kUInt8),
      digit.input));

  // Resized whole instead: the paper stays, and a warning says so.
  PredictOptions resize;
  resize.prepare = Prepare::kResize;
  const Prediction whole = predict_image(model, shape, path, resize);
  EXPECT_FALSE(whole.prepared);
  EXPECT_TRUE(whole.resized);
  ASSERT_EQ(whole.warnings.size(), 1u);
  EXPECT_NE(whole.warnings[0].find("background of"), std::string::npos) << whole.warnings[0];
  EXPECT_NE(prediction_json(whole, "m.pt").find("\"warnings\":[\"the model's input"),
            std::string::npos);
}

TEST(PredictionReport, TextAndJsonCarryTheNumbers) {
  Prediction p;
  p.file = "a \"b\".png";
  p.width = 56;
  p.height = 28;
  p.resized = true;
  p.inverted = true;
  p.predicted = 3;
  p.probabilities = {0.01, 0, 0, 0.9, 0.09, 0, 0, 0, 0, 0};
  EXPECT_EQ(prediction_text(p),
            "a \"b\".png: 3 (0.9000)  0:0.0100 1:0.0000 2:0.0000 3:0.9000 4:0.0900 5:0.0000 "
            "6:0.0000 7:0.0000 8:0.0000 9:0.0000  [resized from 56x28, inverted]\n");
  EXPECT_EQ(prediction_json(p, "m.pt"),
            "{\"file\":\"a \\\"b\\\".png\",\"model\":\"m.pt\",\"predicted\":3,\"probability\":0.9,"
            "\"probabilities\":[0.01,0,0,0.9,0.09,0,0,0,0,0],\"width\":56,\"height\":28,"
            "\"resized\":true,\"inverted\":true,\"prepared\":false,\"warnings\":[]}\n");
}

}  // namespace
}  // namespace vit
