// vit-train: one rank of a data-parallel training job (a job of one rank without mpirun).
// parse config -> MPI context -> device and communicator -> data -> Trainer::fit -> final model.
#include <torch/torch.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "data/dataset.h"
#include "model/model_cost.h"
#include "parallel/cpu_share.h"
#include "parallel/input_agreement.h"
#include "parallel/mpi_context.h"
#include "parallel/placement.h"
#include "parallel/rank_agreement.h"
#include "parallel/replicas.h"  // state_checksum
#include "store/checkpoint.h"
#include "store/checkpoint_dir.h"
#include "train/memory_budget.h"
#include "train/metric_schema.h"
#include "train/metrics.h"
#include "train/restart_event.h"
#include "train/run_dir.h"
#include "train/startup_report.h"
#include "train/step.h"  // samples_per_step, images_per_pass
#include "train/train_inputs.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/heap.h"
#include "util/log.h"
#include "util/resource_limits.h"
#include "util/signals.h"
#include "util/threads.h"
#include "parallel/library_versions.h"

namespace {

int train(const vit::TrainConfig& config, const vit::MpiContext& mpi) {
  const bool leader = mpi.rank() == 0;
  // Set by launch/train.sh when it starts a failed job again (--max-restarts): checked first.
  const std::optional<vit::RestartEvent> restart = vit::restart_from_environment();
  std::unique_ptr<vit::RunDir> run_dir;
  if (leader) run_dir = std::make_unique<vit::RunDir>(vit::prepare_run_dir(config));
  vit::setup_logging({vit::to_string(config.log.level), mpi.rank(), leader ? run_dir->log() : ""});
  if (leader && !config.run_dir_given) {
    if (config.resume != "none") {
      spdlog::info("run directory: {} (no --run-dir: the latest run is continued)", config.run_dir);
    } else if (vit::point_latest_at(config.run_dir)) {
      spdlog::info("run directory: {} (no --run-dir given; runs/latest points at it)",
                   config.run_dir);
    } else {
      spdlog::info("run directory: {} (no --run-dir given; runs/latest is a folder of its own, "
                   "left as it is)", config.run_dir);
    }
  }

  const vit::ThreadSetup threads =
      vit::configure_threads(config.train.threads, vit::gather_cpu_share(mpi));
  if (!threads.advice.empty()) spdlog::warn("{}", threads.advice);
  // Where every rank trains and which back end they share: agreed on by all, or one error.
  vit::Placement placement;
  if (!vit::agree_on_placement(config.dist, mpi, placement)) return 1;
  const torch::Device device = placement.device;
  auto comm = vit::make_communicator(placement, config.dist, MPI_COMM_WORLD);
  const vit::RankSite& site = placement.sites[static_cast<size_t>(mpi.rank())];
  const int64_t pass = vit::images_per_pass(config, device);
  const std::string where =
      site.host + ", " + site.device +
      (site.gpu_bus_id.empty() ? "" : " (" + site.gpu_bus_id + ")") + ", " +
      std::to_string(threads.intra_op) + " thread(s)" +
      (threads.blas_pinned ? ", OpenBLAS pinned to 1" : "") +
      (pass > 0 && pass < config.train.batch_size
           ? ", at most " + std::to_string(pass) + " image(s) per thread and pass"
           : "");
  spdlog::debug("placement: {}", where);
  const std::vector<std::string> ranks = mpi.all_gather(where);

  vit::Dataset data = vit::load_dataset(config.data);
  // Before the start-up broadcast: ranks of other model shapes would corrupt memory there.
  if (!vit::agree_on_inputs(config, data, mpi)) return 1;
  // Before the model and the first step allocate: a run its machine cannot hold ends here, with
  // the keys that make it large, not later by the out-of-memory killer.
  if (!vit::succeeded_on_all_ranks(mpi.rank(), [&] {
        const vit::ImageShape image{data.train.images.size(1), data.train.images.size(2),
                                    data.train.images.size(3)};
        const vit::MemoryEstimate estimate = vit::estimate_memory(
            config, image, data.train.size(), data.test.size(), threads.intra_op);
        spdlog::debug(
            "memory estimate per rank: {} (data {}, model {}, step {}, evaluation {}); mapped "
            "now: {} MiB",
            vit::format_bytes(estimate.total()), vit::format_bytes(estimate.data),
            vit::format_bytes(estimate.model), vit::format_bytes(estimate.activations),
            vit::format_bytes(estimate.evaluation), vit::mapped_bytes() >> 20);
        const std::string warning = vit::check_memory_here(estimate, config, mpi.local_size());
        if (!warning.empty() && mpi.local_rank() == 0) spdlog::warn("{}", warning);
      })) {
    return 1;
  }
  vit::StartupFacts facts;
  facts.data_source = data.source;
  facts.train_images = data.train.size();
  facts.test_images = data.test.size();
  facts.val_images = data.val.empty() ? 0 : data.val.size();
  facts.image_shape = std::to_string(data.train.images.size(1)) + "x" +
                      std::to_string(data.train.images.size(2)) + "x" +
                      std::to_string(data.train.images.size(3));

  vit::Trainer trainer(config, std::move(data), *comm, device);
  const vit::CheckpointDir checkpoints(vit::RunDir{config.run_dir}.checkpoints());
  const std::string resumed_from = trainer.resume(config.resume, checkpoints);
  // Before the first all-reduce: ranks that resumed different states would train apart.
  if (!vit::agree_on_resume(vit::resume_digest(resumed_from, trainer.state().step,
                                               vit::state_checksum(*trainer.model())),
                            mpi)) {
    return 1;
  }

  facts.versions = vit::version_report("vit-train");
  facts.world_size = mpi.world_size();
  facts.nodes = mpi.nodes();
  facts.ranks_per_node = mpi.local_size();
  facts.ranks = ranks;
  facts.gradients = comm->name();
  facts.parameters = vit::count_parameters(*trainer.model());
  const vit::ModelCost cost =
      vit::model_cost(config.model, trainer.model()->image(), vit::kNumClasses);
  facts.forward_flops = cost.forward_flops;
  facts.train_flops = cost.train_flops;
  facts.steps_per_epoch = trainer.steps_per_epoch();
  facts.global_batch = vit::samples_per_step(config.train) * mpi.world_size();
  facts.resumed_from = resumed_from;
  spdlog::info("start-up:\n{}", vit::startup_table(config, facts));
  if (!resumed_from.empty()) {
    const vit::TrainState& state = trainer.state();
    spdlog::info("resumed from {}: step {}, epoch {}, {} samples into the epoch", resumed_from,
                 state.step, state.epoch + 1, state.epoch_position);
    if (leader) {
      vit::drop_lines_after_step(run_dir->metrics(), state.step);
      vit::drop_tensorboard_after_step(run_dir->tensorboard(), state.step);
    }
  } else if (config.resume == "auto") {
    spdlog::info("resume auto: no checkpoint in {}, starting fresh", checkpoints.dir());
  }
  std::unique_ptr<vit::MetricsWriter> metrics;
  if (leader) {
    metrics = std::make_unique<vit::MetricsWriter>(run_dir->metrics(), run_dir->tensorboard());
    // A fresh run's keys as TensorBoard hparams (a resumed run's first session wrote them): the
    // shared ones, which make the run what it is, not where a rank finds its data or logs.
    if (resumed_from.empty()) {
      std::vector<std::pair<std::string, std::string>> hparams;
      for (const auto& [key, value] : config.entries()) {
        if (vit::key_role(key) != vit::KeyRole::kPerRank) hparams.emplace_back(key, value);
      }
      metrics->write_hparams(hparams);
    }
    if (restart) {
      const vit::TrainState& state = trainer.state();
      spdlog::info("{}", vit::describe(*restart, state.step, mpi.world_size()));
      metrics->write(vit::restart_line(*restart, state.step, state.epoch + 1, mpi.world_size()));
    }
  }
  const std::string best_model =
      leader && config.checkpoint.keep_best ? run_dir->best_model() : "";
  const vit::FitResult fit =
      trainer.fit(metrics.get(), leader ? &checkpoints : nullptr, best_model);
  // Said once, by rank 0, with the signal that reached any rank.
  if (fit.stopped && !fit.checkpointed) {
    if (leader) {
      spdlog::warn("stopped by {} during start-up, before the first step; nothing written; "
                   "exit status {} (continue with --resume auto)",
                   vit::signal_name(fit.stop_signal), vit::kStoppedExitCode);
    }
    return vit::kStoppedExitCode;
  }
  if (fit.stopped) {
    if (leader) {
      spdlog::warn("stopped by {} at step {} after writing a checkpoint; exit status {} "
                   "(continue with --resume auto)",
                   vit::signal_name(fit.stop_signal), trainer.step(), vit::kStoppedExitCode);
    }
    return vit::kStoppedExitCode;
  }
  const auto& results = fit.epochs;

  if (leader) {
    vit::write_model_file(run_dir->final_model(), trainer.model(), config);
    if (!results.empty()) {
      const auto& last = results.back();
      spdlog::info("final test accuracy {:.2f}% (test loss {:.4f}) after {} epochs, {} steps",
                   100.0 * last.test.accuracy(), last.test.loss(), last.epoch, last.step);
    }
    const vit::BestEpoch& best = trainer.state().best;
    if (!best_model.empty() && best.epoch > 0) {
      spdlog::info("best model: {} (epoch {}, {} {:.4f})", best_model, best.epoch, best.metric,
                   best.value);
    }
    spdlog::info("run directory: {} (config.ini, metrics.jsonl, train.log{}); model: {}",
                 run_dir->root, vit::tensorboard_built() ? ", tb/" : "", run_dir->final_model());
  }
  comm->barrier();  // no rank leaves before rank 0 has written the model
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  vit::keep_freed_memory();  // before the first large allocation (see util/heap.h)
  // From the start, SIGTERM, SIGUSR1, SIGINT and SIGHUP end the job with status 75: during
  // start-up with nothing written, once training runs after a checkpoint. A closed output pipe
  // ends nothing.
  const vit::StopSignals signals;
  vit::ignore_broken_pipes();
  std::unique_ptr<vit::MpiContext> mpi;
  try {
    // Before MPI starts: Open MPI out of file descriptors aborts with a page of text.
    vit::ensure_open_files(vit::kMinOpenFiles, 4096);
    mpi = std::make_unique<vit::MpiContext>(&argc, &argv);
    // A bad config is bad on every rank alike: rank 0 alone reports it, and all exit without
    // aborting the job.
    std::unique_ptr<vit::ParseResult> parsed;
    if (!vit::succeeded_on_all_ranks(mpi->rank(), [&] {
          parsed = std::make_unique<vit::ParseResult>(
              vit::parse_args(argc, argv, mpi->rank() == 0 ? std::cout : std::clog));
        })) {
      return 1;
    }
    if (parsed->help) return 0;
    if (parsed->version) {
      if (mpi->rank() == 0) std::fputs(vit::version_report("vit-train").c_str(), stdout);
      return 0;
    }
    if (parsed->metric_schema) {
      if (mpi->rank() == 0) std::fputs(vit::metric_schema().json_lines().c_str(), stdout);
      return 0;
    }
    vit::TrainConfig& config = parsed->config;
    if (!config.run_dir_given && config.resume == "none") {
      // A fresh run of its own, named by rank 0's clock for every rank.
      config.run_dir =
          mpi->all_gather(vit::default_run_dir(config.config_file, std::time(nullptr)))[0];
    }
    if (!vit::succeeded_on_all_ranks(mpi->rank(), [&] { vit::check_train_inputs(config); })) {
      return 1;
    }
    return train(config, *mpi);
  } catch (const std::exception& e) {
    vit::report_error_and_end_job(mpi.get(), e);
  }
  return 1;
}
