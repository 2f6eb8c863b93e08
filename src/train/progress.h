// Progress of an epoch for whoever watches rank 0's console. On a terminal: a live bar (done /
// total, percent, ETA, loss, images/s) redrawn in place at most ten times a second below the log
// messages. Elsewhere (CI, pipes, SLURM logs): nothing but the periodic step lines the trainer
// logs (log.every_steps, log.console_every_s), so no carriage return ever reaches a file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "config/choices.h"  // ProgressSetting

namespace vit {

enum class ProgressMode { kBar, kLines };

// log.progress resolved for this process. "auto" means a bar when stdout is a terminal, judged
// by VIT_TERMINAL=1/0 when set (launch/train.sh sets it from its own stdout) and otherwise by
// isatty(stdout), except under mpirun: Open MPI hands every rank a pseudo-terminal even when the
// job's output goes to a file, so a rank started by mpirun without VIT_TERMINAL gets lines.
ProgressMode progress_mode(ProgressSetting setting);

// The same decision from explicit facts (for tests).
ProgressMode progress_mode(ProgressSetting setting, const char* vit_terminal,
                           bool stdout_is_tty, bool under_mpirun);

// "1:02:03" or "2:03" for a number of seconds (negative or not finite: "?").
std::string format_duration(double seconds);

// One bar line, e.g. "epoch 2/5 [=====>      ] 120/469  25% ETA 0:12 loss 0.4123 8123 img/s".
std::string progress_bar_text(int64_t epoch, int64_t epochs, int64_t done, int64_t total,
                              double eta_s, double loss, double images_per_s, int bar_width);

// The bar of one epoch; with ProgressMode::kLines it does nothing. Erases itself when destroyed.
class EpochProgress {
 public:
  // `first_done` of the epoch's `total_steps` were done before (a run resumed mid-epoch).
  EpochProgress(ProgressMode mode, int64_t epoch, int64_t epochs, int64_t total_steps,
                int64_t first_done);
  ~EpochProgress();
  EpochProgress(const EpochProgress&) = delete;
  EpochProgress& operator=(const EpochProgress&) = delete;

  // After each step: `done` of the epoch's steps and the global images/s so far. `loss` is asked for only when the bar is redrawn (it may
  // wait for the device).
  void update(int64_t done, double images_per_s, const std::function<double()>& loss);

  // "(40/469, 9%, ETA 0:35)": where the step lines stand in the epoch.
  std::string position(int64_t done) const;

 private:
  double eta_s(int64_t done) const;

  using Clock = std::chrono::steady_clock;
  ProgressMode mode_;
  int64_t epoch_, epochs_, total_;
  int64_t first_done_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
};

}  // namespace vit
