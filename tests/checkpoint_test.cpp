// Checkpoints: a round trip restores the exact state; a run stopped and resumed ends with the
// same parameters to the bit; damaged and mismatched checkpoints give errors naming the file and
// the keys; --resume auto falls back past a damaged checkpoint; old checkpoints are pruned.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <variant>

#include "parallel/replicas.h"
#include "data/idx.h"
#include "parallel/solo_communicator.h"
#include "test_util.h"
#include "store/checkpoint.h"
#include "store/checkpoint_dir.h"
#include "store/tensor_file.h"
#include "train/trainer.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_synthetic_dataset(dir_.file("data"), 320, 100);
    config_.data.dir = dir_.file("data");
    config_.train.epochs = 2;
    config_.train.batch_size = 32;  // 10 steps per epoch
    config_.log.every_steps = "0";
    fs::create_directories(dir_.file("ck"));
  }
  std::unique_ptr<Trainer> trainer(const TrainConfig& config) {
    return std::make_unique<Trainer>(config, load_dataset(config.data), solo_, torch::kCPU);
  }
  testing::TempDir dir_;
  TrainConfig config_;
  SoloCommunicator solo_;
};

TEST_F(CheckpointTest, StoppedMidEpochAndResumedEqualsStraightToTheBit) {
  auto straight = trainer(config_);
  straight->fit(nullptr);

  // First session: 13 steps (the middle of epoch 2), checkpointing into ck/.
  TrainConfig first = config_;
  first.train.max_steps = 13;
  const CheckpointDir checkpoints(dir_.file("ck"));
  auto a = trainer(first);
  a->fit(nullptr, &checkpoints);
  EXPECT_EQ(a->state().step, 13);
  EXPECT_EQ(a->state().epoch, 1);
  EXPECT_EQ(a->state().epoch_position, 3 * 32);

  // Second session: a new trainer continues. Its parameters are moved away from the initial ones
  // first, so that only a resume that restores every parameter can end equal to the straight run.
  auto b = trainer(config_);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : b->model()->parameters()) p.add_(0.5);
  }
  EXPECT_EQ(b->resume("auto", checkpoints), checkpoints.path_for(13));
  EXPECT_EQ(b->state().step, 13);
  b->fit(nullptr, &checkpoints);
  EXPECT_EQ(b->step(), straight->step());
  EXPECT_EQ(state_checksum(*b->model()), state_checksum(*straight->model()));
  const auto pb = b->model()->parameters(), ps = straight->model()->parameters();
  for (size_t i = 0; i < pb.size(); ++i) EXPECT_TRUE(torch::equal(pb[i], ps[i]));
}

// metrics.jsonl's lines without the fields that measure time.
std::vector<std::string> lines_without_timings(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(metric_schema().without_timings(line));
  }
  return lines;
}

// A run that crashed after step 16 and is resumed from the checkpoint of step 12, as vit-train
// does it (drop the lines after the checkpoint's step, then append): its metrics lines are those
// of an uninterrupted run, once each (the step line 15 was written before the crash).
TEST_F(CheckpointTest, ResumedRunWritesTheMetricsLinesOfAStraightRun) {
  TrainConfig config = config_;
  config.log.every_steps = "3";
  config.checkpoint.every_steps = 4;
  {
    MetricsWriter metrics(dir_.file("straight.jsonl"));
    trainer(config)->fit(&metrics);
  }
  const CheckpointDir checkpoints(dir_.file("ck"));
  TrainConfig crashed = config;
  crashed.train.max_steps = 16;
  {
    MetricsWriter metrics(dir_.file("resumed.jsonl"));
    trainer(crashed)->fit(&metrics, &checkpoints);
  }
  auto b = trainer(config);
  b->resume(checkpoints.path_for(12), checkpoints);
  drop_lines_after_step(dir_.file("resumed.jsonl"), b->step());
  {
    MetricsWriter metrics(dir_.file("resumed.jsonl"));
    b->fit(&metrics, &checkpoints);
  }
  const auto straight = lines_without_timings(dir_.file("straight.jsonl"));
  EXPECT_EQ(straight.size(), 8u);  // steps 3, 6, 9, 12, 15, 18, two epoch lines
  EXPECT_EQ(lines_without_timings(dir_.file("resumed.jsonl")), straight);
}

