#include "train/checkpoint.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "dist/replicas.h"  // state_checksum
#include "util/atomic_file.h"
#include "util/error.h"

namespace vit {
namespace fs = std::filesystem;

namespace {

// The one way a damaged or unreadable file is reported: "<path>: <what>: <the cause's first line>".
[[noreturn]] void fail_corrupt(const std::string& path, const std::string& what,
                               const std::exception& cause) {
  const std::string text = cause.what();
  throw CorruptCheckpoint(path + ": " + what + ": " + text.substr(0, text.find('\n')));
}

// The model's checksum stored in checkpoints and model files: the zip container checks its own
// structure, this catches damaged tensor data.
int64_t state_crc(const torch::nn::Module& module) {
  return static_cast<int64_t>(state_checksum(module));
}

// The config keys that shape the model: a checkpoint only fits a model built with the same ones.
std::vector<std::pair<std::string, std::string>> shape_keys(const TrainConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : config.entries()) {
    if (entry.first.rfind("model.", 0) == 0) out.push_back(entry);
  }
  return out;
}

// The stored model.* keys that differ from config.model, as "key (checkpoint A, config B)", or
// "" when they all agree; a key the file lacks counts as "(missing)".
std::string differing_shape_keys(torch::serialize::InputArchive& archive,
                                 const TrainConfig& config) {
  std::string differing;
  for (const auto& [key, value] : shape_keys(config)) {
    c10::IValue stored;
    const std::string have = archive.try_read("config/" + key, stored) && stored.isString()
                                 ? stored.toStringRef()
                                 : "(missing)";
    if (have != value) {
      differing += (differing.empty() ? "" : ", ") + key + " (checkpoint " + have + ", config " +
                   value + ")";
    }
  }
  return differing;
}

// Every key of the config, as "config/<key>" strings (vit-eval reads the model shape and the
// data set from them; resuming compares the model.* ones).
void write_config(torch::serialize::OutputArchive& archive, const TrainConfig& config) {
  for (const auto& [key, value] : config.entries()) archive.write("config/" + key, value);
}

// Opens `path` as a torch archive, every tensor on the CPU; CorruptCheckpoint naming the file when
// that fails. A GPU run's files record "cuda:0" for their tensors: loaded as recorded, a CPU build
// (or a machine without that GPU) could not read them. The callers copy or move tensors to the
// model's device afterwards.
void open_archive(torch::serialize::InputArchive& archive, const std::string& path) {
  VIT_CHECK(fs::is_regular_file(path), path, ": no such checkpoint");
  try {
    archive.load_from(path, torch::Device(torch::kCPU));
  } catch (const std::exception& e) {
    fail_corrupt(path, "not a readable checkpoint (truncated or corrupt)", e);
  }
}

// The first entry of a model file's archive (as "a.b.c") that `module` has no parameter, buffer or
// submodule for, or "": torch's Module::load ignores such entries, so a model file of a bigger
// model would load into a smaller one without a word.
std::string extra_entry(torch::serialize::InputArchive& archive, torch::nn::Module& module,
                        const std::string& prefix) {
  for (const std::string& key : archive.keys()) {
    if (key.rfind("config/", 0) == 0 || key == "model_crc") continue;
    const auto children = module.named_children();
    if (children.contains(key)) {
      torch::serialize::InputArchive child;
      archive.read(key, child);
      const std::string extra = extra_entry(child, *children[key], prefix + key + ".");
      if (!extra.empty()) return extra;
    } else if (!module.named_parameters(/*recurse=*/false).contains(key) &&
               !module.named_buffers(/*recurse=*/false).contains(key)) {
      return prefix + key;
    }
  }
  return "";
}

int64_t read_int(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  archive.read(key, value);
  return value.toInt();
}

// Optimizer state is read onto the CPU; a model on a GPU needs it beside its parameters.
// The one place the model's tensors are read: "model/<name>" for each parameter, then each
// buffer, handed to `place` with the model's tensor it belongs to.
void read_model_tensors(
    torch::serialize::InputArchive& archive, VisionTransformer& model,
    const std::function<void(const std::string&, torch::Tensor&, const torch::Tensor&)>& place) {
  for (auto& item : model->named_parameters()) {
    torch::Tensor stored;
    archive.read("model/" + item.key(), stored);
    place(item.key(), item.value(), stored);
  }
  for (auto& item : model->named_buffers()) {
    torch::Tensor stored;
    archive.read("model/" + item.key(), stored, /*is_buffer=*/true);
    place(item.key(), item.value(), stored);
  }
}

void move_optimizer_state(torch::optim::Optimizer& optimizer, torch::Device device) {
  if (device.is_cpu()) return;
  for (auto& entry : optimizer.state()) {
    auto* state = entry.second.get();
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(state)) {
      adam->exp_avg(adam->exp_avg().to(device));
      adam->exp_avg_sq(adam->exp_avg_sq().to(device));
      if (adam->max_exp_avg_sq().defined()) adam->max_exp_avg_sq(adam->max_exp_avg_sq().to(device));
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(state)) {
      adamw->exp_avg(adamw->exp_avg().to(device));
      adamw->exp_avg_sq(adamw->exp_avg_sq().to(device));
      if (adamw->max_exp_avg_sq().defined()) {
        adamw->max_exp_avg_sq(adamw->max_exp_avg_sq().to(device));
      }
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(state)) {
      if (sgd->momentum_buffer().defined()) sgd->momentum_buffer(sgd->momentum_buffer().to(device));
    }
  }
}

