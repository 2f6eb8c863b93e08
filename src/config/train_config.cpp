#include "config/train_config.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "config/command_line.h"
#include "util/error.h"
#include "util/input_file.h"
#include "util/log.h"

namespace vit {
namespace po = boost::program_options;

namespace {

constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;  // 16 MiB: a config is a few KiB

// A key's own constraint, carried by the key table and checked for every key by validate().
// Constraints between keys (model.hidden_d and model.n_heads, data.dir's default) and the
// command-line-only options stay in validate().
struct Rule {
  enum class Kind {
    kAny,          // anything of the type
    kPositive,     // an integer > 0
    kNonNegative,  // a number >= 0
    kAboveZero,    // a finite number > 0
    kBelowOne,     // in [0, 1)
    kUpToOne,      // in [0, 1]
    kAutoOrCount,  // "auto" or digits
  };
  Kind kind = Kind::kAny;
  // Integers: the largest value that makes sense, so that a typo or a hostile value is one error
  // instead of an overflow, a run of 0 steps or an allocation of gigabytes.
  int64_t max = std::numeric_limits<int64_t>::max();
  // Reals (which must all be finite): the largest value that makes sense (durations).
  double max_real = std::numeric_limits<double>::max();
  // Reals: the step computes with the value as a float (the optimizer's keys), so the value is
  // checked again as that float: 1e39 is a finite double and an infinite float, 0.99999999999 a
  // beta below 1 as a double and 1 as a float.
  bool as_float = false;
};
Rule any() { return {}; }
Rule positive(int64_t max = std::numeric_limits<int64_t>::max()) {
  return {Rule::Kind::kPositive, max};
}
Rule non_negative(int64_t max = std::numeric_limits<int64_t>::max()) {
  return {Rule::Kind::kNonNegative, max};
}
Rule above_zero() { return {Rule::Kind::kAboveZero}; }
Rule below_one() { return {Rule::Kind::kBelowOne}; }
Rule up_to_one() { return {Rule::Kind::kUpToOne}; }
Rule auto_or_count() { return {Rule::Kind::kAutoOrCount}; }
// `rule` for a real the step computes with as a float.
Rule in_float(Rule rule) {
  rule.as_float = true;
  return rule;
}
// `rule` for a number of seconds: at most kMaxDurationS.
Rule duration(Rule rule) {
  rule.max_real = kMaxDurationS;
  return rule;
}

constexpr int64_t kMaxImagesPerStep = int64_t{1} << 20;  // batch sizes, micro-batches
constexpr int64_t kMaxSteps = int64_t{1} << 40;

// Digits only: a count >= 0 written as text.
bool is_count(const std::string& text) {
  return !text.empty() && text.size() < 19 &&
         std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// Throws vit::Error "<key>: <problem>" when `value` breaks `rule`.
void check_rule(const char* key, int64_t value, const Rule& rule) {
  using Kind = Rule::Kind;
  VIT_CHECK(rule.kind != Kind::kPositive || value > 0, key, ": must be a positive integer, got ",
            value);
  VIT_CHECK(rule.kind != Kind::kNonNegative || value >= 0, key, ": must be >= 0, got ", value);
  VIT_CHECK(value <= rule.max, key, ": at most ", rule.max, ", got ", value);
}

std::string format_value(double value);

// The range of `rule` for a finite real; `as` ends the message ("" or what became of the value).
void check_range(const char* key, double value, const Rule& rule, const std::string& as) {
  using Kind = Rule::Kind;
  VIT_CHECK(rule.kind != Kind::kAboveZero || value > 0, key, ": must be > 0, got ", value, as);
  VIT_CHECK(rule.kind != Kind::kNonNegative || value >= 0, key, ": must be >= 0, got ", value, as);
  VIT_CHECK(rule.kind != Kind::kBelowOne || (value >= 0 && value < 1), key,
            ": must be in [0, 1), got ", value, as);
  VIT_CHECK(rule.kind != Kind::kUpToOne || (value >= 0 && value <= 1), key,
            ": must be in [0, 1], got ", value, as);
  // (the limits are whole numbers of seconds: written as such, not as 2.592e+06)
  VIT_CHECK(value <= rule.max_real, key, ": at most ",
            std::to_string(static_cast<int64_t>(rule.max_real)), ", got ", format_value(value), as);
}

void check_rule(const char* key, double value, const Rule& rule) {
  // NaN passes no comparison and an infinity passes ">= 0": neither is a setting.
  VIT_CHECK(std::isfinite(value), key, ": must be a finite number, got ", value);
  check_range(key, value, rule, "");
  if (!rule.as_float) return;
  // Compared before the conversion: converting a double beyond the float range is undefined.
  constexpr double kFloatMax = std::numeric_limits<float>::max();
  VIT_CHECK(std::abs(value) <= kFloatMax, key, ": ", value,
            " does not fit the float the step computes with (at most ", kFloatMax, ")");
  const double as_float = static_cast<float>(value);
  check_range(key, as_float, rule,
              " as the float the step computes with (" + format_value(value) + " becomes " +
                  format_value(as_float) + ")");
}

void check_rule(const char* key, const std::string& value, const Rule& rule) {
  if (rule.kind == Rule::Kind::kAutoOrCount) {
    VIT_CHECK(value == "auto" || is_count(value), key, ": must be auto or a number >= 0, got '",
              value, "'");
  }
}

void check_rule(const char*, bool, const Rule&) {}

// An enumerated key holds one of its values by its type: its text was checked when it was parsed
// (see UnknownChoices).
template <typename E, typename = std::enable_if_t<kIsSetting<E>>>
void check_rule(const char*, const E&, const Rule&) {}

// The text of each enumerated key whose value has no name, by key, as Boost.Program_options
// stored it: reported by validate() at the key's place in the table, as the other keys' values
// are, with "<key>: unknown value '<text>' (allowed: ...)".
using UnknownChoices = std::map<std::string, std::string>;

// The single list of keys. Parsing, the start-up table, config.ini and vit-eval's key lists all
// walk it, so a key added here is parsed, printed, saved and (by its Eval use) offered by vit-eval
// without further edits. Each key carries its role and what vit-eval does with it. Config may be
// const or not.
using Role = KeyRole;
using Eval = EvalUse;
template <typename Config, typename Visit>
void visit_fields(Config& c, Visit&& v) {
  v("model.n_patches", c.model.n_patches, "patches per image side (image padded to a multiple)",
    Role::kModelShape, Eval::kStored, positive(64));
  v("model.hidden_d", c.model.hidden_d, "token width", Role::kModelShape, Eval::kStored,
    positive(8192));
  v("model.n_heads", c.model.n_heads, "attention heads (must divide model.hidden_d)",
    Role::kModelShape, Eval::kStored, positive(1024));
  v("model.n_blocks", c.model.n_blocks, "encoder blocks", Role::kModelShape, Eval::kStored,
    positive(256));
  v("model.mlp_ratio", c.model.mlp_ratio, "MLP width as a multiple of model.hidden_d",
    Role::kModelShape, Eval::kStored, positive(64));
  v("optim.name", c.optim.name, "optimizer: adam | adamw | sgd", Role::kShared, Eval::kUnused,
    any());
  v("optim.lr", c.optim.lr, "peak learning rate", Role::kShared, Eval::kUnused,
    in_float(above_zero()));
  v("optim.weight_decay", c.optim.weight_decay, "weight decay (decoupled for adamw)",
    Role::kShared, Eval::kUnused, in_float(non_negative()));
  v("optim.beta1", c.optim.beta1, "adam/adamw beta1", Role::kShared, Eval::kUnused,
    in_float(below_one()));
  v("optim.beta2", c.optim.beta2, "adam/adamw beta2", Role::kShared, Eval::kUnused,
    in_float(below_one()));
  v("optim.momentum", c.optim.momentum, "sgd momentum", Role::kShared, Eval::kUnused,
    in_float(below_one()));
  v("optim.schedule", c.optim.schedule, "learning-rate schedule after warm-up: constant | cosine",
    Role::kShared, Eval::kUnused, any());
  v("optim.warmup_steps", c.optim.warmup_steps, "linear warm-up steps", Role::kShared,
    Eval::kUnused, non_negative(kMaxSteps));
  v("optim.min_lr_ratio", c.optim.min_lr_ratio, "cosine floor as a fraction of optim.lr",
    Role::kShared, Eval::kUnused, up_to_one());
  v("optim.lr_scaling", c.optim.lr_scaling, "none | linear (optim.lr times the world size)",
    Role::kShared, Eval::kUnused, any());
  v("optim.fused", c.optim.fused,
    "on: the update in one pass over flat buffers | off: LibTorch's per-parameter optimizer",
    Role::kShared, Eval::kUnused, any());
  v("train.epochs", c.train.epochs, "passes over the training set", Role::kShared, Eval::kUnused,
    positive(1000000));
  v("train.batch_size", c.train.batch_size, "images per step and rank", Role::kShared,
    Eval::kUnused, positive(kMaxImagesPerStep));
  v("train.eval_batch_size", c.train.eval_batch_size, "images per evaluation batch and rank",
    Role::kShared, Eval::kStored, positive(kMaxImagesPerStep));
  v("train.accum_steps", c.train.accum_steps, "micro-batches per step (one all-reduce per step)",
    Role::kShared, Eval::kUnused, positive(kMaxImagesPerStep));
  v("train.chunk_images", c.train.chunk_images,
    "CPU: images per forward and backward pass of a thread (0: auto, about 1 MiB of the widest "
    "layer output; GPUs: the whole micro-batch)",
    Role::kShared, Eval::kUnused, non_negative(kMaxImagesPerStep));
  v("train.max_steps", c.train.max_steps, "stop after this many steps (0: no limit)",
    Role::kShared, Eval::kUnused, non_negative(kMaxSteps));
  v("train.eval_every_steps", c.train.eval_every_steps,
    "also score the test set every this many steps within an epoch (0: after each epoch only)",
    Role::kShared, Eval::kUnused, non_negative(kMaxSteps));
  v("train.seed", c.train.seed, "seed of initialisation and data order", Role::kShared,
    Eval::kUnused, non_negative());
  v("train.threads", c.train.threads, "intra-op threads per rank (0: all cores)", Role::kShared,
    Eval::kMachine, non_negative(1024));
  v("train.attention", c.train.attention,
    "auto | fused | matmul: attention kernel (auto: fused on CPU, matmul on GPU)", Role::kShared,
    Eval::kStored, any());
  v("train.parallel", c.train.parallel,
    "auto | batch | ops: threads share a step's images (batch) or each kernel (ops); auto: batch "
    "on CPU",
    Role::kShared, Eval::kUnused, any());
  v("train.cuda_graph", c.train.cuda_graph,
    "auto | on | off: replay each GPU step as one CUDA graph (auto: where it can run)",
    Role::kShared, Eval::kUnused, any());
  v("train.precision", c.train.precision,
    "fp32 | bf16: matrix products in bfloat16 under autocast, float32 weights and optimizer",
    Role::kShared, Eval::kUnused, any());
  v("train.memory_check", c.train.memory_check,
    "refuse | warn | off: a run whose estimated memory exceeds what its machine has free",
    Role::kShared, Eval::kUnused, any());
  v("train.monitor", c.train.monitor,
    "auto | val_acc | val_loss | test_acc | test_loss | train_loss: the epoch metric of "
    "checkpoint.keep_best and train.early_stop (auto: val_acc with data.val_split, else test_acc)",
    Role::kShared, Eval::kUnused, any());
  v("train.early_stop", c.train.early_stop,
    "stop when train.monitor has not improved for this many epochs (0: never)", Role::kShared,
    Eval::kUnused, non_negative(1000000));
  v("data.dataset", c.data.dataset, "data set: mnist | fashion-mnist", Role::kShared, Eval::kStored,
    any());
  v("data.dir", c.data.dir, "folder with the four IDX files (default data/<dataset>)", Role::kPerRank,
    Eval::kStored, any());
  v("data.train_limit", c.data.train_limit, "use the first N training images (0: all)", Role::kShared,
    Eval::kUnused, non_negative());
  v("data.test_limit", c.data.test_limit, "use the first N test images (0: all)", Role::kShared,
    Eval::kStored, non_negative());
  v("data.val_split", c.data.val_split,
    "fraction of the training images held out for validation, the last ones (0: none)",
    Role::kShared, Eval::kUnused, below_one());
  v("dist.backend", c.dist.backend,
    "gradient all-reduce: auto (nccl with a GPU per rank) | mpi | nccl", Role::kShared,
    Eval::kMachine, any());
  v("dist.device", c.dist.device,
    "auto | cpu | cuda | cuda:N (cuda: GPU <local rank mod GPUs>; cuda:N: GPU N + local rank)",
    Role::kShared,
    Eval::kMachine, any());
  v("dist.timeout_s", c.dist.timeout_s,
    "seconds before a stuck collective aborts the job (a step or evaluation: twice that; at "
    "most 2592000: 30 days)",
    Role::kShared,
    Eval::kUnused, duration(above_zero()));
  v("dist.debug", c.dist.debug, "check bit-identical replicas after each epoch (true | false)",
    Role::kShared, Eval::kUnused, any());
  v("checkpoint.every_steps", c.checkpoint.every_steps, "also checkpoint every N steps (0: off)",
    Role::kShared, Eval::kUnused, non_negative());
  v("checkpoint.keep_last", c.checkpoint.keep_last, "keep the newest N checkpoints", Role::kShared,
    Eval::kUnused, positive());
  v("checkpoint.keep_every", c.checkpoint.keep_every, "keep checkpoints of steps divisible by N",
    Role::kShared, Eval::kUnused, non_negative());
  v("checkpoint.keep_best", c.checkpoint.keep_best,
    "true: best.pt in the run directory holds the model of the best epoch by train.monitor",
    Role::kShared, Eval::kUnused, any());
  v("log.level", c.log.level, "trace | debug | info | warn | error", Role::kPerRank, Eval::kUnused,
    any());
  v("log.every_steps", c.log.every_steps,
    "a step line in metrics.jsonl every N steps (0: off; auto: about 50 per epoch)", Role::kPerRank,
    Eval::kUnused, auto_or_count());
  v("log.console_every_s", c.log.console_every_s,
    "seconds between step lines on the console (0: every step line; at most 2592000)", Role::kPerRank,
    Eval::kUnused, duration(non_negative()));
  v("log.progress", c.log.progress,
    "auto | bar | lines: live bar on a terminal (auto: when stdout is one), else lines", Role::kPerRank,
    Eval::kUnused, any());
}

// Shortest decimal text that reads back as the same double, so config.ini round-trips exactly.
std::string format_value(double value) {
  char buffer[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}
std::string format_value(int64_t value) { return std::to_string(value); }
std::string format_value(const std::string& value) { return value; }
std::string format_value(bool value) { return value ? "true" : "false"; }
template <typename E, typename = std::enable_if_t<kIsSetting<E>>>
std::string format_value(const E& value) {
  return to_string(value);
}

// Options for every key, each bound to its member of `config` (whose value is the default). An
// enumerated key is read as text and parsed into its member when the options are notified; a
// text no value has keeps the member as it was and goes to `unknown`.
po::options_description make_options(TrainConfig& config, UnknownChoices& unknown) {
  po::options_description keys("Config keys (INI [section] name = value, or --section.name VALUE)");
  visit_fields(config, [&](const char* key, auto& member, const char* help, KeyRole, EvalUse,
                           const Rule&) {
    using T = std::decay_t<decltype(member)>;
    if constexpr (kIsSetting<T>) {
      const std::string name = key;
      keys.add_options()(key,
                         po::value<std::string>()
                             ->default_value(format_value(member))
                             ->notifier([&member, &unknown, name](const std::string& text) {
                               if (const auto value = parse_setting<T>(text)) {
                                 member = *value;
                               } else {
                                 unknown[name] = text;
                               }
                             }),
                         help);
    } else {
      keys.add_options()(key, po::value(&member)->default_value(member, format_value(member)),
                         help);
    }
  });
  return keys;
}

// Throws "<key>: unknown value '<text>' (allowed: ...)" when `unknown` holds the key.
template <typename T>
void check_known(const char* key, const T&, const UnknownChoices& unknown) {
  if constexpr (kIsSetting<T>) {
    const auto found = unknown.find(key);
    if (found != unknown.end()) {
      VIT_FAIL(key, ": unknown value '", found->second, "' (allowed: ", setting_names<T>(), ")");
    }
  }
}

// Throws for the first key of the table that `unknown` holds.
void check_known(const TrainConfig& c, const UnknownChoices& unknown) {
  visit_fields(c, [&](const char* key, const auto& member, const char*, KeyRole, EvalUse,
                      const Rule&) { check_known(key, member, unknown); });
}

// validate(), with the enumerated keys' unknown texts reported at their keys' places.
void validate_keys(TrainConfig& c, const UnknownChoices& unknown) {
  // Every key's own constraint, in the table's order.
  visit_fields(static_cast<const TrainConfig&>(c),
               [&](const char* key, const auto& member, const char*, KeyRole, EvalUse,
                   const Rule& rule) {
                 check_known(key, member, unknown);
                 check_rule(key, member, rule);
               });
  // Constraints between keys.
  VIT_CHECK(c.model.hidden_d % c.model.n_heads == 0, "model.hidden_d: ", c.model.hidden_d,
            " is not divisible by model.n_heads = ", c.model.n_heads);
  VIT_CHECK(c.train.batch_size * c.train.accum_steps <= kMaxImagesPerStep, "train.accum_steps: ",
            c.train.accum_steps, " micro-batches of train.batch_size ", c.train.batch_size,
            " are more than ", kMaxImagesPerStep, " images per step");
  // More threads than cores only queue behind each other: 200 on 2 cores took minutes a step.
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  VIT_CHECK(c.train.threads <= 4 * cores, "train.threads: ", c.train.threads, " on a machine of ",
            cores, " cores (at most 4 per core; 0 follows the cores)");
  if (c.data.dir.empty()) c.data.dir = "data/" + to_string(c.data.dataset);
  c.train.monitor = resolved_monitor(c);
  const bool on_val =
      c.train.monitor == MonitorMetric::kValAcc || c.train.monitor == MonitorMetric::kValLoss;
  VIT_CHECK(!on_val || c.data.val_split > 0, "train.monitor: ", to_string(c.train.monitor),
            " needs a validation set (data.val_split > 0)");
}

}  // namespace

std::vector<std::pair<std::string, std::string>> TrainConfig::entries() const {
  std::vector<std::pair<std::string, std::string>> out;
  visit_fields(*this, [&](const char* key, const auto& member, const char*, KeyRole, EvalUse,
                          const Rule&) { out.emplace_back(key, format_value(member)); });
  return out;
}

const std::vector<KeyInfo>& config_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> out;
    const TrainConfig defaults;
    visit_fields(defaults, [&](const char* key, const auto&, const char* help, KeyRole role,
                               EvalUse eval, const Rule&) {
      out.push_back({key, help, role, eval});
    });
    return out;
  }();
  return keys;
}

std::optional<KeyRole> key_role(const std::string& key) {
  for (const KeyInfo& info : config_keys()) {
    if (key == info.name) return info.role;
  }
  return std::nullopt;
}

bool is_model_key(const std::string& key) { return key_role(key) == KeyRole::kModelShape; }

ParseResult parse_args(int argc, const char* const* argv, std::ostream& help_out) {
  ParseResult result;
  TrainConfig& config = result.config;

  po::options_description general("vit-train: train a Vision Transformer on MNIST-format data");
  general.add_options()("help,h", "print this help and exit")(
      "version", "print the versions of vit-train and its libraries and exit")(
      "metric-schema",
      "print the fields of metrics.jsonl's lines (one JSON object a field: event, key, type, "
      "tag, timing, unit, meaning) and exit")(
      "config", po::value(&config.config_file), "INI file with config keys")(
      "run-dir", po::value(&config.run_dir)->default_value(config.run_dir),
      "folder for config.ini, metrics.jsonl, the log and checkpoints (default: a fresh run gets "
      "runs/<config>-<time>, which runs/latest points at; a resumed one continues runs/latest)")(
      "resume", po::value(&config.resume)->default_value(config.resume),
      "none (fresh run), auto (newest complete checkpoint of --run-dir, else fresh) or a path");
  UnknownChoices unknown;
  po::options_description keys = make_options(config, unknown);

  CommandLine spec;
  spec.usage =
      "usage: vit-train [--config FILE] [--run-dir DIR] [--resume none|auto|PATH]\n"
      "                 [--section.key VALUE ...]\n";
  spec.shown = {&general, &keys};
  std::vector<std::string> given;  // the command line's options
  // The file's keys, under those of the command line.
  spec.before_notify = [&](po::variables_map& vm) {
    for (const std::string& key : given) config.origins[key] = "command line";
    if (vm.count("config")) {
      const std::string file = vm["config"].as<std::string>();
      // A folder or a device reads as an empty file (the run would use the defaults), a FIFO
      // blocks.
      std::error_code ec;
      const auto status = std::filesystem::status(file, ec);
      VIT_CHECK(!std::filesystem::exists(status) || std::filesystem::is_regular_file(status),
                file, ": not a regular file");
      // Read whole first: bounded, and never a read that blocks.
      std::istringstream in(read_small_file(file, kMaxConfigBytes, "a config file"));
      try {
        po::store(po::parse_config_file(in, keys, /*allow_unregistered=*/false), vm);
      } catch (const po::error& e) {
        VIT_FAIL(file, ": ", describe_option_error(e, &keys, ""));
      }
    }
    for (const KeyInfo& key : config_keys()) {
      if (vm.count(key.name) != 0 && !vm[key.name].defaulted() &&
          config.origins.count(key.name) == 0) {
        config.origins[key.name] = "file";
      }
    }
    return vm.count("config") ? vm["config"].as<std::string>() : std::string("command line");
  };
  po::variables_map vm;
  switch (parse_command_line(argc, argv, spec, vm, help_out, &given)) {
    case CommandLineOutcome::kVersion:
      result.version = true;
      return result;
    case CommandLineOutcome::kHelp:
      result.help = true;
      return result;
    case CommandLineOutcome::kRun:
      break;
  }
  if (vm.count("metric-schema")) {
    result.metric_schema = true;
    return result;
  }
  config.run_dir_given = vm.count("run-dir") != 0 && !vm["run-dir"].defaulted();
  validate_keys(config, unknown);
  return result;
}

void validate(TrainConfig& c) { validate_keys(c, {}); }

std::string to_ini(const TrainConfig& config) {
  std::ostringstream out;
  out << "# resolved config of this run; vit-train --config accepts it as it is\n";
  std::string section;
  for (const auto& [key, value] : config.entries()) {
    const auto dot = key.find('.');
    if (key.substr(0, dot) != section) {
      section = key.substr(0, dot);
      out << "\n[" << section << "]\n";
    }
    out << key.substr(dot + 1) << " = " << value << "\n";
  }
  return out.str();
}

std::string changed_keys(const std::vector<std::pair<std::string, std::string>>& stored,
                         const TrainConfig& config) {
  const std::map<std::string, std::string> before(stored.begin(), stored.end());
  std::string out;
  for (const auto& [key, value] : config.entries()) {
    const auto found = before.find(key);
    if (found == before.end() || found->second == value) continue;
    out += (out.empty() ? "" : ", ") + key + " " + found->second + " -> " + value;
  }
  return out;
}

MonitorMetric resolved_monitor(const TrainConfig& config) {
  if (config.train.monitor != MonitorMetric::kAuto) return config.train.monitor;
  return config.data.val_split > 0 ? MonitorMetric::kValAcc : MonitorMetric::kTestAcc;
}

int64_t step_line_interval(const LogConfig& log, int64_t steps_per_epoch) {
  if (log.every_steps != "auto") return std::stoll(log.every_steps);
  return std::max<int64_t>(1, steps_per_epoch / kAutoStepLinesPerEpoch);
}

void apply_entries(TrainConfig& config,
                   const std::vector<std::pair<std::string, std::string>>& entries,
                   const std::string& source) {
  UnknownChoices unknown;
  const po::options_description keys = make_options(config, unknown);
  po::parsed_options parsed(&keys);
  for (const auto& [key, value] : entries) {
    po::option option(key, {value});
    option.original_tokens = {"--" + key, value};
    parsed.options.push_back(option);
  }
  try {
    po::variables_map vm;
    po::store(parsed, vm);
    po::notify(vm);  // the keys not given keep their values: make_options took them as defaults
  } catch (const po::error& e) {
    VIT_FAIL(source, ": ", describe_option_error(e));
  }
  // (as validate() words it: an enumerated key cannot hold the text until then)
  check_known(config, unknown);
}

}  // namespace vit