// train.monitor's best epoch is part of the state: a run resumed mid-epoch follows the same best
// as the run that went straight through, and a checkpoint of a version without it reads as none.
TEST_F(CheckpointTest, TheBestEpochTravelsInTheCheckpoint) {
  TrainConfig config = config_;
  config.data.val_split = 0.2;  // 256 to train on: 8 steps an epoch
  config.train.epochs = 3;
  auto straight = trainer(config);
  straight->fit(nullptr);
  const BestEpoch& best = straight->state().best;
  EXPECT_EQ(best.metric, "val_acc");
  EXPECT_GE(best.epoch, 1);

  TrainConfig first = config;
  first.train.max_steps = 20;  // in epoch 3, after two scored epochs
  const CheckpointDir checkpoints(dir_.file("ck"));
  trainer(first)->fit(nullptr, &checkpoints);
  auto resumed = trainer(config);
  resumed->resume("auto", checkpoints);
  EXPECT_GE(resumed->state().best.epoch, 1);
  EXPECT_LE(resumed->state().best.epoch, 2);
  resumed->fit(nullptr, &checkpoints);
  EXPECT_EQ(resumed->state().best.epoch, best.epoch);
  EXPECT_EQ(resumed->state().best.value, best.value);
  EXPECT_EQ(resumed->state().best.metric, best.metric);
}

TEST_F(CheckpointTest, ModelShapeMismatchListsTheKeys) {
  auto a = trainer(config_);
  const CheckpointDir checkpoints(dir_.file("ck"));
  a->save(&checkpoints, 0, 0);
  TrainConfig other = config_;
  other.model.hidden_d = 16;
  other.model.n_blocks = 3;
  auto b = trainer(other);
  try {
    b->resume(checkpoints.path_for(0), checkpoints);
    FAIL() << "no error";
  } catch (const CorruptCheckpoint&) {
    FAIL() << "a shape mismatch is not a damaged file";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(checkpoints.path_for(0)), std::string::npos) << message;
    EXPECT_NE(message.find("model.hidden_d (checkpoint 8, config 16)"), std::string::npos) << message;
    EXPECT_NE(message.find("model.n_blocks (checkpoint 2, config 3)"), std::string::npos) << message;
    EXPECT_EQ(message.find("model.n_heads"), std::string::npos) << message;
  }
}

TEST_F(CheckpointTest, ACheckpointOfAnotherImageSizeIsNamedAsSuchNotAsDamaged) {
  auto a = trainer(config_);
  const CheckpointDir checkpoints(dir_.file("ck"));
  a->save(&checkpoints, 0, 0);
  // The same model.* keys on 32x32 images: 7x7 patches of 5x5 pixels, not 4x4.
  const std::string big = dir_.file("big");
  testing::write_synthetic_dataset(big, 64, 16);
  for (const char* name : {"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"}) {
    const torch::Tensor small = read_idx_images(big + "/" + name).squeeze(1);  // (N, 28, 28)
    write_idx(big + "/" + name, torch::constant_pad_nd(small, {2, 2, 2, 2}).contiguous());
  }
  TrainConfig other = config_;
  other.data.dir = big;
  auto b = trainer(other);
  try {
    b->resume(checkpoints.path_for(0), checkpoints);
    FAIL() << "no error";
  } catch (const CorruptCheckpoint& e) {
    FAIL() << "another image size is not a damaged file: " << e.what();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(checkpoints.path_for(0)), std::string::npos) << message;
    EXPECT_NE(message.find("patches of 16 values, this run's images (1x32x32) give patches of 25"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("another size"), std::string::npos) << message;
  }
}

