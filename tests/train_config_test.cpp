// Config: defaults, INI file, command-line overrides, validation errors naming the key.
#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/train_config.h"
#include "test_util.h"
#include "train/train_inputs.h"
#include "util/error.h"

namespace vit {
namespace {

using testing::TempDir;

// Runs parse_args on {"vit-train", args...}, then check_train_inputs as vit-train does.
ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "vit-train");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream help;
  ParseResult result = parse_args(static_cast<int>(argv.size()), argv.data(), help);
  if (!result.help && !result.version) check_train_inputs(result.config);
  return result;
}

// Expects parsing to fail with a message containing every fragment.
void expect_error(std::vector<std::string> args, std::vector<std::string> fragments) {
  try {
    parse(args);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << message << " lacks " << fragment;
    }
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::create_directories(dir_.file("data")); }
  // An INI file in the temp dir with the given body and data.dir pointing at an existing folder.
  std::string ini(const std::string& body) {
    const std::string path = dir_.file("test.ini");
    std::ofstream(path) << "[data]\ndir = " << dir_.file("data") << "\n" << body;
    return path;
  }
  TempDir dir_;
};

TEST_F(ConfigTest, DefaultsAreTheTutorialsSettings) {
  const TrainConfig c = parse({"--config", ini("")}).config;
  EXPECT_EQ(c.model.n_patches, 7);
  EXPECT_EQ(c.model.hidden_d, 8);
  EXPECT_EQ(c.model.n_heads, 2);
  EXPECT_EQ(c.model.n_blocks, 2);
  EXPECT_EQ(to_string(c.optim.name), "adam");
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.005);
  EXPECT_EQ(c.train.batch_size, 128);
  EXPECT_EQ(c.train.epochs, 5);
  EXPECT_EQ(to_string(c.data.dataset), "mnist");
}

TEST_F(ConfigTest, FileThenCommandLinePrecedence) {
  const std::string file = ini("[model]\nhidden_d = 16\nn_heads = 4\n[train]\nepochs = 3\n");
  const TrainConfig c = parse({"--config", file, "--train.epochs", "9", "--run-dir", "x"}).config;
  EXPECT_EQ(c.model.hidden_d, 16);  // file over default
  EXPECT_EQ(c.model.n_heads, 4);
  EXPECT_EQ(c.train.epochs, 9);     // command line over file
  EXPECT_EQ(c.run_dir, "x");
  EXPECT_EQ(c.config_file, file);
}

// Overrides stack: a key given twice takes its last value (VIT_ARGS, then a script's arguments),
// and each key knows where its value came from.
TEST_F(ConfigTest, TheLastOfRepeatedOverridesWins) {
  const std::string file = ini("[train]\nepochs = 3\nbatch_size = 32\n");
  const TrainConfig c =
      parse({"--config", file, "--train.epochs", "1", "--optim.lr", "0.1", "--train.epochs", "2",
             "--optim.lr=0.2", "--run-dir", "a", "--run-dir", "b"})
          .config;
  EXPECT_EQ(c.train.epochs, 2);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.2);
  EXPECT_EQ(c.run_dir, "b");
  EXPECT_EQ(c.train.batch_size, 32);
  EXPECT_EQ(c.origins.at("train.epochs"), "command line");
  EXPECT_EQ(c.origins.at("optim.lr"), "command line");
  EXPECT_EQ(c.origins.at("train.batch_size"), "file");
  EXPECT_EQ(c.origins.at("data.dir"), "file");
  EXPECT_EQ(c.origins.count("model.hidden_d"), 0u);  // the default
  // The last value is the one checked: a bad last value is refused, an overridden one is not.
  expect_error({"--config", file, "--train.epochs", "2", "--train.epochs", "x"},
               {"train.epochs", "x"});
  EXPECT_EQ(
      parse({"--config", file, "--train.epochs", "x", "--train.epochs", "4"}).config.train.epochs,
      4);
}

TEST_F(ConfigTest, DataDirDefaultsToTheDatasetFolder) {
  TrainConfig c;
  c.data.dataset = DatasetName::kFashionMnist;
  // Run from an empty folder: data/fashion-mnist does not exist there, and the error says so and
  // how to fetch it.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  try {
    validate(c);  // fills the default
    check_train_inputs(c);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.dir: data/fashion-mnist"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("get-data.sh fashion-mnist"), std::string::npos);
  }
  std::filesystem::current_path(cwd);
  EXPECT_EQ(c.data.dir, "data/fashion-mnist");
}

