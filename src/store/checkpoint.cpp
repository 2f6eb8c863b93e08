#include "store/checkpoint.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "parallel/replicas.h"  // state_checksum
#include "store/tensor_file.h"
#include "util/error.h"
#include "util/fault_injection.h"
#include "util/input_file.h"

namespace vit {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointKind = "checkpoint";
constexpr const char* kModelKind = "model";

// The model's checksum, stored beside it: the file's own CRC covers every byte, this one names
// the parameters themselves (tests/tools/checkpoint-crc compares two runs' models with it).
int64_t state_crc(const torch::nn::Module& module) {
  return static_cast<int64_t>(state_checksum(module));
}

// Whether `path` starts like a zip archive (the TorchScript files of the formats before 2).
bool is_zip_archive(const std::string& path) {
  try {
    InputFile file(path, uint64_t{1} << 40, "a checkpoint");
    if (file.size() < 4) return false;
    char head[4] = {};
    file.read_exact(head, sizeof head);
    return std::string(head, 4) == std::string("PK\x03\x04", 4);
  } catch (const Error&) {
    return false;
  }
}

// Reads `path`, refusing a file of the format before 2 (a TorchScript archive: LibTorch compiles
// its code section on load, so it is never opened) with a line that says so. What is no regular
// file (a folder, a FIFO, a loop of links) is a CorruptCheckpoint, like a damaged file: --resume
// auto falls back to the previous checkpoint.
TensorFile open_file(const std::string& path) {
  std::error_code ec;
  VIT_CHECK(fs::exists(fs::symlink_status(path, ec)), path, ": no such checkpoint");
  try {
    return TensorFile::load(path);
  } catch (const CorruptFile&) {
    VIT_CHECK(!is_zip_archive(path), path,
              ": a checkpoint or model file of vit-train before format 2 (a TorchScript archive, "
              "which holds code); this version reads only its data-only format 2 and never loads "
              "code from a file: finish that run with the version that wrote it, or start anew");
    throw;
  }
}

// The file's kind ("checkpoint" or "model"); CorruptCheckpoint when it is neither.
std::string kind_of(const TensorFile& file, const std::string& path) {
  const int64_t format = file.get_int("format");
  VIT_CHECK(format == kCheckpointFormat, path, ": checkpoint format ", format,
            " is not the supported format ", kCheckpointFormat);
  const std::string& kind = file.get_text("kind");
  if (kind != kCheckpointKind && kind != kModelKind) {
    throw CorruptCheckpoint(path + ": a vit-train data file, but neither checkpoint nor model");
  }
  return kind;
}

// The config keys that shape the model (their role says so): a checkpoint only fits a model built
// with the same ones.
std::vector<std::pair<std::string, std::string>> shape_keys(const TrainConfig& config) {
  std::map<std::string, std::string> values;
  for (const auto& entry : config.entries()) values.insert(entry);
  std::vector<std::pair<std::string, std::string>> out;
  for (const KeyInfo& key : config_keys()) {
    if (key.role == KeyRole::kModelShape) out.emplace_back(key.name, values.at(key.name));
  }
  return out;
}

// The stored model-shape keys that differ from config.model, as "key (checkpoint A, config B)", or
// "" when they all agree. A key the file lacks was added after the file was written: the file's
// model was built as that key's default builds one, so the default stands for it.
std::string differing_shape_keys(const TensorFile& file, const TrainConfig& config) {
  const auto defaults = shape_keys(TrainConfig{});
  std::string differing;
  for (const auto& [key, value] : shape_keys(config)) {
    const std::string name = "config/" + key;
    std::string have;
    if (file.has(name)) {
      have = file.get_text(name);
    } else {
      const auto default_value = std::find_if(defaults.begin(), defaults.end(),
                                              [&](const auto& d) { return d.first == key; });
      have = "not stored: " + default_value->second + " by default";
      if (default_value->second == value) continue;
    }
    if (have != value) {
      differing += (differing.empty() ? "" : ", ") + key + " (checkpoint " + have + ", config " +
                   value + ")";
    }
  }
  return differing;
}

// Every key of the config, as "config/<key>" texts (vit-eval reads the model shape and the data
// set from them; resuming compares the model.* ones).
void put_config(TensorFile& file, const TrainConfig& config) {
  for (const auto& [key, value] : config.entries()) file.put("config/" + key, value);
}

// The shape of the images the model takes, beside its tensors: vit-predict makes a user's image
// into that shape (files without it, of earlier versions, hold 28x28 models of MNIST's).
constexpr const char* kImageKeys[] = {"image/channels", "image/height", "image/width"};

void put_model(TensorFile& file, VisionTransformer& model) {
  const ImageShape& image = model->image();
  file.put(kImageKeys[0], image.channels);
  file.put(kImageKeys[1], image.height);
  file.put(kImageKeys[2], image.width);
  for (const auto& item : model->named_parameters()) file.put("model/" + item.key(), item.value());
  for (const auto& item : model->named_buffers()) file.put("model/" + item.key(), item.value());
  file.put("model_crc", state_crc(*model));
}

// An intact file whose model does not fit this run's: not damage (--resume auto must not fall
// back past it), but a difference to name.
class ModelMismatch : public Error {
 public:
  using Error::Error;
};

std::string mismatch_text(const std::string& path, const std::string& name,
                          const torch::Tensor& stored, const torch::Tensor& target,
                          const ImageShape& image) {
  if (name == "patch_embed.linear.weight" && stored.dim() == 2 && target.dim() == 2 &&
      stored.size(0) == target.size(0) && stored.scalar_type() == target.scalar_type()) {
    // The width agrees (a model.* key would differ otherwise): the patches do not.
    return detail::concat(path, ": its model takes patches of ", stored.size(1),
                          " values, this run's images (", image.channels, "x", image.height,
                          "x", image.width, ") give patches of ", target.size(1),
                          ": it was trained on images of another size or channel count (see "
                          "data.dataset and data.dir)");
  }
  return detail::concat(path, ": ", name, " has shape ", stored.sizes(), " (",
                        stored.scalar_type(), "), the model ", target.sizes(), " (",
                        target.scalar_type(), ") (set the model.* keys of the run that wrote it)");
}

// The one place the model's tensors are read: "model/<name>" for each parameter and buffer,
// checked against the model's shape, then handed to `place` with the model's tensor. A
// "model/..." entry the model lacks is an error too (a bigger model's file).
void read_model_tensors(
    const TensorFile& file, VisionTransformer& model, const std::string& path,
    const std::function<void(torch::Tensor&, const torch::Tensor&)>& place) {
  size_t used = 0;
  const auto read = [&](const std::string& name, torch::Tensor& target) {
    const std::string key = "model/" + name;
    VIT_CHECK(file.has(key), path, ": holds no ", name,
              " (set the model.* keys of the run that wrote it)");
    const torch::Tensor& stored = file.get_tensor(key);
    if (stored.sizes() != target.sizes() || stored.scalar_type() != target.scalar_type()) {
      throw ModelMismatch(mismatch_text(path, name, stored, target, model->image()));
    }
    place(target, stored);
    ++used;
  };
  for (auto& item : model->named_parameters()) read(item.key(), item.value());
  for (auto& item : model->named_buffers()) read(item.key(), item.value());
  size_t stored = 0;
  std::string extra;
  for (const auto& entry : file.entries()) {
    if (entry.first.rfind("model/", 0) != 0) continue;
    ++stored;
    const std::string name = entry.first.substr(6);
    if (!model->named_parameters().contains(name) && !model->named_buffers().contains(name)) {
      extra = name;
    }
  }
  VIT_CHECK(stored == used, path, ": holds ", extra,
            ", which the model lacks (set the model.* keys of the run that wrote it)");
}

// Never a file of a diverged model: it would replace a good one (LATEST, final.pt), and pruning
// after it would delete good ones.
void check_finite_before_writing(const std::string& path, const VisionTransformer& model) {
  const std::string bad = nonfinite_tensor(*model);
  VIT_CHECK(bad.empty(), path, ": not written: the model's ", bad,
            " holds a NaN or an infinity (a diverged model)");
}

// A test build pauses here (util/fault_injection.h) to kill a rank in the middle of a write.
void test_delay() {
  const auto pause = injected_faults().checkpoint_pause;
  if (pause.count() > 0) std::this_thread::sleep_for(pause);
}

}  // namespace

