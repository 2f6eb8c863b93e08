// Ranks that were given different inputs train apart silently (another lr or seed), hang (other
// epochs) or corrupt memory in the all-reduce (another model shape). At start every rank
// describes what it was given, the config it resolved and a digest of the data it loaded, and the
// ranks compare: a difference is one error naming the keys and the ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "data/dataset.h"

namespace vit {

class MpiContext;

// The config keys that every rank must share, one "key=value" per line: all but those of
// KeyRole::kPerRank (data.dir: the data may sit in another folder on each machine, its digest is
// compared instead; log.*).
std::string shared_config_text(const TrainConfig& config);

// Sizes and CRC-32 of the images and labels of both splits, as loaded (after the limits).
std::string data_digest(const Dataset& data);

// "" when every rank's text equals rank 0's; else what differs, by key (config) or as a whole
// (data), naming the ranks, e.g. "optim.lr: rank 0 0.005, rank 2 0.01".
std::string config_disagreement(const std::vector<std::string>& per_rank);
std::string data_disagreement(const std::vector<std::string>& per_rank);

// Collective: gathers both descriptions; returns false on every rank after one error line from
// rank 0 when the ranks differ.
bool agree_on_inputs(const TrainConfig& config, const Dataset& data, const MpiContext& mpi);

// What a rank resumed, for comparison: the checkpoint's file name (not its folder: machines
// without a shared file system hold copies), its step and the model's checksum after loading;
// "nothing (a fresh start)" with the fresh model's checksum. With --resume auto each rank reads
// the checkpoints its own file system shows: ranks that see different ones would train different
// replicas apart and then deadlock.
std::string resume_digest(const std::string& resumed_from, int64_t step, uint64_t model_checksum);

// "" when every rank's digest equals rank 0's; else what each differing rank resumed, and rank 0.
std::string resume_disagreement(const std::vector<std::string>& per_rank);

// Collective: returns false on every rank after one error line from rank 0 when the ranks
// resumed different states.
bool agree_on_resume(const std::string& digest, const MpiContext& mpi);

}  // namespace vit
