#include "config/train_config.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

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
    kOneOf,        // one of `allowed`
    kAutoOrCount,  // "auto" or digits
  };
  Kind kind = Kind::kAny;
  std::vector<const char*> allowed;
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
  return {Rule::Kind::kPositive, {}, max};
}
Rule non_negative(int64_t max = std::numeric_limits<int64_t>::max()) {
  return {Rule::Kind::kNonNegative, {}, max};
}
Rule above_zero() { return {Rule::Kind::kAboveZero, {}}; }
Rule below_one() { return {Rule::Kind::kBelowOne, {}}; }
Rule up_to_one() { return {Rule::Kind::kUpToOne, {}}; }
Rule one_of(std::vector<const char*> allowed) { return {Rule::Kind::kOneOf, std::move(allowed)}; }
Rule auto_or_count() { return {Rule::Kind::kAutoOrCount, {}}; }
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
  if (rule.kind != Rule::Kind::kOneOf) return;
  std::string allowed;
  for (const char* name : rule.allowed) {
    if (value == name) return;
    allowed += allowed.empty() ? name : std::string(", ") + name;
  }
  VIT_FAIL(key, ": unknown value '", value, "' (allowed: ", allowed, ")");
}

void check_rule(const char*, bool, const Rule&) {}

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
  v("optim.name", c.optim.name, "optimizer: adam | adamw | sgd", Role::kOptimizer, Eval::kUnused,
    one_of({"adam", "adamw", "sgd"}));
  v("optim.lr", c.optim.lr, "peak learning rate", Role::kOptimizer, Eval::kUnused,
    in_float(above_zero()));
  v("optim.weight_decay", c.optim.weight_decay, "weight decay (decoupled for adamw)",
    Role::kOptimizer, Eval::kUnused, in_float(non_negative()));
  v("optim.beta1", c.optim.beta1, "adam/adamw beta1", Role::kOptimizer, Eval::kUnused,
    in_float(below_one()));
  v("optim.beta2", c.optim.beta2, "adam/adamw beta2", Role::kOptimizer, Eval::kUnused,
    in_float(below_one()));
  v("optim.momentum", c.optim.momentum, "sgd momentum", Role::kOptimizer, Eval::kUnused,
    in_float(below_one()));
  v("optim.schedule", c.optim.schedule, "learning-rate schedule after warm-up: constant | cosine",
    Role::kOptimizer, Eval::kUnused, one_of({"constant", "cosine"}));
  v("optim.warmup_steps", c.optim.warmup_steps, "linear warm-up steps", Role::kOptimizer,
    Eval::kUnused, non_negative(kMaxSteps));
  v("optim.min_lr_ratio", c.optim.min_lr_ratio, "cosine floor as a fraction of optim.lr",
    Role::kOptimizer, Eval::kUnused, up_to_one());
  v("optim.lr_scaling", c.optim.lr_scaling, "none | linear (optim.lr times the world size)",
    Role::kOptimizer, Eval::kUnused, one_of({"none", "linear"}));
  v("optim.fused", c.optim.fused,
    "on: the update in one pass over flat buffers | off: LibTorch's per-parameter optimizer",
    Role::kOptimizer, Eval::kUnused, one_of({"on", "off"}));
  v("train.epochs", c.train.epochs, "passes over the training set", Role::kTraining, Eval::kUnused,
    positive(1000000));
  v("train.batch_size", c.train.batch_size, "images per step and rank", Role::kTraining,
    Eval::kUnused, positive(kMaxImagesPerStep));
  v("train.eval_batch_size", c.train.eval_batch_size, "images per evaluation batch and rank",
    Role::kTraining, Eval::kStored, positive(kMaxImagesPerStep));
  v("train.accum_steps", c.train.accum_steps, "micro-batches per step (one all-reduce per step)",
    Role::kTraining, Eval::kUnused, positive(kMaxImagesPerStep));
  v("train.max_steps", c.train.max_steps, "stop after this many steps (0: no limit)",
    Role::kTraining, Eval::kUnused, non_negative(kMaxSteps));
  v("train.seed", c.train.seed, "seed of initialisation and data order", Role::kTraining,
    Eval::kUnused, non_negative());
  v("train.threads", c.train.threads, "intra-op threads per rank (0: all cores)", Role::kMachine,
    Eval::kMachine, non_negative(1024));
  v("train.attention", c.train.attention,
    "auto | fused | matmul: attention kernel (auto: fused on CPU, matmul on GPU)", Role::kMachine,
    Eval::kUnused, one_of({"auto", "fused", "matmul"}));
  v("train.parallel", c.train.parallel,
    "auto | batch | ops: threads share a step's images (batch) or each kernel (ops); auto: batch "
    "on CPU",
    Role::kMachine, Eval::kUnused, one_of({"auto", "batch", "ops"}));
  v("train.cuda_graph", c.train.cuda_graph,
    "auto | on | off: replay each GPU step as one CUDA graph (auto: where it can run)",
    Role::kMachine, Eval::kUnused, one_of({"auto", "on", "off"}));
  v("train.precision", c.train.precision,
    "fp32 | bf16: matrix products in bfloat16 under autocast, float32 weights and optimizer",
    Role::kMachine, Eval::kUnused, one_of({"fp32", "bf16"}));
  v("train.memory_check", c.train.memory_check,
    "refuse | warn | off: a run whose estimated memory exceeds what its machine has free",
    Role::kMachine, Eval::kUnused, one_of({"refuse", "warn", "off"}));
  v("data.dataset", c.data.dataset, "data set: mnist | fashion-mnist", Role::kData, Eval::kStored,
    one_of({"mnist", "fashion-mnist"}));
  v("data.dir", c.data.dir, "folder with the four IDX files (default data/<dataset>)", Role::kData,
    Eval::kStored, any());
  v("data.train_limit", c.data.train_limit, "use the first N training images (0: all)", Role::kData,
    Eval::kUnused, non_negative());
  v("data.test_limit", c.data.test_limit, "use the first N test images (0: all)", Role::kData,
    Eval::kStored, non_negative());
  v("dist.backend", c.dist.backend,
    "gradient all-reduce: auto (nccl with a GPU per rank) | mpi | nccl", Role::kMachine,
    Eval::kMachine, one_of({"auto", "mpi", "nccl"}));
  v("dist.device", c.dist.device, "auto | cpu | cuda (cuda:<local rank mod GPUs>)", Role::kMachine,
    Eval::kMachine, one_of({"auto", "cpu", "cuda"}));
  v("dist.timeout_s", c.dist.timeout_s,
    "seconds before a stuck collective aborts the job (a step or evaluation: twice that; at "
    "most 2592000: 30 days)",
    Role::kMachine,
    Eval::kUnused, duration(above_zero()));
  v("dist.debug", c.dist.debug, "check bit-identical replicas after each epoch (true | false)",
    Role::kJob, Eval::kUnused, any());
  v("checkpoint.every_steps", c.checkpoint.every_steps, "also checkpoint every N steps (0: off)",
    Role::kJob, Eval::kUnused, non_negative());
  v("checkpoint.keep_last", c.checkpoint.keep_last, "keep the newest N checkpoints", Role::kJob,
    Eval::kUnused, positive());
  v("checkpoint.keep_every", c.checkpoint.keep_every, "keep checkpoints of steps divisible by N",
    Role::kJob, Eval::kUnused, non_negative());
  v("log.level", c.log.level, "trace | debug | info | warn | error", Role::kJob, Eval::kUnused,
    one_of({"trace", "debug", "info", "warn", "error"}));
  v("log.every_steps", c.log.every_steps,
    "a step line in metrics.jsonl every N steps (0: off; auto: about 50 per epoch)", Role::kJob,
    Eval::kUnused, auto_or_count());
  v("log.console_every_s", c.log.console_every_s,
    "seconds between step lines on the console (0: every step line; at most 2592000)", Role::kJob,
    Eval::kUnused, duration(non_negative()));
  v("log.progress", c.log.progress,
    "auto | bar | lines: live bar on a terminal (auto: when stdout is one), else lines", Role::kJob,
    Eval::kUnused, one_of({"auto", "bar", "lines"}));
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

