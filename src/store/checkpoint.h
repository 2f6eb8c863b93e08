// Checkpoints: everything needed to continue a run exactly where it stopped. Rank 0 writes them
// into <run dir>/checkpoints/step-<step>.pt atomically (temporary file, fsync, rename, fsync of
// the folder), then points the LATEST marker at the new file, then prunes old ones. A crash at
// any moment leaves the previous complete checkpoint and a marker that names a complete file.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/train_config.h"
#include "model/vit.h"
#include "store/tensor_file.h"
#include "util/error.h"

namespace vit {

// 2: a data-only TensorFile (store/tensor_file.h) with a checksum over every byte; 1 was a
// TorchScript archive, refused (its code section would be compiled on load).
constexpr int64_t kCheckpointFormat = 2;

// The best epoch so far by train.monitor (checkpoint.keep_best and train.early_stop follow it).
struct BestEpoch {
  std::string metric;  // the monitored metric's name, e.g. "val_acc" ("" while epoch is 0)
  double value = 0;    // its value after that epoch
  int64_t epoch = 0;   // 1-based; 0: no epoch scored yet
};

// Where a run stands. Positions count samples of the epoch's permutation consumed by all ranks
// together, so that a run can resume on another number of ranks from the same place.
struct TrainState {
  int64_t step = 0;            // optimizer steps done
  int64_t epoch = 0;           // 0-based epoch in progress (== train.epochs when done)
  int64_t epoch_position = 0;  // samples of the epoch's permutation already trained on
  double epoch_loss_sum = 0;   // summed training loss of those samples, all ranks
  int64_t epoch_images = 0;    // number of those samples, all ranks
  int64_t world_size = 1;      // ranks of the run that wrote the checkpoint
  BestEpoch best;              // train.monitor's best epoch so far (train/monitor.h)
};

// A checkpoint that cannot be read: truncated, corrupt, or not a checkpoint. --resume auto falls
// back to an older checkpoint on this error, and only on this one.
using CorruptCheckpoint = CorruptFile;

// The name of the first parameter or buffer of `module` that holds a NaN or an infinity, or ""
// when all are finite. One host sync for the whole module.
std::string nonfinite_tensor(const torch::nn::Module& module);

// The optimizer's part of a checkpoint, its "optim/<i>/<field>" entries: written and read by the
// optimizer's own code (train/optimizer_state.h), so that this file layer knows no optimizer.
using PutOptimizerState = std::function<void(TensorFile&)>;
using ReadOptimizerState = std::function<void(const TensorFile&)>;

// Writes the checkpoint file (atomically) at `path`: the state, the config, the model, then
// whatever `put_optimizer` puts. Throws vit::Error naming the file and the tensor, with nothing
// written, when a parameter or buffer is not finite (a diverged model).
void write_checkpoint(const std::string& path, VisionTransformer& model, const TrainState& state,
                      const TrainConfig& config, const PutOptimizerState& put_optimizer);

// Loads the checkpoint at `path` into `model`, hands the file to `read_optimizer` and returns
// its state. Throws CorruptCheckpoint naming the file when it cannot be read (also when
// `read_optimizer` throws), and vit::Error listing the keys when the model it holds has another
// shape than config.model or was trained with another optim.name.
TrainState read_checkpoint(const std::string& path, VisionTransformer& model,
                           const TrainConfig& config, const ReadOptimizerState& read_optimizer);

// What a checkpoint or a model file (checkpoints/final.pt) says about the run that wrote it.
struct StoredRun {
  bool checkpoint = false;  // a checkpoint with training state, else a model file
  int64_t step = -1;        // checkpoints only: optimizer steps done
  int64_t epoch = -1;       // checkpoints only: epochs completed (TrainState::epoch)
  int64_t epoch_position = 0;  // checkpoints only: samples into the epoch in progress
  // The shape of the images the model takes ("image/channels", "image/height", "image/width");
  // none in files of earlier versions (their models took MNIST's 1x28x28).
  std::optional<ImageShape> image;
  // The config keys stored as "config/<key>": every key since vit-eval exists; model.* alone in
  // checkpoints of earlier versions, none in their model files.
  std::vector<std::pair<std::string, std::string>> config;
};

// Writes the trained model alone (checkpoints/final.pt) atomically: its parameters and buffers
// as "model/<name>" tensors, the shape of its images as "image/<dimension>" integers, plus the
// config as "config/<key>" texts, so that vit-eval and vit-predict need nothing but the file. Refuses a model that is not finite as write_checkpoint does.
void write_model_file(const std::string& path, VisionTransformer& model, const TrainConfig& config);

// Reads what `path` (a checkpoint or a model file) stores about its run. Throws CorruptCheckpoint
// naming the file when it cannot be read.
StoredRun read_stored_run(const std::string& path);

// Loads the parameters and buffers of a checkpoint or of a model file into `model` (on the CPU),
// for evaluation; no optimizer or RNG state. Throws vit::Error listing the keys when the file's
// stored model.* keys differ from config.model, naming the tensor when a shape differs or holds a
// NaN or an infinity (the model of a diverged run), and CorruptCheckpoint when the file is
// damaged.
void load_model_state(const std::string& path, VisionTransformer& model, const TrainConfig& config);

}  // namespace vit