// Tests pause here (VIT_TEST_CHECKPOINT_DELAY_MS) to kill a rank in the middle of a write.
void test_delay() {
  if (const char* ms = std::getenv("VIT_TEST_CHECKPOINT_DELAY_MS")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(ms)));
  }
}

}  // namespace

void write_checkpoint(const std::string& path, VisionTransformer& model,
                      torch::optim::Optimizer& optimizer, const TrainState& state,
                      const TrainConfig& config) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(kCheckpointFormat));
  archive.write("step", c10::IValue(state.step));
  archive.write("epoch", c10::IValue(state.epoch));
  archive.write("epoch_position", c10::IValue(state.epoch_position));
  archive.write("epoch_loss_sum", c10::IValue(state.epoch_loss_sum));
  archive.write("epoch_images", c10::IValue(state.epoch_images));
  archive.write("world_size", c10::IValue(state.world_size));
  archive.write("seed", c10::IValue(config.train.seed));
  write_config(archive, config);
  archive.write("model_crc", c10::IValue(state_crc(*model)));
  archive.write("rng", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
  for (const auto& item : model->named_parameters()) {
    archive.write("model/" + item.key(), item.value().detach().to(torch::kCPU));
  }
  for (const auto& item : model->named_buffers()) {
    archive.write("model/" + item.key(), item.value().to(torch::kCPU), /*is_buffer=*/true);
  }
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  replace_file_atomically(path, [&](const std::string& temp) {
    archive.save_to(temp);
    test_delay();
  });
}

TrainState read_checkpoint(const std::string& path, VisionTransformer& model,
                           torch::optim::Optimizer& optimizer, const TrainConfig& config) {
  VIT_CHECK(fs::is_regular_file(path), path, ": no such checkpoint");
  torch::serialize::InputArchive archive;
  TrainState state;
  int64_t format = 0;
  try {
    archive.load_from(path, torch::Device(torch::kCPU));  // see open_archive
    format = read_int(archive, "format");
  } catch (const std::exception& e) {
    fail_corrupt(path, "not a readable checkpoint (truncated or corrupt)", e);
  }
  VIT_CHECK(format == kCheckpointFormat, path, ": checkpoint format ", format,
            " is not the supported format ", kCheckpointFormat);

  const std::string differing = differing_shape_keys(archive, config);
  VIT_CHECK(differing.empty(), path, ": the checkpoint's model has another shape: ", differing);

  try {
    state.step = read_int(archive, "step");
    state.epoch = read_int(archive, "epoch");
    state.epoch_position = read_int(archive, "epoch_position");
    c10::IValue loss;
    archive.read("epoch_loss_sum", loss);
    state.epoch_loss_sum = loss.toDouble();
    state.epoch_images = read_int(archive, "epoch_images");
    state.world_size = read_int(archive, "world_size");
    // Copied into the existing tensors, so they keep their device and the gradient views.
    torch::NoGradGuard no_grad;
    read_model_tensors(archive, model, [](const std::string& name, torch::Tensor& target,
                                          const torch::Tensor& stored) {
      VIT_CHECK(stored.sizes() == target.sizes(), "model/", name, " has shape ", stored.sizes(),
                ", the model ", target.sizes());
      target.copy_(stored);
    });
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    move_optimizer_state(optimizer, model->parameters().front().device());
    torch::Tensor rng;
    archive.read("rng", rng, /*is_buffer=*/true);
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle: shares the state
    generator.set_state(rng);
    VIT_CHECK(read_int(archive, "model_crc") == state_crc(*model), "model data checksum mismatch");
  } catch (const std::exception& e) {
    fail_corrupt(path, "damaged checkpoint", e);
  }
  return state;
}

