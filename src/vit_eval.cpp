// vit-eval: scores a checkpoint or model file of a vit-train run on its test set: accuracy, loss,
// per-class accuracy and the confusion matrix as text or JSON, and optionally a PNG grid of the
// misclassified images. One rank, or several under mpirun (the test set split over them).
// parse -> MPI context -> data and model (every rank) -> evaluate (collective) -> rank 0 reports.
#include <spdlog/sinks/stdout_sinks.h>  // warnings to stderr: stdout holds the report (or JSON)
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "parallel/cpu_share.h"
#include "parallel/library_versions.h"
#include "parallel/mpi_context.h"
#include "parallel/placement.h"
#include "parallel/rank_agreement.h"
#include "eval/eval_config.h"
#include "eval/eval_report.h"
#include "score/evaluation.h"
#include "eval/image_grid.h"
#include "eval/png_image.h"
#include "eval/prediction.h"  // run_image_shape
#include "eval/safetensors_export.h"
#include "model/vit.h"
#include "store/checkpoint.h"
#include "train/startup_report.h"  // with_thousands
#include "util/threads.h"

namespace {

constexpr int64_t kImageScale = 3;  // a 28x28 test image becomes 84x84 pixels in the grid

void log_warnings_to_stderr() {
  auto logger = spdlog::stderr_logger_st("vit-eval");
  logger->set_pattern("%l: %v");  // "warning: ..."
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

// The PNG grid of the first misclassified test images; returns how many it holds.
int64_t write_misclassified(const vit::EvalConfig& config, const vit::Split& test,
                            const vit::Evaluation& evaluation) {
  const std::vector<int64_t> wrong = evaluation.misclassified(config.max_images);
  std::vector<int64_t> truth, predicted;
  for (const int64_t i : wrong) {
    truth.push_back(evaluation.labels[i].item<int64_t>());
    predicted.push_back(evaluation.predicted[i].item<int64_t>());
  }
  const auto indices = torch::tensor(wrong, torch::kLong);
  const auto images = test.images.to(torch::kCPU).index_select(/*dim=*/0, indices);
  vit::write_png(config.images,
                 vit::labelled_grid(images, truth, predicted, {config.columns, kImageScale}));
  return static_cast<int64_t>(wrong.size());
}

// --export: the model as safetensors, and one line saying what was written (stderr: stdout holds
// the report). Throws vit::Error when the file cannot be written.
void export_model(const vit::EvalConfig& config, const vit::VisionTransformer& model,
                  const vit::ImageShape& shape) {
  const std::string image = std::to_string(shape.channels) + "x" + std::to_string(shape.height) +
                            "x" + std::to_string(shape.width);
  std::map<std::string, std::string> metadata{{"format", "pt"}, {"image_shape", image}};
  for (const auto& [key, value] : config.run.entries()) {
    if (vit::is_model_key(key)) metadata[key] = value;
  }
  vit::export_safetensors(model, metadata, config.export_path);
  std::fprintf(stderr,
               "vit-eval: exported %s: %zu tensors, %s parameters, images %s (loading it in "
               "PyTorch: docs/evaluation.md)\n",
               config.export_path.c_str(), model->named_parameters().size() + model->named_buffers().size(),
               vit::with_thousands(vit::count_parameters(*model)).c_str(), image.c_str());
}

int evaluate(const vit::EvalConfig& config, const vit::MpiContext& mpi) {
  const bool leader = mpi.rank() == 0;
  const vit::TrainConfig& run = config.run;
  if (leader && !config.not_stored.empty()) {
    spdlog::warn(
        "{} does not store the keys vit-eval reads (a file of an older vit-train); "
        "using data.dataset {}, data.dir {}, data.test_limit {} (set --data.* to match "
        "the run)",
        config.checkpoint, vit::to_string(run.data.dataset), run.data.dir, run.data.test_limit);
  }
  const vit::ThreadSetup threads =
      vit::configure_threads(run.train.threads, vit::gather_cpu_share(mpi));
  if (!threads.advice.empty()) spdlog::warn("{}", threads.advice);
  vit::Placement placement;
  if (!vit::agree_on_placement(run.dist, mpi, placement)) return 1;
  const torch::Device device = placement.device;
  auto comm = vit::make_communicator(placement, run.dist, MPI_COMM_WORLD);

  // The model first: its image shape is stored in the file (older files: the data set's).
  vit::VisionTransformer model{nullptr};
  const vit::ImageShape shape =
      config.stored.image ? *config.stored.image : vit::run_image_shape(run.data);
  if (!vit::succeeded_on_all_ranks(mpi.rank(), [&] {
        model = vit::make_model(run, shape, vit::kNumClasses);
        vit::load_model_state(config.checkpoint, model, run);
        model->to(device);
      })) {
    return 1;
  }
  // --export needs no data: the file is written before the test set is read.
  if (!config.export_path.empty() &&
      !vit::succeeded_on_all_ranks(mpi.rank(), [&] {
        if (leader) export_model(config, model, shape);
      })) {
    return 1;
  }
  if (!config.export_path.empty() && !config.json && config.images.empty() &&
      !vit::test_split_present(run.data)) {
    if (leader) {
      std::fprintf(stderr, "vit-eval: not scored: no test set in %s (the export needs none)\n",
                   run.data.dir.c_str());
    }
    comm->barrier();
    return 0;
  }
  // Every rank reads the same files, so they fail alike: agreed on, reported once.
  vit::Split test;
  if (!vit::succeeded_on_all_ranks(mpi.rank(), [&] {
        test = vit::load_test_split(run.data);
        VIT_CHECK(test.images.size(1) == shape.channels && test.images.size(2) == shape.height &&
                      test.images.size(3) == shape.width,
                  run.data.dir, ": test images of ", test.images.size(1), "x",
                  test.images.size(2), "x", test.images.size(3), ", the model was trained on ",
                  shape.channels, "x", shape.height, "x", shape.width);
      })) {
    return 1;
  }
  const vit::Split on_device{test.images.to(device), test.labels.to(device)};
  const vit::Evaluation evaluation =
      vit::evaluate_model(model, on_device, run.train.eval_batch_size, *comm);

  if (leader) {
    vit::ReportContext context;
    context.file = config.checkpoint;
    context.stored = config.stored;
    context.dataset = vit::to_string(run.data.dataset);
    context.data_dir = run.data.dir;
    context.data_source = vit::read_data_source(run.data.dir);
    context.world_size = mpi.world_size();
    if (!config.images.empty()) {
      context.png_images = write_misclassified(config, test, evaluation);
      context.png = config.images;
    }
    const std::string report =
        config.json ? vit::json_report(evaluation, context) : vit::text_report(evaluation, context);
    std::fputs(report.c_str(), stdout);
    std::fflush(stdout);
  }
  comm->barrier();  // no rank leaves while rank 0 may still fail (and abort the job)
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<vit::MpiContext> mpi;
  try {
    mpi = std::make_unique<vit::MpiContext>(&argc, &argv);
    log_warnings_to_stderr();
    std::ostream quiet(nullptr);  // --help is printed by rank 0 alone
    vit::EvalParseResult parsed;
    if (!vit::succeeded_on_all_ranks(mpi->rank(), [&] {
          parsed = vit::parse_eval_args(argc, argv, mpi->rank() == 0 ? std::cout : quiet);
        })) {
      return 1;
    }
    if (parsed.help) return 0;
    if (parsed.version) {
      if (mpi->rank() == 0) std::fputs(vit::version_report("vit-eval").c_str(), stdout);
      return 0;
    }
    return evaluate(parsed.config, *mpi);
  } catch (const std::exception& e) {
    vit::report_error_and_end_job(mpi.get(), e);
  }
  return 1;
}
