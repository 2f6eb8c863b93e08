#include "eval/predict_config.h"

#include <boost/program_options.hpp>
#include <ostream>
#include <utility>

#include "eval/eval_config.h"  // find_model_file, read_file_run, keys_used_as
#include "eval/png_image.h"    // png_supported
#include "eval/prediction.h"   // run_image_shape
#include "util/error.h"

namespace vit {
namespace po = boost::program_options;

PredictParseResult parse_predict_args(int argc, const char* const* argv, std::ostream& help_out) {
  PredictParseResult result;
  PredictConfig& config = result.config;
  std::string invert = "auto";

  po::options_description general("vit-predict: classify PNG images with a trained model");
  general.add_options()("help,h", "print this help and exit")(
      "model", po::value(&config.model)->value_name("PATH"),
      "a run directory (its checkpoints/final.pt, or its newest complete checkpoint when that "
      "is newer), a checkpoints/step-N.pt or a model file")(
      "json", po::bool_switch(&config.json),
      "one JSON object per image and line instead of the text lines")(
      "invert", po::value(&invert)->default_value(invert)->value_name("auto|yes|no"),
      "make the image white on black, as MNIST is (255 - v); auto: when the mean of the image's "
      "border pixels is above 127.5 (a dark digit on a light background)");
  po::options_description keys(
      "Model keys, for model files that do not store them (default: as stored in the file)");
  for (const KeyInfo& key : keys_used_as(EvalUse::kStored)) {
    if (key.role == KeyRole::kModelShape) {
      keys.add_options()(key.name, po::value<std::string>()->value_name("VALUE"), key.help);
    }
  }
  po::options_description hidden;
  hidden.add_options()("image", po::value(&config.images)->composing());
  po::positional_options_description positional;
  positional.add("image", -1);
  po::options_description all;
  all.add(general).add(keys).add(hidden);

  po::variables_map vm;
  try {
    po::parsed_options parsed =
        po::command_line_parser(argc, argv).options(all).positional(positional).run();
    // A key given twice: the last value, as in vit-train; but every image counts.
    std::vector<po::option> named, images;
    for (const po::option& option : parsed.options) {
      (option.position_key >= 0 ? images : named).push_back(option);
    }
    parsed.options = std::move(named);
    keep_last_occurrences(parsed);
    parsed.options.insert(parsed.options.end(), images.begin(), images.end());
    po::store(parsed, vm);
    if (vm.count("help")) {
      help_out
          << "usage: vit-predict --model RUN_DIR|FILE [--json] [--invert auto|yes|no] "
             "IMAGE.png [IMAGE.png ...]\n\n"
          << "Prints each image's predicted class and its 10 probabilities (softmax of the "
             "logits).\nAn image is read as gray (RGB by luminance, alpha composited on white), "
             "padded to a\nsquare with its border colour, resized to the model's 28x28 by area "
             "averaging, inverted\nas --invert says, and scaled to [0, 1] as the training data "
             "is. A bad image gives\none error line and exit status 1; the others are still "
             "classified.\n\n"
          << general << "\n"
          << keys << "\n";
      if (!png_supported()) {
        help_out << "This vit-predict was built without libpng and cannot read images (install "
                    "libpng-dev, then reconfigure and rebuild).\n";
      }
      result.help = true;
      return result;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    VIT_FAIL("command line: ", describe_option_error(e));
  }
  VIT_CHECK(!config.model.empty(),
            "--model: required (a run directory, or a checkpoints/step-N.pt or "
            "checkpoints/final.pt of a run)");
  VIT_CHECK(!config.images.empty(),
            "no image given (usage: vit-predict --model PATH IMAGE.png ...)");
  config.invert = parse_invert(invert, "--invert");

  config.model_file = find_model_file(config.model);
  std::vector<std::pair<std::string, std::string>> from_command_line;
  for (const KeyInfo& key : keys_used_as(EvalUse::kStored)) {
    if (vm.count(key.name))
      from_command_line.emplace_back(key.name, vm[key.name].as<std::string>());
  }
  FileRun file_run = read_file_run(config.model_file, from_command_line);
  config.run = std::move(file_run.run);
  // vit-predict reads no data set and has no run directory: validate() checks the model keys of
  // a copy whose data.dir is a folder that exists.
  TrainConfig checked = config.run;
  checked.data.dir = ".";
  checked.resume = "auto";
  validate(checked);
  config.image = file_run.stored.image ? *file_run.stored.image : run_image_shape(config.run.data);
  return result;
}

}  // namespace vit
