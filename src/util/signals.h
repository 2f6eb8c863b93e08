// Stop signals: SIGTERM (SLURM's time limit and preemption, kill) and SIGUSR1 (sbatch --signal)
// only set a flag here. The trainer polls it at step boundaries, the ranks agree on it with one
// scalar all-reduce, write a checkpoint and exit with kStoppedExitCode. A second signal while the
// checkpoint is written only sets the flag again, so it cannot interrupt or corrupt the write.
#pragma once

namespace vit {

// Exit status of a job stopped by a signal after writing its checkpoint: "resume me". The SLURM
// scripts requeue a job that ends with it (75 is EX_TEMPFAIL of sysexits.h).
constexpr int kStoppedExitCode = 75;

// Installs the handlers for its lifetime (RAII) and restores the previous ones after.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal received so far (SIGTERM or SIGUSR1), or 0.
  static int received();
};

}  // namespace vit