TEST_F(ConfigTest, TheMonitorAutoIsResolvedByTheValidationSplit) {
  EXPECT_EQ(parse({"--config", ini("")}).config.train.monitor, MonitorMetric::kTestAcc);
  const TrainConfig with_val =
      parse({"--config", ini("[data]\nval_split = 0.1\n"), "--checkpoint.keep_best", "true"})
          .config;
  EXPECT_EQ(with_val.train.monitor, MonitorMetric::kValAcc);
  EXPECT_TRUE(with_val.checkpoint.keep_best);
  EXPECT_NE(to_ini(with_val).find("monitor = val_acc"), std::string::npos);
  expect_error({"--config", ini(""), "--train.monitor", "val_loss"},
               {"train.monitor: val_loss needs a validation set (data.val_split > 0)"});
  expect_error({"--config", ini(""), "--train.monitor", "best"},
               {"train.monitor: unknown value 'best'", "val_acc"});
}

TEST_F(ConfigTest, DistDeviceTakesAGpuIndex) {
  const TrainConfig c = parse({"--config", ini("[dist]\ndevice = cuda:1\n")}).config;
  EXPECT_EQ(c.dist.device.kind, DeviceKind::kCuda);
  EXPECT_EQ(c.dist.device.first_gpu, 1);
  EXPECT_NE(to_ini(c).find("device = cuda:1"), std::string::npos);
  EXPECT_EQ(parse({"--config", ini(""), "--dist.device", "cuda"}).config.dist.device.first_gpu, -1);
  for (const char* bad : {"cuda:", "cuda:x", "cuda:-1", "cuda:12345", "gpu"}) {
    expect_error({"--config", ini(""), "--dist.device", bad},
                 {std::string("dist.device: unknown value '") + bad +
                  "' (allowed: auto, cpu, cuda, cuda:N)"});
  }
}

TEST_F(ConfigTest, IniRoundTrip) {
  const std::string file =
      ini("[optim]\nlr = 0.0003\nname = adamw\nschedule = cosine\nwarmup_steps = 10\n");
  const TrainConfig first = parse({"--config", file}).config;
  const std::string saved = dir_.file("saved.ini");
  std::ofstream(saved) << to_ini(first);
  const TrainConfig second = parse({"--config", saved}).config;
  EXPECT_EQ(first.entries(), second.entries());
  EXPECT_EQ(second.optim.lr, 0.0003);
}

TEST_F(ConfigTest, ChangedKeysListsWhatDiffersFromAStoredConfig) {
  TrainConfig before;
  before.train.epochs = 5;
  auto stored = before.entries();
  EXPECT_EQ(changed_keys(stored, before), "");
  TrainConfig after = before;
  after.train.epochs = 20;
  after.optim.lr = 0.002;
  EXPECT_EQ(changed_keys(stored, after), "optim.lr 0.005 -> 0.002, train.epochs 5 -> 20");
  stored.erase(std::remove_if(stored.begin(), stored.end(),
                              [](const auto& e) { return e.first == "optim.lr"; }),
               stored.end());  // a file of a version before the key: not compared
  EXPECT_EQ(changed_keys(stored, after), "train.epochs 5 -> 20");
}

TEST_F(ConfigTest, BooleansAndDistKeys) {
  const TrainConfig c = parse({"--config", ini("[dist]\ndebug = true\nbackend = mpi\n"),
                               "--optim.lr_scaling", "linear", "--train.accum_steps", "4"})
                            .config;
  EXPECT_TRUE(c.dist.debug);
  EXPECT_EQ(to_string(c.dist.backend), "mpi");
  EXPECT_EQ(to_string(c.optim.lr_scaling), "linear");
  EXPECT_EQ(c.train.accum_steps, 4);
  EXPECT_NE(to_ini(c).find("debug = true"), std::string::npos);
  EXPECT_FALSE(parse({"--config", ini(""), "--dist.debug", "false"}).config.dist.debug);
}

TEST_F(ConfigTest, HelpListsEveryKey) {
  std::vector<const char*> argv = {"vit-train", "--help"};
  std::ostringstream help;
  EXPECT_TRUE(parse_args(2, argv.data(), help).help);
  for (const auto& [key, value] : TrainConfig().entries()) {
    EXPECT_NE(help.str().find(key), std::string::npos) << key;
  }
}

