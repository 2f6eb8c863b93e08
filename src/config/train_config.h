// TrainConfig: every setting of a run, filled once from an INI file and the command line, validated
// once, then passed around as const&. Keys are "section.name"; the INI file spells them as
//   [model]
//   hidden_d = 8
// and the command line as --model.hidden_d 8 (the command line wins over the file).
#pragma once

#include <cstdint>
#include <exception>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/choices.h"

namespace vit {

struct ModelConfig {
  int64_t n_patches = 7;  // patches per image side (7 -> 7x7 patches of 4x4 pixels on MNIST)
  int64_t hidden_d = 8;   // token width
  int64_t n_heads = 2;    // attention heads; hidden_d must be divisible by it
  int64_t n_blocks = 2;   // encoder blocks
  int64_t mlp_ratio = 4;  // MLP hidden width = mlp_ratio * hidden_d
};

struct OptimConfig {
  OptimName name = OptimName::kAdam;  // adam | adamw | sgd
  double lr = 0.005;                  // peak learning rate
  double weight_decay = 0.0;          // L2 (adam, sgd) or decoupled (adamw)
  double beta1 = 0.9;                 // adam/adamw first-moment decay
  double beta2 = 0.999;               // adam/adamw second-moment decay
  double momentum = 0.9;              // sgd only
  LrSchedule schedule = LrSchedule::kConstant;  // constant | cosine
  int64_t warmup_steps = 0;           // linear warm-up from 0 to lr over this many steps
  double min_lr_ratio = 0.0;          // cosine floor as a fraction of lr
  LrScaling lr_scaling = LrScaling::kNone;  // none | linear (lr times the world size)
  OnOff fused = OnOff::kOn;  // on: one pass over flat buffers; off: LibTorch's optimizer
};

struct TrainLoopConfig {
  int64_t epochs = 5;
  int64_t batch_size = 128;       // per rank
  int64_t eval_batch_size = 1000;  // per rank, evaluation only
  int64_t accum_steps = 1;        // micro-batches per optimizer step (gradients summed locally)
  // CPU: images per forward and backward pass of one thread, so that a layer's output is still
  // in the core's cache when the next layer reads it (0: auto, train/step.h's images_per_pass)
  int64_t chunk_images = 0;
  int64_t max_steps = 0;          // stop after this many optimizer steps (0: no limit)
  int64_t eval_every_steps = 0;   // also score the test set every N steps (0: at epoch ends only)
  int64_t seed = 42;              // model init and data order (>= 0)
  int64_t threads = 0;            // intra-op threads (0: all cores)
  // attention kernel: auto | fused | matmul (model/fused_attention.h)
  AttentionKernel attention = AttentionKernel::kAuto;
  // How a rank uses its threads: batch (CPU: the step's images split over the threads, each
  // running forward and backward alone) | ops (LibTorch's kernels split over the threads) | auto
  ParallelMode parallel = ParallelMode::kAuto;
  // GPU: the whole step (forward, backward, all-reduce, optimizer) captured once as a CUDA graph
  // and replayed (train/graph_step.h): auto (where it can run) | on (or an error) | off
  CudaGraphMode cuda_graph = CudaGraphMode::kAuto;
  // fp32 | bf16: matrix products under autocast to bfloat16; weights, optimizer and reductions
  // stay float32 (train/precision.h)
  Precision precision = Precision::kFp32;
  // refuse | warn | off: what a run does when its estimated memory (train/memory_budget.h) is
  // more than its machine has free, or more than the address-space limit allows
  MemoryCheck memory_check = MemoryCheck::kRefuse;
  // The metric checkpoint.keep_best and early_stop follow (auto: val_acc with a validation split,
  // else test_acc; validate() resolves it).
  MonitorMetric monitor = MonitorMetric::kAuto;
  int64_t early_stop = 0;  // stop after this many epochs without a better train.monitor (0: never)
};

struct DataConfig {
  DatasetName dataset = DatasetName::kMnist;  // mnist | fashion-mnist
  std::string dir;                // default data/<dataset>
  int64_t train_limit = 0;        // use only the first N training images (0: all)
  int64_t test_limit = 0;         // use only the first N test images (0: all)
  // This fraction of the training images (its last ones, after data.train_limit) held out as a
  // validation set, scored after each epoch and never trained on (0: none).
  double val_split = 0;
};

struct DistConfig {
  BackendChoice backend = BackendChoice::kAuto;  // auto | mpi | nccl (auto: nccl on GPUs, else mpi)
  // auto | cpu | cuda | cuda:N (auto: cuda when a GPU is present; cuda: GPU <local rank mod
  // GPUs>; cuda:N: GPU N + local rank)
  DeviceSetting device;
  double timeout_s = 300;        // a collective that takes longer aborts the job (NCCL)
  bool debug = false;            // check after each epoch that all replicas are bit-identical
};

struct CheckpointConfig {
  int64_t every_steps = 0;  // also every N steps (0: only at epoch ends, the end and on signals)
  int64_t keep_last = 3;    // keep the newest N checkpoints
  int64_t keep_every = 0;   // and keep those whose step is a multiple of N for good (0: none)
  bool keep_best = false;   // best.pt in the run directory: the model of the best train.monitor
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;  // trace | debug | info | warn | error
  // A step line (loss, lr, images/s) in metrics.jsonl every N steps; "auto": about
  // kAutoStepLinesPerEpoch per epoch, so that a short run still plots curves and a long one
  // does not flood; "0": none. See step_line_interval().
  std::string every_steps = "auto";
  // A step line also goes to the console (log) when this many seconds have passed since the last
  // one there (0: every step line).
  double console_every_s = 10;
  // auto | bar | lines: a live progress bar on rank 0's console, or none (the periodic step
  // lines are logged either way). auto: a bar when stdout is a terminal (see train/progress.h)
  ProgressSetting progress = ProgressSetting::kAuto;
};

struct TrainConfig {
  ModelConfig model;
  OptimConfig optim;
  TrainLoopConfig train;
  DataConfig data;
  DistConfig dist;
  CheckpointConfig checkpoint;
  LogConfig log;

