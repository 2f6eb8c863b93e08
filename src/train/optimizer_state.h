// An optimizer's state in a checkpoint, beside the optimizer: Adam's and AdamW's moments and step
// counts, SGD's momentum buffers, as "optim/<i>/<field>" entries of the checkpoint's TensorFile
// (parameter i in the optimizer's order). The checkpoint itself (store/checkpoint.h) is the file
// layer's; the overloads here put the two together for the trainer.
#pragma once

#include <torch/torch.h>

#include <string>

#include "config/train_config.h"
#include "model/vit.h"
#include "store/checkpoint.h"
#include "store/tensor_file.h"

namespace vit {

// Puts the state of every parameter that has one (none before the first step). The options
// (learning rate and the rest) come from the config and the schedule, not from the file.
void put_optimizer_state(TensorFile& file, torch::optim::Optimizer& optimizer);

// Replaces the optimizer's state with the one `file` holds, read as the state of optimizer
// `name` (optim.name); tensors land on their parameter's device. Throws vit::Error naming the
// entry whose shape differs from its parameter's.
void read_optimizer_state(const TensorFile& file, torch::optim::Optimizer& optimizer,
                          OptimName name);

// The checkpoint of the model, `optimizer`'s state and `state` (store/checkpoint.h's
// write_checkpoint, with the state above).
void write_checkpoint(const std::string& path, VisionTransformer& model,
                      torch::optim::Optimizer& optimizer, const TrainState& state,
                      const TrainConfig& config);

// Loads the checkpoint at `path` into `model` and `optimizer` (as config.optim.name's) and returns
// its state; the errors of store/checkpoint.h's read_checkpoint.
TrainState read_checkpoint(const std::string& path, VisionTransformer& model,
                           torch::optim::Optimizer& optimizer, const TrainConfig& config);

}  // namespace vit