// A model-shape key added after a file was written: the file lacks it, and its default stands for
// it (the file's model was built as the default builds one), so old files keep loading.
TEST_F(CheckpointTest, AModelKeyTheFileLacksTakesItsDefault) {
  auto a = trainer(config_);
  const CheckpointDir checkpoints(dir_.file("ck"));
  a->save(&checkpoints, 0, 0);
  const std::string path = checkpoints.path_for(0);
  // The file as a version without model.mlp_ratio would have written it.
  const TensorFile stored = TensorFile::load(path);
  TensorFile older;
  for (const auto& [key, value] : stored.entries()) {
    if (key != "config/model.mlp_ratio") std::visit([&](const auto& v) { older.put(key, v); }, value);
  }
  older.save(path);
  // Resumes: the default of the key the file lacks stands for it, and the model and optimizer
  // state are the file's.
  auto resumed = trainer(config_);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : resumed->model()->parameters()) p.add_(0.5);  // only a resume undoes it
  }
  EXPECT_EQ(resumed->resume(path, checkpoints), path);
  EXPECT_EQ(state_checksum(*resumed->model()), state_checksum(*a->model()));
  TrainConfig other = config_;
  other.model.mlp_ratio = 2;
  try {
    trainer(other)->resume(path, checkpoints);
    FAIL() << "no error";
  } catch (const CorruptCheckpoint& e) {
    FAIL() << "not damage: " << e.what();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "model.mlp_ratio (checkpoint not stored: 4 by default, config 2)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(CheckpointTest, DamagedFilesAreNamedAndAutoFallsBack) {
  TrainConfig config = config_;
  config.train.max_steps = 4;
  config.checkpoint.every_steps = 2;
  const CheckpointDir checkpoints(dir_.file("ck"));
  trainer(config)->fit(nullptr, &checkpoints);  // checkpoints at steps 2 and 4
  const std::string newest = checkpoints.path_for(4);
  ASSERT_EQ(checkpoints.candidates().front(), newest);

  // Truncated: an explicit path is an error naming the file.
  const auto size = fs::file_size(newest);
  fs::resize_file(newest, size / 2);
  auto b = trainer(config_);
  try {
    b->resume(newest, checkpoints);
    FAIL() << "no error";
  } catch (const CorruptCheckpoint& e) {
    EXPECT_NE(std::string(e.what()).find(newest), std::string::npos) << e.what();
  }
  // auto: falls back to step 2.
  auto c = trainer(config_);
  EXPECT_EQ(c->resume("auto", checkpoints), checkpoints.path_for(2));
  EXPECT_EQ(c->state().step, 2);

  // Garbage that is not a checkpoint at all.
  std::ofstream(newest, std::ios::trunc) << "not a checkpoint";
  EXPECT_THROW(trainer(config_)->resume(newest, checkpoints), CorruptCheckpoint);
}

// A newest checkpoint that is a folder, a FIFO or a loop of links is treated like a damaged one:
// --resume auto falls back to the previous checkpoint (it used to stop there, or block on the
// FIFO); an explicit path is an error naming it.
TEST_F(CheckpointTest, ANewestCheckpointThatIsNoFileFallsBackLikeADamagedOne) {
  TrainConfig config = config_;
  config.train.max_steps = 4;
  config.checkpoint.every_steps = 2;
  const CheckpointDir checkpoints(dir_.file("ck"));
  trainer(config)->fit(nullptr, &checkpoints);  // checkpoints at steps 2 and 4
  const std::string newest = checkpoints.path_for(4);
  const std::string loop = dir_.file("ck/loop");
  auto make_folder = [&] { fs::create_directory(newest); };
  auto make_fifo = [&] { ASSERT_EQ(::mkfifo(newest.c_str(), 0600), 0); };
  auto make_loop = [&] { fs::create_symlink(newest, loop); fs::create_symlink(loop, newest); };
  for (const auto& make : std::vector<std::function<void()>>{make_folder, make_fifo, make_loop}) {
    fs::remove(newest);
    fs::remove(loop);
    make();
    auto resumed = trainer(config_);
    EXPECT_EQ(resumed->resume("auto", checkpoints), checkpoints.path_for(2));
    EXPECT_THROW(trainer(config_)->resume(newest, checkpoints), CorruptCheckpoint);
  }
}