std::string nonfinite_tensor(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> names;
  std::vector<torch::Tensor> finite;
  const auto note = [&](const std::string& name, const torch::Tensor& tensor) {
    names.push_back(name);
    finite.push_back(torch::isfinite(tensor).all().to(torch::kCPU, /*non_blocking=*/false));
  };
  for (const auto& item : module.named_parameters()) note(item.key(), item.value());
  for (const auto& item : module.named_buffers()) note(item.key(), item.value());
  if (finite.empty()) return "";
  const torch::Tensor all = torch::stack(finite);
  const auto flags = all.accessor<bool, 1>();
  for (size_t i = 0; i < names.size(); ++i) {
    if (!flags[static_cast<int64_t>(i)]) return names[i];
  }
  return "";
}

void write_checkpoint(const std::string& path, VisionTransformer& model, const TrainState& state,
                      const TrainConfig& config, const PutOptimizerState& put_optimizer) {
  check_finite_before_writing(path, model);
  TensorFile file;
  file.put("format", kCheckpointFormat);
  file.put("kind", std::string(kCheckpointKind));
  file.put("step", state.step);
  file.put("epoch", state.epoch);
  file.put("epoch_position", state.epoch_position);
  file.put("epoch_loss_sum", state.epoch_loss_sum);
  file.put("epoch_images", state.epoch_images);
  file.put("world_size", state.world_size);
  if (state.best.epoch > 0) {
    file.put("best/metric", state.best.metric);
    file.put("best/value", state.best.value);
    file.put("best/epoch", state.best.epoch);
  }
  file.put("seed", config.train.seed);
  put_config(file, config);
  put_model(file, model);
  file.put("optim/name", to_string(config.optim.name));
  put_optimizer(file);
  file.put("rng", at::detail::getDefaultCPUGenerator().get_state());
  file.save(path, test_delay);
}