  std::string config_file;  // the INI file it was read from ("" if none)
  std::string run_dir = "runs/latest";
  // Whether --run-dir was given. Without it a fresh run (--resume none) gets a folder of its own,
  // runs/<config name>-<time> (default_run_dir, train/run_dir.h), which runs/latest then points
  // at, and --resume auto or PATH continues runs/latest.
  bool run_dir_given = false;
  std::string resume = "none";  // none | auto | PATH of a checkpoint (--resume)
  // Where each key's value came from, for the start-up table: "command line" or "file"; a key
  // missing here has its default. Not part of the run (config.ini, digests): how it was asked for.
  std::map<std::string, std::string> origins;

  // Every key with its resolved value, in a stable order (for the start-up table and config.ini).
  std::vector<std::pair<std::string, std::string>> entries() const;
};

// What a config key means for a checkpoint and for the ranks of a job.
enum class KeyRole {
  kModelShape,  // model.*: a checkpoint only fits a model built with the same values; every rank
                // must have them alike
  kShared,      // every rank of a job must have the same value (parallel/input_agreement)
  kPerRank,     // may differ from rank to rank: where a rank finds its data, how it logs
};

// What vit-eval does with a key: takes it from the file (the command line may override it),
// takes it from its own command line only (it describes this machine), or ignores it.
enum class EvalUse { kStored, kMachine, kUnused };

struct KeyInfo {
  const char* name;  // "section.name"
  const char* help;
  KeyRole role;
  EvalUse eval;
};

// Every config key, in the table's order (the one list the parser, config.ini, the start-up
// table and vit-eval's options all come from).
const std::vector<KeyInfo>& config_keys();

// The role of `key` ("section.name"); nothing for a key the table lacks.
std::optional<KeyRole> key_role(const std::string& key);

// Whether `key` is one of the keys that shape the model (KeyRole::kModelShape).
bool is_model_key(const std::string& key);

// What parse_args found: a config to run with, or a request for help that was already printed.
struct ParseResult {
  TrainConfig config;
  bool help = false;
  bool version = false;  // --version: print versions and exit
  // --metric-schema: print the fields of metrics.jsonl (train/metric_schema.h) and exit
  bool metric_schema = false;
};

// Parses --config FILE, --run-dir DIR and --<section>.<key> VALUE overrides; validates the result
// (validate(): the keys alone; vit-train checks the files they name with check_train_inputs()).
// The command line wins over the file, the file over the defaults, and a key given twice on the
// command line takes its last value (as argparse does: VIT_ARGS, then a script's own arguments).
// Throws vit::Error naming the file or key at fault. `help_out` receives --help text.
ParseResult parse_args(int argc, const char* const* argv, std::ostream& help_out);

// Checks every value and the constraints between keys, throwing vit::Error "<key>: <problem>
// (allowed: ...)". Also fills defaults that depend on other keys (data.dir). Pure: it looks at no
// file, so vit-eval and vit-predict check their keys with it too; what vit-train's config points
// at (the data folder, --resume against the run directory) is check_train_inputs()'s.
void validate(TrainConfig& config);

// The resolved config as an INI file that parse_args accepts back.
std::string to_ini(const TrainConfig& config);

// The longest duration a key in seconds (dist.timeout_s, log.console_every_s) may give: 30 days,
// longer than any collective or console pause should take, and far within the range of the
// clocks' nanosecond counts (292 years), which a larger value overflowed.
inline constexpr double kMaxDurationS = 30.0 * 24 * 3600;

// Step lines per epoch that log.every_steps = auto aims at.
inline constexpr int64_t kAutoStepLinesPerEpoch = 50;

// train.monitor with auto resolved: val_acc when data.val_split > 0, else test_acc (validate()
// stores it so; a config that did not pass through validate() is resolved the same way).
MonitorMetric resolved_monitor(const TrainConfig& config);

// log.every_steps resolved for an epoch of `steps_per_epoch` steps: N > 0 (a step line every N
// steps) or 0 (none).
int64_t step_line_interval(const LogConfig& log, int64_t steps_per_epoch);

// The keys whose value in `config` differs from `stored` (a checkpoint's "config/<key>" texts), as
// "train.epochs 5 -> 20, optim.lr 0.001 -> 0.002" in the key table's order; "" when none did.
// Keys `stored` lacks (files of earlier versions) are not compared.
std::string changed_keys(const std::vector<std::pair<std::string, std::string>>& stored,
                         const TrainConfig& config);

// Sets the given keys ("section.name", value as text) the way the command line would. Throws
// vit::Error prefixed with `source` (a file or "command line") for an unknown key or a bad value.
// An enumerated key's unknown value throws as validate() words it ("<key>: unknown value ..."); the
// other checks are validate()'s: call it afterwards.
void apply_entries(TrainConfig& config,
                   const std::vector<std::pair<std::string, std::string>>& entries,
                   const std::string& source);

}  // namespace vit