TEST_F(CheckpointTest, FlippedTensorBytesAreCaught) {
  auto a = trainer(config_);
  const CheckpointDir checkpoints(dir_.file("ck"));
  a->save(&checkpoints, 0, 0);
  const std::string path = checkpoints.path_for(0);
  // Find the stored bytes of the head's bias and change one (tensors are stored as they are).
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto bias = a->model()->named_parameters()["head.bias"].contiguous();
  const std::string needle(static_cast<const char*>(bias.data_ptr()), 40);
  const auto at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = static_cast<char>(bytes[at + 1] ^ 0x40);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  try {
    trainer(config_)->resume(path, checkpoints);
    FAIL() << "no error";
  } catch (const CorruptCheckpoint& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// Every byte of a checkpoint is covered: a flipped bit anywhere (header, keys, tensors, the Adam
// moments, the checksum itself) is one CorruptCheckpoint naming the file, never a crash or a
// silent load; the format holds no code to compile. (Format 1, a TorchScript archive, crashed the
// loader with a bit flipped in its code section, and its optimizer state had no checksum.)
TEST_F(CheckpointTest, AFlippedBitAnywhereIsCaughtBeforeLoading) {
  TrainConfig config = config_;
  config.train.max_steps = 2;
  const CheckpointDir checkpoints(dir_.file("ck"));
  auto a = trainer(config);
  a->fit(nullptr, &checkpoints);
  const std::string path = checkpoints.path_for(2);
  std::string good;
  {
    std::ifstream in(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const TensorFile file = TensorFile::load(path);
  ASSERT_TRUE(file.has("optim/0/exp_avg"));  // Adam's moments are in the file
  const torch::Tensor moment = file.get_tensor("optim/0/exp_avg");
  const auto moment_at =
      good.find(std::string(static_cast<const char*>(moment.data_ptr()), moment.nbytes()));
  ASSERT_NE(moment_at, std::string::npos);
  std::vector<size_t> positions = {0, 9, 13, 17, 25, moment_at + 3, good.size() - 1};
  for (size_t at = 0; at < good.size(); at += good.size() / 97) positions.push_back(at);
  for (const size_t at : positions) {
    std::string bytes = good;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x10);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      trainer(config_)->resume(path, checkpoints);
      ADD_FAILURE() << "byte " << at << ": no error";
    } catch (const CorruptCheckpoint& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << good;
  EXPECT_EQ(trainer(config_)->resume(path, checkpoints), path);
}

TEST_F(CheckpointTest, ATorchScriptCheckpointIsRefusedWithoutOpeningIt) {
  const CheckpointDir checkpoints(dir_.file("ck"));
  const std::string path = checkpoints.path_for(3);
  torch::serialize::OutputArchive archive;  // what format 1 was
  archive.write("format", c10::IValue(int64_t{1}));
  archive.save_to(path);
  for (const std::string& mode : {path, std::string("auto")}) {
    try {
      trainer(config_)->resume(mode, checkpoints);
      FAIL() << "no error";
    } catch (const CorruptCheckpoint& e) {
      FAIL() << "taken as damaged: " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path + ": a checkpoint or model file of vit-train "
                                                  "before format 2"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST_F(CheckpointTest, NoCheckpointMeansAFreshStart) {
  const CheckpointDir checkpoints(dir_.file("ck"));
  auto a = trainer(config_);
  EXPECT_EQ(a->resume("auto", checkpoints), "");
  EXPECT_EQ(a->state().step, 0);
  EXPECT_EQ(a->resume("none", checkpoints), "");
}

}  // namespace
}  // namespace vit