void write_model_file(const std::string& path, VisionTransformer& model,
                      const TrainConfig& config) {
  torch::serialize::OutputArchive archive;
  model->save(archive);  // what torch::save(model, path) writes
  write_config(archive, config);
  archive.write("model_crc", c10::IValue(state_crc(*model)));
  replace_file_atomically(path, [&](const std::string& temp) { archive.save_to(temp); });
}

StoredRun read_stored_run(const std::string& path) {
  torch::serialize::InputArchive archive;
  open_archive(archive, path);
  StoredRun run;
  c10::IValue value;
  try {
    run.checkpoint = archive.try_read("format", value);
    if (run.checkpoint) {
      run.step = read_int(archive, "step");
      run.epoch = read_int(archive, "epoch");
      run.epoch_position = read_int(archive, "epoch_position");
    }
  } catch (const std::exception& e) {
    fail_corrupt(path, "damaged checkpoint", e);
  }
  for (const auto& entry : TrainConfig{}.entries()) {  // the keys this version knows
    if (archive.try_read("config/" + entry.first, value) && value.isString()) {
      run.config.emplace_back(entry.first, value.toStringRef());
    }
  }
  return run;
}

void load_model_state(const std::string& path, VisionTransformer& model,
                      const TrainConfig& config) {
  torch::serialize::InputArchive archive;
  open_archive(archive, path);
  c10::IValue format;
  const bool checkpoint = archive.try_read("format", format);
  VIT_CHECK(!checkpoint || (format.isInt() && format.toInt() == kCheckpointFormat), path,
            ": checkpoint format ", format, " is not the supported format ", kCheckpointFormat);
  // Model files of earlier versions store no keys; their tensors' shapes are checked below.
  c10::IValue stored;
  if (checkpoint || archive.try_read("config/model.hidden_d", stored)) {
    const std::string differing = differing_shape_keys(archive, config);
    VIT_CHECK(differing.empty(), path, ": the file's model has another shape: ", differing);
  }

  std::vector<std::vector<int64_t>> shapes;  // of the model as built, parameters then buffers
  for (const auto& tensor : model->parameters()) shapes.push_back(tensor.sizes().vec());
  for (const auto& tensor : model->buffers()) shapes.push_back(tensor.sizes().vec());
  try {
    torch::NoGradGuard no_grad;
    if (checkpoint) {
      // Taken as stored (shapes are checked below, against the model as built).
      read_model_tensors(archive, model,
                         [](const std::string&, torch::Tensor& target,
                            const torch::Tensor& stored) { target.set_(stored); });
    } else {
      model->load(archive);  // what torch::load(model, path) does
    }
  } catch (const std::exception& e) {
    fail_corrupt(path,
                 "not a vit-train checkpoint or model file (or one of a model with other "
                 "model.* keys)",
                 e);
  }
  if (!checkpoint) {
    const std::string extra = extra_entry(archive, *model, "");
    VIT_CHECK(extra.empty(), path, ": holds ", extra,
              ", which the model lacks (set the model.* keys of the run that wrote it)");
  }
  // Both ways take the stored tensors as they are: a model of another shape shows here.
  size_t i = 0;
  const auto check_shape = [&](const std::string& name, const torch::Tensor& tensor) {
    const std::vector<int64_t>& built = shapes[i++];
    VIT_CHECK(tensor.sizes().vec() == built, path, ": ", name, " has shape ", tensor.sizes(),
              ", the model ", c10::IntArrayRef(built),
              " (set the model.* keys of the run that wrote it)");
  };
  for (const auto& item : model->named_parameters()) check_shape(item.key(), item.value());
  for (const auto& item : model->named_buffers()) check_shape(item.key(), item.value());
  if (archive.try_read("model_crc", stored)) {
    if (!stored.isInt() || stored.toInt() != state_crc(*model)) {
      throw CorruptCheckpoint(path + ": damaged file: model data checksum mismatch");
    }
  }
}

}  // namespace vit
