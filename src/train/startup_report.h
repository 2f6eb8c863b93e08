// The start-up table rank 0 logs before training (in the manner of llm.c): the versions, where
// every rank runs (machine, device, threads), the data and its source, the model's size and
// every resolved config value, so that a log alone tells how a run was made.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/train_config.h"

namespace vit {

struct StartupFacts {
  std::string versions;             // version_report(): "Name version..." per line
  int world_size = 1;
  int nodes = 1;
  int ranks_per_node = 1;           // of rank 0's machine
  std::vector<std::string> ranks;   // per rank: "host, device, N thread(s)"
  std::string gradients;            // communicator back end
  std::string data_source;
  int64_t train_images = 0;
  int64_t test_images = 0;
  int64_t val_images = 0;           // data.val_split's, held out of train_images
  std::string image_shape;          // "1x28x28"
  int64_t parameters = 0;
  double forward_flops = 0;         // per image (model/model_cost.h)
  double train_flops = 0;           // per image, forward and backward
  int64_t steps_per_epoch = 0;
  int64_t global_batch = 0;
  std::string resumed_from;         // "" for a fresh start
};

// Two-column table, one row per fact and per config key.
std::string startup_table(const TrainConfig& config, const StartupFacts& facts);

// "1,234,567"
std::string with_thousands(int64_t value);

// Three significant digits and an SI prefix: "326 k", "33.4 M", "1.20 G" ("0" for 0).
std::string with_si_prefix(double value);

}  // namespace vit