po::options_description make_options(TrainConfig& config) {
  po::options_description keys("Config keys (INI [section] name = value, or --section.name VALUE)");
  visit_fields(config, [&](const char* key, auto& member, const char* help, KeyRole, EvalUse,
                           const Rule&) {
    keys.add_options()(key, po::value(&member)->default_value(member, format_value(member)), help);
  });
  return keys;
}

}  // namespace

void keep_last_occurrences(po::parsed_options& parsed) {
  std::map<std::string, size_t> last;
  for (size_t i = 0; i < parsed.options.size(); ++i) last[parsed.options[i].string_key] = i;
  std::vector<po::option> kept;
  for (size_t i = 0; i < parsed.options.size(); ++i) {
    if (last[parsed.options[i].string_key] == i) kept.push_back(parsed.options[i]);
  }
  parsed.options = std::move(kept);
}

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

std::string describe_option_error(const std::exception& e) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return e.what();
  // Boost substitutes its %placeholders% until none is left: a token or value that holds one
  // (--x%value%, an INI line "k = %value%") made what() loop forever (found by fuzzing). The
  // substituted texts are shown with each % as a fullwidth percent sign instead.
  struct Safe : po::error_with_option_name {
    explicit Safe(const po::error_with_option_name& from) : po::error_with_option_name(from) {
      for (auto& entry : m_substitutions) {
        std::string safe;
        for (const char ch : entry.second) safe += ch == '%' ? std::string("\xef\xbc\x85") : std::string(1, ch);
        entry.second = safe;
      }
    }
  };
  return Safe(*named).what();
}

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
      "folder for config.ini, metrics.jsonl, the log and checkpoints")(
      "resume", po::value(&config.resume)->default_value(config.resume),
      "none (fresh run), auto (newest complete checkpoint of --run-dir, else fresh) or a path");
  po::options_description keys = make_options(config);
  po::options_description all;
  all.add(general).add(keys);

  po::variables_map vm;
  try {
    // The command line is stored first: po::store never overrides a stored value, so the
    // command line wins over the file and the file over the defaults.
    po::parsed_options parsed = po::command_line_parser(argc, argv).options(all).run();
    keep_last_occurrences(parsed);
    for (const auto& option : parsed.options) config.origins[option.string_key] = "command line";
    po::store(parsed, vm);
  } catch (const po::error& e) {
    VIT_FAIL("command line: ", describe_option_error(e));
  }
  if (vm.count("version")) {
    result.version = true;
    return result;
  }
  if (vm.count("metric-schema")) {
    result.metric_schema = true;
    return result;
  }
  if (vm.count("help")) {
    help_out << "usage: vit-train [--config FILE] [--run-dir DIR] [--resume none|auto|PATH]\n"
             << "                 [--section.key VALUE ...]\n\n"
             << general << "\n"
             << keys << "\n";
    result.help = true;
    return result;
  }
  if (vm.count("config")) {
    const std::string file = vm["config"].as<std::string>();
    // A folder or a device reads as an empty file (the run would use the defaults), a FIFO blocks.
    std::error_code ec;
    const auto status = std::filesystem::status(file, ec);
    VIT_CHECK(!std::filesystem::exists(status) || std::filesystem::is_regular_file(status), file,
              ": not a regular file");
    // Read whole first: bounded, and never a read that blocks.
    std::istringstream in(read_small_file(file, kMaxConfigBytes, "a config file"));
    try {
      po::store(po::parse_config_file(in, keys, /*allow_unregistered=*/false), vm);
    } catch (const po::error& e) {
      VIT_FAIL(file, ": ", describe_option_error(e));
    }
  }
  for (const KeyInfo& key : config_keys()) {
    if (vm.count(key.name) != 0 && !vm[key.name].defaulted() &&
        config.origins.count(key.name) == 0) {
      config.origins[key.name] = "file";
    }
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    VIT_FAIL(config.config_file.empty() ? "command line" : config.config_file, ": ",
              describe_option_error(e));
  }
  validate(config);
  return result;
}

