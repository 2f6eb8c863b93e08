// vit-eval's units: the confusion matrix and per-class numbers on hand-made predictions; the
// evaluation of a model equal to Trainer::evaluate's; model files and checkpoints read back with
// their stored config; the command line over the stored keys; the PNG writer and the image grid.
#include "score/evaluation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <variant>

#include "parallel/replicas.h"  // state_checksum
#include "parallel/solo_communicator.h"
#include "eval/eval_config.h"
#include "eval/eval_report.h"
#include "eval/image_grid.h"
#include "eval/png_image.h"
#include "model/block.h"
#include "test_util.h"
#include "store/checkpoint.h"
#include "train/run_dir.h"
#include "store/tensor_file.h"
#include "train/trainer.h"

namespace vit {
namespace {

torch::Tensor longs(std::vector<int64_t> values) { return torch::tensor(values, torch::kLong); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t big_endian(const std::string& bytes, size_t at) {
  uint32_t out = 0;
  for (size_t i = 0; i < 4; ++i) out = (out << 8) | static_cast<unsigned char>(bytes[at + i]);
  return out;
}

// --- confusion matrix and per-class numbers ----------------------------------------------------

TEST(ConfusionMatrix, CountsTrueClassByPredictedClass) {
  const auto m = confusion_matrix(longs({0, 0, 1, 2, 2, 2}), longs({0, 1, 1, 2, 0, 2}), 3);
  EXPECT_TRUE(torch::equal(m, longs({1, 1, 0, 0, 1, 0, 1, 0, 2}).view({3, 3}))) << m;
  EXPECT_EQ(m.scalar_type(), torch::kLong);
}

TEST(ConfusionMatrix, EmptyAndOutOfRange) {
  EXPECT_EQ(confusion_matrix(longs({}), longs({}), 4).sum().item<int64_t>(), 0);
  EXPECT_THROW(confusion_matrix(longs({0, 3}), longs({0, 1}), 3), Error);
  EXPECT_THROW(confusion_matrix(longs({0, 1}), longs({0}), 3), Error);
}

TEST(Evaluation, PerClassAccuracyAndMisclassifiedInOrder) {
  // Class 0: 2 of 3 right; class 1: 1 of 1; class 2: 0 of 2; classes 3..9: no images.
  const Evaluation e = make_evaluation(longs({0, 2, 0, 1, 2, 0}), longs({0, 1, 5, 1, 0, 0}),
                                       /*loss_sum=*/3.0, kNumClasses);
  EXPECT_EQ(e.count(), 6);
  EXPECT_EQ(e.correct(), 3);
  EXPECT_EQ(e.accuracy(), 0.5);
  EXPECT_EQ(e.loss(), 0.5);
  EXPECT_EQ(e.class_count(), (std::vector<int64_t>{3, 1, 2, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(e.class_correct(), (std::vector<int64_t>{2, 1, 0, 0, 0, 0, 0, 0, 0, 0}));
  const auto accuracy = e.class_accuracy();
  EXPECT_DOUBLE_EQ(accuracy[0], 2.0 / 3.0);
  EXPECT_EQ(accuracy[1], 1.0);
  EXPECT_EQ(accuracy[2], 0.0);
  EXPECT_TRUE(std::isnan(accuracy[3]));
  EXPECT_EQ(e.misclassified(-1), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(e.misclassified(2), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(e.confusion[0][5].item<int64_t>(), 1);
}

TEST(EvalReport, TextAndJsonCarryTheNumbers) {
  const Evaluation e = make_evaluation(longs({0, 2, 0, 1}), longs({0, 1, 0, 1}), 1.0, kNumClasses);
  ReportContext context;
  context.file = "run/checkpoints/step-00000008.pt";
  context.stored.checkpoint = true;
  context.stored.step = 8;
  context.stored.epoch = 1;
  context.dataset = "mnist";
  const std::string text = text_report(e, context);
  EXPECT_NE(text.find("accuracy  75.00% (3 of 4)"), std::string::npos) << text;
  EXPECT_NE(text.find("checkpoint at step 8, 1 epoch(s) done"), std::string::npos) << text;
  EXPECT_NE(text.find("confusion matrix"), std::string::npos) << text;
  const std::string json = json_report(e, context);
  EXPECT_NE(json.find("\"accuracy\":0.75,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"step\":8,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"confusion\":[[2,0,0,0,0,0,0,0,0,0],[0,1,"), std::string::npos) << json;
  EXPECT_NE(json.find("{\"class\":3,\"images\":0,\"correct\":0,\"accuracy\":null}"),
            std::string::npos)
      << json;
}

// --- a real model: evaluation, model files, checkpoints, the command line ---------------------

class EvalModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_.file("data"), 256, 123);
    config_.data.dir = dir_.file("data");
    config_.train.epochs = 1;
    config_.train.batch_size = 32;
    config_.train.eval_batch_size = 50;  // 123 test images: batches of 50, 50, 23
    config_.model.hidden_d = 16;
    config_.log.every_steps = "0";
    std::filesystem::create_directories(dir_.file("ck"));
  }
  std::unique_ptr<Trainer> trained() {
    auto trainer =
        std::make_unique<Trainer>(config_, load_dataset(config_.data), solo_, torch::kCPU);
    trainer->fit(nullptr);
    return trainer;
  }
  VisionTransformer fresh_model(const TrainConfig& config) {
    torch::manual_seed(123);  // other parameters than the trained ones
    return VisionTransformer(config.model, ImageShape{}, kNumClasses);
  }
  EvalParseResult parse(std::vector<std::string> args) {
    args.insert(args.begin(), "vit-eval");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    std::ostringstream help;
    return parse_eval_args(static_cast<int>(argv.size()), argv.data(), help);
  }
  testing::TempDir dir_;
  TrainConfig config_;
  SoloCommunicator solo_;
};

TEST_F(EvalModelTest, EqualsTrainerEvaluateToTheBit) {
  auto trainer = trained();
  const Evaluation reference = trainer->evaluate(trainer->data().test);
  const Evaluation e =
      evaluate_model(trainer->model(), trainer->data().test, config_.train.eval_batch_size, solo_);
  EXPECT_EQ(e.count(), 123);
  EXPECT_EQ(e.correct(), reference.correct());
  EXPECT_EQ(e.accuracy(), reference.accuracy());
  EXPECT_EQ(e.loss(), reference.loss());
  // The predictions are the argmax of the logits, image by image.
  torch::NoGradGuard no_grad;
  trainer->model()->eval();
  const auto all = gather(trainer->data().test, torch::arange(123));
  EXPECT_TRUE(torch::equal(e.predicted, trainer->model()->forward(all.images).argmax(1)));
  EXPECT_EQ(e.class_count()[3], (trainer->data().test.labels == 3).sum().item<int64_t>());
}

TEST_F(EvalModelTest, ModelFileCarriesTheConfigAndLoadsBack) {
  auto trainer = trained();
  const std::string path = dir_.file("final.pt");
  write_model_file(path, trainer->model(), config_);
  const StoredRun stored = read_stored_run(path);
  EXPECT_FALSE(stored.checkpoint);
  const std::pair<std::string, std::string> hidden{"model.hidden_d", "16"},
      dir{"data.dir", config_.data.dir};
  EXPECT_NE(std::find(stored.config.begin(), stored.config.end(), hidden), stored.config.end());
  EXPECT_NE(std::find(stored.config.begin(), stored.config.end(), dir), stored.config.end());

  VisionTransformer model = fresh_model(config_);
  load_model_state(path, model, config_);
  const auto a = model->parameters(), b = trainer->model()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
  // Data only: the file decodes as a TensorFile of config texts and model tensors.
  const TensorFile file = TensorFile::load(path);
  for (const auto& [key, value] : file.entries()) {
    EXPECT_TRUE(key.rfind("config/", 0) == 0 || key.rfind("model/", 0) == 0 ||
                key.rfind("image/", 0) == 0 || key == "format" || key == "kind" ||
                key == "model_crc")
        << key;
  }
  TrainConfig other = config_;
  other.model.hidden_d = 8;
  VisionTransformer wrong = fresh_model(other);
  try {
    load_model_state(path, wrong, other);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.hidden_d (checkpoint 16, config 8)"),
              std::string::npos)
        << e.what();
  }
}

// Issue 25: the attention kernel is the model's (train.attention, stored in its file), not the
// process's: vit-eval's path scores a model trained with matmul with the matmul kernel.
TEST_F(EvalModelTest, AModelTrainedWithMatmulScoresWithMatmul) {
  config_.train.attention = AttentionKernel::kMatmul;
  auto trainer = trained();
  EXPECT_EQ(trainer->model()->attention_kernel(), AttentionKernel::kMatmul);
  for (const auto& block : *trainer->model()->blocks()) {
    EXPECT_EQ(block->as<BlockImpl>()->attention()->kernel(), AttentionKernel::kMatmul);
  }
  const std::string path = dir_.file("final.pt");
  write_model_file(path, trainer->model(), config_);

  // vit-eval's path: the file's keys, the model they make, its parameters, the evaluation.
  const EvalConfig eval = parse({"--checkpoint", path}).config;
  EXPECT_EQ(eval.run.train.attention, AttentionKernel::kMatmul);
  VisionTransformer model = make_model(eval.run, ImageShape{}, kNumClasses);
  EXPECT_EQ(model->attention_kernel(), AttentionKernel::kMatmul);
  load_model_state(path, model, eval.run);
  const Split& test = trainer->data().test;
  const Evaluation scored = evaluate_model(model, test, eval.run.train.eval_batch_size, solo_);

  // The same parameters in models built with each kernel: the matmul one scores to the bit as
  // vit-eval's did, the fused one rounds otherwise (its logits differ in the last bits; the
  // summed loss of 123 images can round to the same double).
  const auto with = [&](AttentionKernel kernel) {
    VisionTransformer m(config_.model, ImageShape{}, kNumClasses, kernel);
    load_model_state(path, m, config_);
    return m;
  };
  VisionTransformer matmul_model = with(AttentionKernel::kMatmul);
  VisionTransformer fused_model = with(AttentionKernel::kFused);
  const Evaluation matmul =
      evaluate_model(matmul_model, test, config_.train.eval_batch_size, solo_);
  EXPECT_EQ(scored.loss_sum, matmul.loss_sum);
  EXPECT_TRUE(torch::equal(scored.predicted, matmul.predicted));
  torch::NoGradGuard no_grad;
  matmul_model->eval();
  fused_model->eval();
  const Batch all = gather(test, torch::arange(test.size()));
  EXPECT_FALSE(torch::equal(matmul_model->forward(all.images), fused_model->forward(all.images)));
  // The trainer's own evaluation runs the model's kernel too.
  EXPECT_EQ(trainer->evaluate(test).loss_sum, matmul.loss_sum);
}

TEST_F(EvalModelTest, FilesOfTheTorchScriptFormatAreRefusedUnopened) {
  auto trainer = trained();
  const std::string path = dir_.file("old-final.pt");
  torch::save(trainer->model(), path);  // what vit-train wrote before format 2
  VisionTransformer model = fresh_model(config_);
  for (const auto& load : std::vector<std::function<void()>>{
           [&] { load_model_state(path, model, config_); }, [&] { read_stored_run(path); },
           [&] { parse({"--checkpoint", path, "--data.dir", config_.data.dir}); }}) {
    try {
      load();
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("old-final.pt: a checkpoint or model file of vit-train "
                                           "before format 2 (a TorchScript archive"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST_F(EvalModelTest, AModelFileOfABiggerModelIsRefused) {
  auto trainer = trained();
  const std::string path = dir_.file("final.pt");
  write_model_file(path, trainer->model(), config_);
  // The same tensors under the config of a one-block model: the keys agree, the tensors do not.
  TensorFile relabelled;
  const TensorFile full = TensorFile::load(path);
  for (const auto& [key, value] : full.entries()) {
    std::visit([&, k = key](const auto& v) { relabelled.put(k, v); }, value);
  }
  relabelled.put("config/model.n_blocks", std::string("1"));
  relabelled.save(path);
  TrainConfig other = config_;
  other.model.n_blocks = 1;
  VisionTransformer smaller = fresh_model(other);
  try {
    load_model_state(path, smaller, other);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds blocks.1."), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("which the model lacks"), std::string::npos) << e.what();
  }
}

// Issue 29: a file whose parameters are NaN (written by a vit-train before the fix, or by hand)
// scored 10% with status 0 in vit-eval and vit-predict; it is refused, naming the file.
TEST_F(EvalModelTest, AModelFileWithNonFiniteParametersIsRefused) {
  auto trainer = trained();
  const std::string path = dir_.file("nan-final.pt");
  write_model_file(path, trainer->model(), config_);
  VisionTransformer poisoned = fresh_model(config_);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : poisoned->parameters()) p.fill_(std::nan(""));
  }
  TensorFile file;
  const TensorFile good = TensorFile::load(path);
  for (const auto& [key, value] : good.entries()) {
    std::visit([&, k = key](const auto& v) { file.put(k, v); }, value);
  }
  for (const auto& item : poisoned->named_parameters()) {
    file.put("model/" + item.key(), item.value());
  }
  file.put("model_crc", static_cast<int64_t>(state_checksum(*poisoned)));
  file.save(path);
  VisionTransformer model = fresh_model(config_);
  try {
    load_model_state(path, model, config_);
    FAIL() << "no error";
  } catch (const CorruptFile&) {
    FAIL() << "a well-formed file, not a damaged one";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
    EXPECT_NE(message.find("not finite"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST_F(EvalModelTest, CheckpointLoadsAndTheCommandLineOverridesStoredKeys) {
  auto trainer = trained();
  const CheckpointDir checkpoints(dir_.file("ck"));
  trainer->save(&checkpoints, 0, 0);
  const std::string path = checkpoints.path_for(trainer->step());
  const StoredRun stored = read_stored_run(path);
  EXPECT_TRUE(stored.checkpoint);
  EXPECT_EQ(stored.step, 8);
  EXPECT_EQ(stored.epoch, 1);

  const EvalConfig config = parse({"--checkpoint", path}).config;
  EXPECT_EQ(config.run.model.hidden_d, 16);
  EXPECT_EQ(config.run.data.dir, config_.data.dir);
  EXPECT_EQ(config.run.train.eval_batch_size, 50);
  EXPECT_TRUE(config.not_stored.empty());
  VisionTransformer model = fresh_model(config.run);
  load_model_state(path, model, config.run);
  EXPECT_TRUE(torch::equal(model->parameters()[0], trainer->model()->parameters()[0]));

  testing::write_synthetic_dataset(dir_.file("other"), 10, 10);
  const EvalConfig moved =
      parse({"--checkpoint", path, "--data.dir", dir_.file("other"), "--train.eval_batch_size", "7",
             "--json", "--images", dir_.file("x.png")})
          .config;
  EXPECT_EQ(moved.run.data.dir, dir_.file("other"));
  EXPECT_EQ(moved.run.train.eval_batch_size, 7);
  EXPECT_TRUE(moved.json);
  // A key given twice: its last value, as in vit-train.
  EXPECT_EQ(
      parse({"--checkpoint", path, "--train.eval_batch_size", "7", "--train.eval_batch_size", "9"})
          .config.run.train.eval_batch_size,
      9);

  const auto error_of = [&](std::vector<std::string> args) {
    try {
      const EvalConfig c = parse(args).config;
      VisionTransformer m = fresh_model(c.run);
      load_model_state(c.checkpoint, m, c.run);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of({"--checkpoint", path, "--model.hidden_d", "8"})
                .find("another shape: model.hidden_d (checkpoint 16, config 8)"),
            std::string::npos);
  EXPECT_NE(error_of({}).find("--checkpoint: required"), std::string::npos);
  EXPECT_NE(error_of({"--checkpoint", dir_.file("nowhere.pt")}).find("nowhere.pt: no such file"),
            std::string::npos);
  EXPECT_NE(error_of({"--checkpoint", path, "--data.dir", dir_.file("nowhere")})
                .find("data.dir: " + dir_.file("nowhere") + " is not a directory"),
            std::string::npos);
  EXPECT_NE(error_of({"--checkpoint", path, "--model.n_heads", "x"}).find("model.n_heads"),
            std::string::npos);
  EXPECT_NE(
      error_of({"--checkpoint", path, "--images", dir_.file("no/dir/x.png")}).find("--images: "),
      std::string::npos);
  EXPECT_NE(error_of({"--checkpoint", path, "--bogus"}).find("command line: "), std::string::npos);
  EXPECT_NE(error_of({"--checkpoint", path, "--export", dir_.file("no/dir/m.safetensors")})
                .find("--export: "),
            std::string::npos);
  EXPECT_NE(error_of({"--checkpoint", path, "--export", dir_.path()}).find("exists and is a folder"),
            std::string::npos);
}

// --- PNG and the image grid --------------------------------------------------------------------

TEST(PngImage, SignatureAndHeaderSize) {
  if (!png_supported()) GTEST_SKIP() << "built without libpng (VIT_PNG)";
  testing::TempDir dir;
  RgbImage image(7, 5, {10, 20, 30});
  image.set(6, 4, {255, 0, 0});
  image.set(99, 99, {1, 2, 3});  // outside: ignored
  EXPECT_EQ(image.at(6, 4).r, 255);
  write_png(dir.file("a.png"), image);
  const std::string bytes = read_bytes(dir.file("a.png"));
  ASSERT_GT(bytes.size(), 33u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  EXPECT_EQ(big_endian(bytes, 16), 7u);  // width
  EXPECT_EQ(big_endian(bytes, 20), 5u);  // height
  EXPECT_EQ(bytes[24], 8);               // bit depth
  EXPECT_EQ(bytes[25], 2);               // colour type: RGB
  EXPECT_EQ(bytes.substr(bytes.size() - 8, 4), "IEND");
  try {
    write_png(dir.file("missing/a.png"), image);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing/a.png"), std::string::npos) << e.what();
  }
}

TEST(ImageGrid, LayoutPixelsAndLabels) {
  auto images = torch::zeros({12, 1, 28, 28}, torch::kUInt8);
  images[0].fill_(255);  // the first image white
  std::vector<int64_t> truth(12, 7), predicted(12, 1);
  const RgbImage grid = labelled_grid(images, truth, predicted, {/*columns=*/5, /*scale=*/3});
  // 5 columns and 3 rows of cells, each wider and taller than an 84x84 image.
  EXPECT_GT(grid.width(), 5 * 84);
  EXPECT_LT(grid.width(), 5 * 84 + 5 * 30);
  EXPECT_GT(grid.height(), 3 * 84);
  EXPECT_LT(grid.height(), 3 * (84 + 40));
  int64_t white = 0, green = 0, red = 0;
  for (int64_t y = 0; y < grid.height(); ++y) {
    for (int64_t x = 0; x < grid.width(); ++x) {
      const Rgb p = grid.at(x, y);
      white += p.r == 255 && p.g == 255 && p.b == 255;
      green += p.g > 200 && p.r < 100;
      red += p.r > 200 && p.g < 100;
    }
  }
  EXPECT_EQ(white, 84 * 84);  // the white image, scaled 3x
  EXPECT_GT(green, 0);        // true labels
  EXPECT_GT(red, 0);          // predicted labels
  EXPECT_EQ(text_width("7", 2), 10);
  EXPECT_EQ(text_width("7 > 1", 1), 29);
  RgbImage small(10, 10);
  EXPECT_THROW(draw_text(small, 0, 0, "x", {}, 1), Error);
  const RgbImage empty = labelled_grid(torch::zeros({0, 1, 28, 28}, torch::kUInt8), {}, {});
  EXPECT_GT(empty.width(), 0);
  EXPECT_THROW(labelled_grid(images, truth, {1}), Error);
}

}  // namespace
}  // namespace vit