TEST_F(ConfigTest, UnknownKeyInFileNamesFileAndKey) {
  const std::string file = ini("[model]\nhidden = 8\n");
  expect_error({"--config", file}, {file, "model.hidden"});
}

TEST_F(ConfigTest, UnknownCommandLineOption) {
  expect_error({"--config", ini(""), "--model.hiden_d", "4"},
               {"command line", "model.hiden_d", "(did you mean --model.hidden_d?)"});
}

TEST_F(ConfigTest, UnknownKeysGetTheNearestKnownOne) {
  expect_error({"--trian.epochs", "4"}, {"(did you mean --train.epochs?)"});
  expect_error({"--batch_size", "4"}, {"(did you mean --train.batch_size?)"});
  const std::string file = ini("[train]\nepoch = 3\n");
  expect_error({"--config", file}, {file, "train.epoch", "(did you mean train.epochs?)"});
  // Nothing near enough: no guess.
  try {
    parse({"--zzzzzzzz", "1"});
    FAIL() << "--zzzzzzzz was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigTest, MissingConfigFile) {
  expect_error({"--config", dir_.file("absent.ini")}, {"absent.ini: no such file (a config file)"});
}

// A folder, a device or a FIFO would read as an empty file (or block): the run would silently use
// the defaults. A link to a file is a file.
TEST_F(ConfigTest, ConfigThatIsNotARegularFile) {
  expect_error({"--config", dir_.file("data")}, {dir_.file("data") + ": not a regular file"});
  expect_error({"--config", "/dev/null"}, {"/dev/null: not a regular file"});
  const std::string fifo = dir_.file("fifo.ini");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  expect_error({"--config", fifo}, {fifo + ": not a regular file"});
  std::filesystem::create_symlink(ini("[train]\nepochs = 7\n"), dir_.file("link.ini"));
  EXPECT_EQ(parse({"--config", dir_.file("link.ini")}).config.train.epochs, 7);
}

TEST_F(ConfigTest, MalformedValue) {
  const std::string file = ini("[train]\nepochs = five\n");
  expect_error({"--config", file}, {file, "train.epochs"});
}

TEST_F(ConfigTest, ValidationErrorsNameTheKey) {
  const std::string f = ini("");
  expect_error({"--config", f, "--model.n_heads", "3"},
               {"model.hidden_d", "not divisible by model.n_heads"});
  expect_error({"--config", f, "--model.hidden_d", "0"}, {"model.hidden_d", "positive"});
  expect_error({"--config", f, "--model.n_patches", "-1"}, {"model.n_patches", "positive"});
  expect_error({"--config", f, "--model.n_blocks", "0"}, {"model.n_blocks"});
  expect_error({"--config", f, "--model.mlp_ratio", "0"}, {"model.mlp_ratio"});
  expect_error({"--config", f, "--optim.name", "lamb"},
               {"optim.name", "'lamb'", "allowed: adam, adamw, sgd"});
  expect_error({"--config", f, "--optim.lr", "0"}, {"optim.lr"});
  expect_error({"--config", f, "--optim.weight_decay", "-1"}, {"optim.weight_decay"});
  expect_error({"--config", f, "--optim.beta1", "1"}, {"optim.beta1"});
  expect_error({"--config", f, "--optim.beta2", "1.5"}, {"optim.beta2"});
  expect_error({"--config", f, "--optim.momentum", "-0.1"}, {"optim.momentum"});
  expect_error({"--config", f, "--optim.schedule", "step"},
               {"optim.schedule", "allowed: constant, cosine"});
  expect_error({"--config", f, "--optim.warmup_steps", "-5"}, {"optim.warmup_steps"});
  expect_error({"--config", f, "--optim.min_lr_ratio", "2"}, {"optim.min_lr_ratio"});
  expect_error({"--config", f, "--train.epochs", "0"}, {"train.epochs"});
  expect_error({"--config", f, "--train.batch_size", "0"}, {"train.batch_size"});
  expect_error({"--config", f, "--train.eval_batch_size", "0"}, {"train.eval_batch_size"});
  expect_error({"--config", f, "--train.max_steps", "-1"}, {"train.max_steps"});
  expect_error({"--config", f, "--train.seed", "-1"}, {"train.seed"});
  expect_error({"--config", f, "--train.threads", "-2"}, {"train.threads"});
  // Boost's message placeholders in a token or a value: what() looped for ever (found by fuzzing).
  expect_error({"--config", f, "--foo%original_token%"}, {"unrecognised option '--foo"});
  expect_error({"--config", f, "--model.hidden_d", "%value%x"}, {"model.hidden_d", "is invalid"});
  std::ofstream(dir_.file("placeholder.ini")) << "[model]\nmin_%original_token% = 1\n";
  expect_error({"--config", dir_.file("placeholder.ini")}, {"unrecognised option 'model.min_"});
  // Limits (issue 14): values that overflowed, ran 0 steps, stalled or allocated gigabytes.
  const std::string huge = std::to_string(std::numeric_limits<int64_t>::max());
  expect_error({"--config", f, "--train.accum_steps", std::to_string(int64_t{1} << 62)},
               {"train.accum_steps: at most 1048576"});
  expect_error({"--config", f, "--train.accum_steps", "40000", "--train.batch_size", "64"},
               {"train.accum_steps: 40000 micro-batches of train.batch_size 64"});
  expect_error({"--config", f, "--train.batch_size", huge}, {"train.batch_size: at most"});
  expect_error({"--config", f, "--train.epochs", huge}, {"train.epochs: at most 1000000"});
  expect_error({"--config", f, "--train.max_steps", huge}, {"train.max_steps: at most"});
  expect_error({"--config", f, "--train.threads", "100000"}, {"train.threads: at most 1024"});
  expect_error({"--config", f, "--train.threads", "1024"}, {"train.threads: 1024 on a machine of"});
  expect_error({"--config", f, "--model.n_patches", "1000"}, {"model.n_patches: at most 64"});
  expect_error({"--config", f, "--model.hidden_d", "100000"}, {"model.hidden_d: at most 8192"});
  expect_error({"--config", f, "--model.n_blocks", "100000"}, {"model.n_blocks: at most 256"});
  expect_error({"--config", f, "--data.dataset", "cifar"},
               {"data.dataset", "allowed: mnist, fashion-mnist"});
  expect_error({"--config", f, "--data.dir", dir_.file("nowhere")}, {"data.dir", "nowhere"});
  expect_error({"--config", f, "--data.train_limit", "-1"}, {"data.train_limit"});
  expect_error({"--config", f, "--data.test_limit", "-1"}, {"data.test_limit"});
  expect_error({"--config", f, "--optim.lr_scaling", "sqrt"},
               {"optim.lr_scaling", "allowed: none, linear"});
  expect_error({"--config", f, "--train.accum_steps", "0"}, {"train.accum_steps"});
  expect_error({"--config", f, "--dist.backend", "gloo"}, {"dist.backend", "allowed: auto, mpi, nccl"});
  expect_error({"--config", f, "--dist.device", "tpu"}, {"dist.device", "allowed: auto, cpu, cuda"});
  expect_error({"--config", f, "--dist.timeout_s", "0"}, {"dist.timeout_s"});
  expect_error({"--config", f, "--dist.debug", "maybe"}, {"dist.debug"});
  expect_error({"--config", f, "--log.level", "loud"}, {"log.level", "'loud'"});
  expect_error({"--config", f, "--log.every_steps", "-1"}, {"log.every_steps"});
  expect_error({"--config", f, "--log.every_steps", "often"}, {"log.every_steps", "'often'"});
  expect_error({"--config", f, "--log.console_every_s", "-2"}, {"log.console_every_s"});
  expect_error({"--config", f, "--log.progress", "spinner"},
               {"log.progress", "allowed: auto, bar, lines"});
  expect_error({"--config", f, "--train.attention", "flash"},
               {"train.attention", "allowed: auto, fused, matmul"});
  expect_error({"--config", f, "--train.parallel", "threads"},
               {"train.parallel", "allowed: auto, batch, ops"});
  expect_error({"--config", f, "--checkpoint.every_steps", "-1"}, {"checkpoint.every_steps"});
  expect_error({"--config", f, "--checkpoint.keep_last", "0"}, {"checkpoint.keep_last"});
  expect_error({"--config", f, "--checkpoint.keep_every", "-3"}, {"checkpoint.keep_every"});
  expect_error({"--config", f, "--run-dir", ""}, {"--run-dir", "must not be empty"});
  expect_error({"--config", f, "--resume", ""}, {"--resume", "none, auto or a checkpoint path"});
}

// --resume none (the default) refuses a run directory that holds an earlier run's checkpoints;
// --resume PATH needs that file; --resume auto accepts both.
TEST_F(ConfigTest, ResumeModesAgainstTheRunDirectory) {
  const std::string f = ini("");
  const std::string run = dir_.file("run");
  EXPECT_NO_THROW(parse({"--config", f, "--run-dir", run}));  // nothing there yet
  std::filesystem::create_directories(run + "/checkpoints");
  std::ofstream(run + "/checkpoints/LATEST") << "step-00000004.pt\n";
  expect_error({"--config", f, "--run-dir", run}, {"--resume none", run, "--resume auto"});
  EXPECT_NO_THROW(parse({"--config", f, "--run-dir", run, "--resume", "auto"}));
  expect_error({"--config", f, "--run-dir", run, "--resume", run + "/checkpoints/gone.pt"},
               {"--resume", "gone.pt", "no such checkpoint file"});
}

// Issue 29: the optimizer's keys are checked as the step uses them, as floats: 1e39 is a finite
// double and an infinite float, which made every parameter NaN in one step with no error.
TEST_F(ConfigTest, OptimizerKeysMustFitTheFloatTheStepUses) {
  const std::string f = ini("");
  expect_error({"--config", f, "--optim.lr", "1e39"}, {"optim.lr", "1e+39", "float"});
  expect_error({"--config", f, "--optim.lr", "1e-50"}, {"optim.lr", "float"});
  expect_error({"--config", f, "--optim.weight_decay", "1e39"}, {"optim.weight_decay", "float"});
  // Below 1 as a double, 1 as a float: Adam's bias correction would divide by zero.
  expect_error({"--config", f, "--optim.beta2", "0.99999999999"}, {"optim.beta2", "float"});
  expect_error({"--config", f, "--optim.momentum", "0.999999999999"}, {"optim.momentum", "float"});
  // The largest float is fine, and so is a value the float rounds a little.
  EXPECT_NO_THROW(parse({"--config", f, "--optim.lr", "3e38"}));
  EXPECT_NO_THROW(parse({"--config", f, "--optim.lr", "0.1", "--optim.beta2", "0.9999"}));
  EXPECT_NO_THROW(parse({"--config", f, "--optim.weight_decay", "1e-50"}));  // 0 as a float: none
}

// Issue 29: every floating key refuses NaN and infinities, whatever its range says.
TEST_F(ConfigTest, EveryFloatingKeyRefusesNonFiniteValues) {
  const std::string f = ini("");
  for (const std::string key :
       {"optim.lr", "optim.weight_decay", "optim.beta1", "optim.beta2", "optim.momentum",
        "optim.min_lr_ratio", "dist.timeout_s", "log.console_every_s"}) {
    for (const std::string value : {"inf", "-inf", "nan"}) {
      expect_error({"--config", f, "--" + key + "=" + value}, {key, "finite"});
    }
  }
  std::ofstream(dir_.file("inf.ini"))
      << "[data]\ndir = " << dir_.file("data") << "\n[optim]\nweight_decay = inf\n";
  expect_error({"--config", dir_.file("inf.ini")}, {"optim.weight_decay", "finite"});
}

// Issue 29: durations have a documented maximum (dist.timeout_s 1e12 overflowed the conversion
// to the clock's nanoseconds and timed out after ~6 s).
TEST_F(ConfigTest, DurationKeysHaveAMaximum) {
  const std::string f = ini("");
  const std::string most = std::to_string(static_cast<int64_t>(kMaxDurationS));
  for (const std::string key : {"dist.timeout_s", "log.console_every_s"}) {
    expect_error({"--config", f, "--" + key, "1e12"}, {key, "at most " + most});
    EXPECT_NO_THROW(parse({"--config", f, "--" + key, most}));
  }
  EXPECT_GE(kMaxDurationS, 7 * 24 * 3600.0);  // a week: more than any collective may take
}

// The key table carries every key once, in the order of entries(), with its role; vit-eval's
// lists come from it.
TEST(KeyTable, EveryKeyWithItsRoleAndEvalUse) {
  const auto& keys = config_keys();
  const auto entries = TrainConfig{}.entries();
  ASSERT_EQ(keys.size(), entries.size());
  std::vector<std::string> stored, machine;
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(keys[i].name, entries[i].first);
    const bool model = std::string(keys[i].name).rfind("model.", 0) == 0;
    EXPECT_EQ(keys[i].role == KeyRole::kModelShape, model) << keys[i].name;
    if (keys[i].eval == EvalUse::kStored) stored.emplace_back(keys[i].name);
    if (keys[i].eval == EvalUse::kMachine) machine.emplace_back(keys[i].name);
  }
  EXPECT_EQ(stored, (std::vector<std::string>{"model.n_patches", "model.hidden_d", "model.n_heads",
                                              "model.n_blocks", "model.mlp_ratio",
                                              "train.eval_batch_size", "train.attention",
                                              "data.dataset", "data.dir", "data.test_limit"}));
  EXPECT_EQ(machine, (std::vector<std::string>{"train.threads", "dist.backend", "dist.device"}));
}