void validate(TrainConfig& c) {
  // Every key's own constraint, in the table's order.
  visit_fields(static_cast<const TrainConfig&>(c),
               [](const char* key, const auto& member, const char*, KeyRole, EvalUse,
                  const Rule& rule) { check_rule(key, member, rule); });
  // Constraints between keys, and the options of the command line alone.
  VIT_CHECK(c.model.hidden_d % c.model.n_heads == 0, "model.hidden_d: ", c.model.hidden_d,
            " is not divisible by model.n_heads = ", c.model.n_heads);
  VIT_CHECK(c.train.batch_size * c.train.accum_steps <= kMaxImagesPerStep, "train.accum_steps: ",
            c.train.accum_steps, " micro-batches of train.batch_size ", c.train.batch_size,
            " are more than ", kMaxImagesPerStep, " images per step");
  // More threads than cores only queue behind each other: 200 on 2 cores took minutes a step.
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  VIT_CHECK(c.train.threads <= 4 * cores, "train.threads: ", c.train.threads, " on a machine of ",
            cores, " cores (at most 4 per core; 0 follows the cores)");
  if (c.data.dir.empty()) c.data.dir = "data/" + c.data.dataset;
  VIT_CHECK(std::filesystem::is_directory(c.data.dir), "data.dir: ", c.data.dir,
            " is not a directory (fetch the data with: launch/get-data.sh ", c.data.dataset, ")");
  VIT_CHECK(!c.resume.empty(), "--resume: must be none, auto or a checkpoint path");
  const auto marker = std::filesystem::path(c.run_dir) / "checkpoints" / "LATEST";
  VIT_CHECK(c.resume != "none" || !std::filesystem::exists(marker), "--resume none: ", c.run_dir,
            " already holds checkpoints of an earlier run; continue it with --resume auto, or "
            "choose another --run-dir");
  VIT_CHECK(c.resume == "none" || c.resume == "auto" || std::filesystem::is_regular_file(c.resume),
            "--resume: ", c.resume, ": no such checkpoint file");
  VIT_CHECK(!c.run_dir.empty(), "--run-dir: must not be empty");
}

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

int64_t step_line_interval(const LogConfig& log, int64_t steps_per_epoch) {
  if (log.every_steps != "auto") return std::stoll(log.every_steps);
  return std::max<int64_t>(1, steps_per_epoch / kAutoStepLinesPerEpoch);
}

std::string to_table(const TrainConfig& config) {
  const auto entries = config.entries();
  size_t width = 0;
  for (const auto& entry : entries) width = std::max(width, entry.first.size());
  std::ostringstream out;
  out << "+" << std::string(width + 2, '-') << "+\n";
  for (const auto& [key, value] : entries) {
    out << "| " << std::left << std::setw(static_cast<int>(width)) << key << " | " << value << "\n";
  }
  out << "+" << std::string(width + 2, '-') << "+";
  return out.str();
}

void apply_entries(TrainConfig& config,
                   const std::vector<std::pair<std::string, std::string>>& entries,
                   const std::string& source) {
  const po::options_description keys = make_options(config);
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
}

}  // namespace vit
