// vit-train: parse the config, prepare the run directory, load the data, train, save the model.
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "config/train_config.h"
#include "data/dataset.h"
#include "train/metrics.h"
#include "train/run_dir.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/threads.h"

namespace {

int run(int argc, char** argv) {
  const vit::ParseResult parsed = vit::parse_args(argc, argv, std::cout);
  if (parsed.help) return 0;
  const vit::TrainConfig& config = parsed.config;

  const vit::RunDir run_dir = vit::prepare_run_dir(config);
  vit::setup_logging({config.log.level, /*rank=*/0, run_dir.log()});
  const vit::ThreadSetup threads = vit::configure_threads(config.train.threads, /*ranks_on_node=*/1);
  spdlog::info("vit-train {}: LibTorch {}, {} intra-op threads{}, run directory {}", VIT_VERSION,
               TORCH_VERSION, threads.intra_op, threads.blas_pinned ? " (OpenBLAS pinned to 1)" : "",
               run_dir.root);
  spdlog::info("config ({}):\n{}", config.config_file.empty() ? "defaults" : config.config_file,
               vit::to_table(config));

  vit::Dataset data = vit::load_dataset(config.data);
  spdlog::info("data: {} from {}: {} training and {} test images of {}x{}x{}", config.data.dataset,
               config.data.dir, data.train.size(), data.test.size(), data.train.images.size(1),
               data.train.images.size(2), data.train.images.size(3));
  spdlog::info("data source: {}", data.source);
  if (data.source.find("NOT") != std::string::npos) {
    spdlog::warn("data: this is NOT the full data set ({}); accuracies are not comparable with "
                 "published full-set results", data.source);
  }

  vit::Trainer trainer(config, std::move(data));
  spdlog::info("model: {} parameters, {} steps per epoch of {} images",
               vit::count_parameters(*trainer.model()), trainer.steps_per_epoch(),
               config.train.batch_size);
  vit::MetricsWriter metrics(run_dir.metrics());
  const auto results = trainer.fit(&metrics);
  vit::save_model(trainer.model(), run_dir.final_model());

  if (!results.empty()) {
    const auto& last = results.back();
    spdlog::info("final test accuracy {:.2f}% (test loss {:.4f}) after {} epochs, {} steps",
                 100.0 * last.test.accuracy, last.test.loss, last.epoch, last.step);
  }
  spdlog::info("run directory: {} (config.ini, metrics.jsonl, train.log); model: {}",
               run_dir.root, run_dir.final_model());
  return 0;
}

// c10::Error carries a multi-line message with a backtrace; the first line says what failed.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const vit::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", first_line(e.what_without_backtrace()).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", first_line(e.what()).c_str());
  }
  return 1;
}
