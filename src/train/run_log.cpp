#include "train/run_log.h"

#include <spdlog/spdlog.h>

#include "train/progress.h"  // format_duration
#include "util/uptime.h"

namespace vit {

ThroughputWindow::Figures ThroughputWindow::close(int64_t step, double allreduce_s, int world) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  const auto steps = static_cast<double>(step - first_step_);
  const Figures figures{static_cast<double>(images_ * world) / seconds, seconds / steps,
                        (allreduce_s - allreduce_s_) / steps};
  *this = ThroughputWindow(step, allreduce_s);
  return figures;
}

RunLog::RunLog(const TrainConfig& config, int world_size, int64_t steps_per_epoch,
               MetricsWriter* metrics, double train_flops)
    : config_(config),
      world_size_(world_size),
      step_line_every_(step_line_interval(config.log, steps_per_epoch)),
      metrics_(metrics),
      train_flops_(train_flops) {}

void RunLog::start_epoch(int64_t step, double allreduce_s) {
  window_ = ThroughputWindow(step, allreduce_s);
}

void RunLog::step_line(int64_t epoch, int64_t step, const std::string& position, double loss,
                       double lr, double allreduce_s, int64_t steps_left) {
  const auto window = window_.close(step, allreduce_s, world_size_);
  const auto now = Clock::now();
  if (std::chrono::duration<double>(now - last_console_line_).count() >=
      config_.log.console_every_s) {
    last_console_line_ = now;
    const std::string run_eta =
        steps_left < 0 ? ""
                       : ", run ETA " +
                             format_duration(static_cast<double>(steps_left) * window.step_s);
    spdlog::info("epoch {}/{} step {} {} loss {:.4f} lr {:.3g} {:.0f} img/s{}", epoch + 1,
                 config_.train.epochs, step, position, loss, lr, window.images_per_s, run_eta);
  }
  if (metrics_ == nullptr) return;
  metrics_->write(JsonLine()
                      .add("event", "step")
                      .add("step", step)
                      .add("epoch", epoch + 1)
                      .add("loss", loss)
                      .add("lr", lr)
                      .add("images_per_s", window.images_per_s)
                      .add("step_s", window.step_s)
                      .add("allreduce_s", window.allreduce_s)
                      .add("world_size", world_size_));
}

void RunLog::eval_line(int64_t epoch, int64_t step, const Evaluation& test, double train_s) {
  spdlog::info("epoch {}/{} step {}: test_loss {:.4f} test_acc {:.2f}% after {:.1f} s of training",
               epoch + 1, config_.train.epochs, step, test.loss(), 100.0 * test.accuracy(),
               train_s);
  if (metrics_ == nullptr) return;
  metrics_->write(JsonLine()
                      .add("event", "eval")
                      .add("step", step)
                      .add("epoch", epoch + 1)
                      .add("test_loss", test.loss())
                      .add("test_acc", test.accuracy())
                      .add("train_s", train_s)
                      .add("world_size", world_size_)
                      .add("elapsed_s", uptime_s()));
}

void RunLog::epoch_line(const EpochResult& result, double lr) {
  const double gflop_per_s = result.images_per_s * train_flops_ / 1e9;
  const bool validated = result.val.count() > 0;
  const double peak_mib = static_cast<double>(result.peak_memory_bytes) / (1 << 20);
  const std::string val = validated ? fmt::format(" val_loss {:.4f} val_acc {:.2f}%",
                                                  result.val.loss(), 100.0 * result.val.accuracy())
                                    : "";
  spdlog::info("epoch {}/{} done: train_loss {:.4f}{} test_loss {:.4f} test_acc {:.2f}% "
               "{:.0f} img/s {:.1f} GFLOP/s {:.1f} s (all-reduce {:.1f}%) peak {:.0f} MiB",
               result.epoch, config_.train.epochs, result.train_loss, val, result.test.loss(),
               100.0 * result.test.accuracy(), result.images_per_s, gflop_per_s, result.epoch_s,
               100.0 * result.allreduce_s / result.epoch_s, peak_mib);
  if (metrics_ == nullptr) return;
  if (validated) {
    metrics_->write(JsonLine()
                        .add("event", "val")
                        .add("epoch", result.epoch)
                        .add("step", result.step)
                        .add("val_loss", result.val.loss())
                        .add("val_acc", result.val.accuracy())
                        .add("val_images", result.val.count())
                        .add("world_size", world_size_));
  }
  metrics_->write(JsonLine()
                      .add("event", "epoch")
                      .add("epoch", result.epoch)
                      .add("step", result.step)
                      .add("train_loss", result.train_loss)
                      .add("test_loss", result.test.loss())
                      .add("test_acc", result.test.accuracy())
                      .add("images_per_s", result.images_per_s)
                      .add("epoch_s", result.epoch_s)
                      .add("allreduce_s", result.allreduce_s)
                      .add("world_size", world_size_)
                      .add("lr", lr)
                      .add("elapsed_s", uptime_s())
                      .add("gflop_per_s", gflop_per_s)
                      .add("peak_mem_mb", peak_mib));
}

}  // namespace vit
