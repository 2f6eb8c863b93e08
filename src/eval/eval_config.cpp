#include "eval/eval_config.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <filesystem>
#include <ostream>
#include <utility>

#include "config/command_line.h"
#include "eval/png_image.h"
#include "store/checkpoint_dir.h"
#include "data/dataset.h"  // check_data_dir
#include "util/atomic_file.h"  // check_output_path
#include "util/error.h"

namespace vit {
namespace po = boost::program_options;
namespace fs = std::filesystem;

// The run's keys that vit-eval takes from the file (the command line may override them), and
// those only the command line sets (they describe this machine, not the run): from the key table.
std::vector<KeyInfo> keys_used_as(EvalUse use) {
  std::vector<KeyInfo> out;
  for (const KeyInfo& key : config_keys()) {
    if (key.eval == use) out.push_back(key);
  }
  return out;
}

FileRun read_file_run(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& command_line) {
  FileRun out;
  VIT_CHECK(fs::is_regular_file(path), path, ": no such file");
  out.stored = read_stored_run(path);
  std::vector<std::pair<std::string, std::string>> from_file;
  bool model_stored = false, model_given = false, dataset_given = false, dir_given = false;
  for (const KeyInfo& stored_key : keys_used_as(EvalUse::kStored)) {
    const std::string key = stored_key.name;
    const auto found = std::find_if(out.stored.config.begin(), out.stored.config.end(),
                                    [&](const auto& entry) { return entry.first == key; });
    if (found != out.stored.config.end()) {
      from_file.push_back(*found);
      model_stored = model_stored || is_model_key(key);
    } else {
      out.not_stored.emplace_back(key);
    }
  }
  for (const auto& entry : command_line) {
    model_given = model_given || is_model_key(entry.first);
    dataset_given = dataset_given || entry.first == "data.dataset";
    dir_given = dir_given || entry.first == "data.dir";
  }
  VIT_CHECK(model_stored || model_given, path,
            ": stores no model shape (a model file of a vit-train older than vit-eval); give "
            "the run's --model.n_patches, --model.hidden_d, --model.n_heads, --model.n_blocks "
            "and --model.mlp_ratio (see its config.ini), or use one of its "
            "checkpoints/step-N.pt");
  apply_entries(out.run, from_file, path);
  // Another data set without a folder: its default folder, not the stored one.
  if (dataset_given && !dir_given) out.run.data.dir.clear();
  apply_entries(out.run, command_line, "command line");
  return out;
}

std::string find_model_file(const std::string& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  VIT_CHECK(fs::exists(status), path, ": no such file or directory");
  if (!fs::is_directory(status)) return path;
  // A run directory, or its checkpoints/ folder itself.
  const fs::path dir = fs::is_directory(fs::path(path) / "checkpoints")
                           ? fs::path(path) / "checkpoints"
                           : fs::path(path);
  const std::vector<std::string> checkpoints = CheckpointDir(dir.string()).candidates();
  const fs::path final_model = dir / "final.pt";
  if (fs::is_regular_file(final_model)) {
    // final.pt is written last; a checkpoint newer than it belongs to a resumed run.
    if (checkpoints.empty() || fs::last_write_time(checkpoints.front(), error) <=
                                   fs::last_write_time(final_model, error)) {
      return final_model.string();
    }
  }
  VIT_CHECK(!checkpoints.empty(), path,
            ": holds no model file (checkpoints/final.pt) and no complete checkpoint "
            "(checkpoints/step-N.pt)");
  return checkpoints.front();
}

EvalParseResult parse_eval_args(int argc, const char* const* argv, std::ostream& help_out) {
  EvalParseResult result;
  EvalConfig& config = result.config;

  po::options_description general("vit-eval: score a trained Vision Transformer on its test set");
  general.add_options()("help,h", "print this help and exit")(
      "version", "print the versions of vit-eval and its libraries and exit")(
      "checkpoint", po::value(&config.checkpoint)->value_name("PATH"),
      "checkpoint (checkpoints/step-N.pt) or model file (checkpoints/final.pt) to evaluate, or a "
      "run directory (its final.pt, or its newest complete checkpoint when that is newer)")(
      "json", po::bool_switch(&config.json), "print one JSON object instead of the text report")(
      "images", po::value(&config.images)->value_name("OUT.png"),
      png_supported() ? "write a PNG grid of misclassified test images, true class green, "
                        "predicted red"
                      : "(unavailable: built without libpng)")(
      "max-images",
      po::value(&config.max_images)->default_value(config.max_images)->value_name("N"),
      "at most this many images in that grid (the first ones in test-set order)")(
      "columns", po::value(&config.columns)->default_value(config.columns)->value_name("N"),
      "images per row of that grid")(
      "export", po::value(&config.export_path)->value_name("OUT.safetensors"),
      "also write the model's parameters and buffers as safetensors (Python: "
      "model.load_state_dict(safetensors.torch.load_file(OUT)))");
  po::options_description keys(
      "Keys (default: as stored in the file; the model.* keys must match it)");
  for (const KeyInfo& key : keys_used_as(EvalUse::kStored)) {
    keys.add_options()(key.name, po::value<std::string>()->value_name("VALUE"), key.help);
  }
  po::options_description machine("This machine (default: vit-train's defaults)");
  for (const KeyInfo& key : keys_used_as(EvalUse::kMachine)) {
    machine.add_options()(key.name, po::value<std::string>()->value_name("VALUE"), key.help);
  }
  CommandLine spec;
  spec.usage =
      "usage: vit-eval --checkpoint PATH [--json] [--images OUT.png] [--export OUT.safetensors] "
      "[--section.key VALUE ...]\n"
      "       mpirun -n N vit-eval ...   (the test set is split over the ranks)\n";
  spec.shown = {&general, &keys, &machine};
  po::variables_map vm;
  const CommandLineOutcome outcome = parse_command_line(argc, argv, spec, vm, help_out);
  if (outcome != CommandLineOutcome::kRun) {
    result.help = outcome == CommandLineOutcome::kHelp;
    result.version = outcome == CommandLineOutcome::kVersion;
    return result;
  }
  VIT_CHECK(!config.checkpoint.empty(),
            "--checkpoint: required (a run directory, or a checkpoints/step-N.pt or "
            "checkpoints/final.pt of a run)");
  VIT_CHECK(config.max_images > 0, "--max-images: must be positive, got ", config.max_images);
  VIT_CHECK(config.columns > 0, "--columns: must be positive, got ", config.columns);
  if (!config.images.empty()) {
    VIT_CHECK(png_supported(),
              "--images: this vit-eval was built without libpng (install "
              "libpng-dev, then reconfigure and rebuild)");
    const fs::path parent = fs::path(config.images).parent_path();
    VIT_CHECK(parent.empty() || fs::is_directory(parent), "--images: ", parent.string(),
              " is not a directory");
  }

  if (!config.export_path.empty()) {
    const fs::path parent = fs::path(config.export_path).parent_path();
    VIT_CHECK(parent.empty() || fs::is_directory(parent), "--export: ", parent.string(),
              " is not a directory");
    check_output_path(config.export_path);
  }

  // A run directory stands for its model file (as in vit-predict). The file's keys first, then
  // the command line's.
  try {
    config.checkpoint = find_model_file(config.checkpoint);
  } catch (const Error& e) {
    VIT_FAIL("--checkpoint: ", e.what());
  }
  VIT_CHECK(fs::is_regular_file(config.checkpoint), "--checkpoint: ", config.checkpoint,
            ": not a regular file");
  std::vector<std::pair<std::string, std::string>> from_command_line;
  for (const EvalUse use : {EvalUse::kStored, EvalUse::kMachine}) {
    for (const KeyInfo& key : keys_used_as(use)) {
      if (vm.count(key.name))
        from_command_line.emplace_back(key.name, vm[key.name].as<std::string>());
    }
  }
  FileRun file_run = read_file_run(config.checkpoint, from_command_line);
  config.run = std::move(file_run.run);
  config.stored = std::move(file_run.stored);
  config.not_stored = std::move(file_run.not_stored);

  // --export alone needs no data: it scores the test set only when it finds one (vit_eval.cpp).
  const bool export_only = !config.export_path.empty() && !config.json && config.images.empty();
  if (!export_only && !config.run.data.dir.empty() && !fs::is_directory(config.run.data.dir)) {
    const bool stored = !vm.count("data.dir") &&
                        std::find(config.not_stored.begin(), config.not_stored.end(), "data.dir") ==
                            config.not_stored.end();
    VIT_FAIL("data.dir: ", config.run.data.dir, " is not a directory",
             stored ? " (as stored in " + config.checkpoint + ")" : std::string(),
             "; set --data.dir to the folder with the ", to_string(config.run.data.dataset),
             " IDX files");
  }
  validate(config.run);
  // The data set's default folder, when no data.dir was given.
  if (!export_only) check_data_dir(config.run.data);
  return result;
}

}  // namespace vit