// The roles decide what a checkpoint must match (model.*) and what the ranks of a job may have
// of their own (parallel/input_agreement): data.dir and log.*.
TEST(KeyTable, RolesNameTheModelShapeAndWhatARankMayHaveOfItsOwn) {
  std::vector<std::string> per_rank;
  for (const KeyInfo& key : config_keys()) {
    if (key.role == KeyRole::kPerRank) per_rank.emplace_back(key.name);
  }
  EXPECT_EQ(per_rank, (std::vector<std::string>{"data.dir", "log.level", "log.every_steps",
                                                "log.console_every_s", "log.progress"}));
  EXPECT_TRUE(is_model_key("model.hidden_d"));
  EXPECT_FALSE(is_model_key("optim.lr"));
  EXPECT_FALSE(is_model_key("model.no_such_key"));
  EXPECT_EQ(key_role("dist.backend"), KeyRole::kShared);
  EXPECT_FALSE(key_role("no.such_key").has_value());
}

// An enumerated key's text is parsed once into its enum and written back as the same text: the
// config.ini and the config a checkpoint stores stay what they were.
TEST(Choices, NamesRoundTripAndUnknownTextIsNone) {
  for (const auto& choice : ChoiceTable<OptimName>::kValues) {
    EXPECT_EQ(parse_choice<OptimName>(choice.name), choice.value);
    EXPECT_EQ(to_string(choice.value), choice.name);
  }
  EXPECT_EQ(parse_choice<DatasetName>("fashion-mnist"), DatasetName::kFashionMnist);
  EXPECT_EQ(parse_choice<LogLevel>("warn"), LogLevel::kWarn);
  EXPECT_FALSE(parse_choice<OptimName>("Adam").has_value());  // exact, as before
  EXPECT_FALSE(parse_choice<OptimName>("").has_value());
  EXPECT_EQ(choice_names<MemoryCheck>(), "refuse, warn, off");
  TrainConfig c;
  c.optim.name = OptimName::kAdamW;
  c.train.precision = Precision::kBf16;
  c.data.dataset = DatasetName::kFashionMnist;
  const auto entries = c.entries();
  const auto value_of = [&](const std::string& key) {
    for (const auto& [k, v] : entries) {
      if (k == key) return v;
    }
    return std::string("(missing)");
  };
  EXPECT_EQ(value_of("optim.name"), "adamw");
  EXPECT_EQ(value_of("train.precision"), "bf16");
  EXPECT_EQ(value_of("data.dataset"), "fashion-mnist");
  EXPECT_EQ(value_of("optim.fused"), "on");
  EXPECT_EQ(value_of("dist.device"), "auto");
  // apply_entries (a checkpoint's stored config, vit-eval's keys) parses them back, and names an
  // unknown value as validate() does.
  TrainConfig back;
  apply_entries(back, entries, "test");
  EXPECT_EQ(back.optim.name, OptimName::kAdamW);
  EXPECT_EQ(back.data.dataset, DatasetName::kFashionMnist);
  try {
    apply_entries(back, {{"train.parallel", "threads"}}, "test");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("train.parallel: unknown value 'threads' (allowed: auto, "
                                         "batch, ops)") != std::string::npos,
              true)
        << e.what();
  }
}

TEST(StepLineInterval, AutoAimsAtFiftyLinesPerEpochAndNumbersAreTakenAsGiven) {
  LogConfig log;
  EXPECT_EQ(log.every_steps, "auto");  // the default
  EXPECT_EQ(step_line_interval(log, 235), 4);    // full MNIST, 2 ranks of 128: 58 lines
  EXPECT_EQ(step_line_interval(log, 469), 9);    // 1 rank of 128: 52 lines
  EXPECT_EQ(step_line_interval(log, 8), 1);      // a tiny epoch: every step
  EXPECT_EQ(step_line_interval(log, 23438), 468);
  log.every_steps = "7";
  EXPECT_EQ(step_line_interval(log, 235), 7);
  log.every_steps = "0";
  EXPECT_EQ(step_line_interval(log, 235), 0);  // off
}

}  // namespace
}  // namespace vit