TrainState read_checkpoint(const std::string& path, VisionTransformer& model,
                           const TrainConfig& config, const ReadOptimizerState& read_optimizer) {
  const TensorFile file = open_file(path);
  VIT_CHECK(kind_of(file, path) == kCheckpointKind, path,
            ": a model file (final.pt), not a checkpoint: it holds no training state");
  const std::string differing = differing_shape_keys(file, config);
  VIT_CHECK(differing.empty(), path, ": the checkpoint's model has another shape: ", differing);
  const std::string& optimizer_name = file.get_text("optim/name");
  VIT_CHECK(parse_choice<OptimName>(optimizer_name) == config.optim.name, path,
            ": written with optim.name ", optimizer_name, ", this run has ",
            to_string(config.optim.name));

  TrainState state;
  try {
    state.step = file.get_int("step");
    state.epoch = file.get_int("epoch");
    state.epoch_position = file.get_int("epoch_position");
    state.epoch_loss_sum = file.get_real("epoch_loss_sum");
    state.epoch_images = file.get_int("epoch_images");
    state.world_size = file.get_int("world_size");
    if (file.has("best/epoch")) {  // (checkpoints of earlier versions have none)
      state.best = {file.get_text("best/metric"), file.get_real("best/value"),
                    file.get_int("best/epoch")};
    }
    VIT_CHECK(state.step >= 0 && state.epoch >= 0 && state.epoch_position >= 0 &&
                  state.epoch_images >= 0 && state.world_size >= 1 && state.best.epoch >= 0,
              "negative counters");
    // Copied into the existing tensors, so they keep their device and the gradient views.
    torch::NoGradGuard no_grad;
    read_model_tensors(file, model, path, [](torch::Tensor& target, const torch::Tensor& stored) {
      target.copy_(stored);
    });
    read_optimizer(file);
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle: shares the state
    generator.set_state(file.get_tensor("rng"));
    VIT_CHECK(file.get_int("model_crc") == state_crc(*model), "model data checksum mismatch");
  } catch (const ModelMismatch&) {
    throw;
  } catch (const std::exception& e) {
    const std::string text = e.what();
    throw CorruptCheckpoint(path + ": damaged checkpoint: " + text.substr(0, text.find('\n')));
  }
  return state;
}

void write_model_file(const std::string& path, VisionTransformer& model,
                      const TrainConfig& config) {
  check_finite_before_writing(path, model);
  TensorFile file;
  file.put("format", kCheckpointFormat);
  file.put("kind", std::string(kModelKind));
  put_config(file, config);
  put_model(file, model);
  file.save(path);
}

StoredRun read_stored_run(const std::string& path) {
  StoredRun run;
  const TensorFile file = open_file(path);
  run.checkpoint = kind_of(file, path) == kCheckpointKind;
  if (run.checkpoint) {
    run.step = file.get_int("step");
    run.epoch = file.get_int("epoch");
    run.epoch_position = file.get_int("epoch_position");
  }
  if (file.has(kImageKeys[0]) && file.has(kImageKeys[1]) && file.has(kImageKeys[2])) {
    const ImageShape image{file.get_int(kImageKeys[0]), file.get_int(kImageKeys[1]),
                           file.get_int(kImageKeys[2])};
    if (image.channels < 1 || image.height < 1 || image.width < 1 ||
        image.channels * image.height * image.width > (int64_t{1} << 30)) {
      throw CorruptCheckpoint(path + ": damaged file: image shape " +
                              std::to_string(image.channels) + "x" +
                              std::to_string(image.height) + "x" + std::to_string(image.width));
    }
    run.image = image;
  }
  for (const auto& entry : TrainConfig{}.entries()) {  // the keys this version knows
    const std::string key = "config/" + entry.first;
    if (file.has(key)) run.config.emplace_back(entry.first, file.get_text(key));
  }
  return run;
}

void load_model_state(const std::string& path, VisionTransformer& model,
                      const TrainConfig& config) {
  const TensorFile file = open_file(path);
  kind_of(file, path);
  const std::string differing = differing_shape_keys(file, config);
  VIT_CHECK(differing.empty(), path, ": the file's model has another shape: ", differing);
  torch::NoGradGuard no_grad;
  read_model_tensors(file, model, path, [](torch::Tensor& target, const torch::Tensor& stored) {
    target.set_(stored);
  });
  if (file.get_int("model_crc") != state_crc(*model)) {
    throw CorruptCheckpoint(path + ": damaged file: model data checksum mismatch");
  }
  // An intact file of a diverged model (written before vit-train refused to): every prediction
  // would be class 0 at ~10% accuracy, reported as a result.
  const std::string bad = nonfinite_tensor(*model);
  VIT_CHECK(bad.empty(), path, ": the model's ", bad,
            " holds a NaN or an infinity: its parameters are not finite (the run diverged), so "
            "it cannot be scored; use an earlier checkpoint of the run");
}

}  // namespace vit
