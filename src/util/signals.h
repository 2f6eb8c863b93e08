// Stop signals: SIGTERM (SLURM's time limit and preemption, kill), SIGUSR1 (sbatch --signal),
// SIGINT (Ctrl-C) and SIGHUP (a closed terminal) only set a flag here. The trainer polls it at
// step boundaries, the ranks agree on it with one scalar all-reduce, write a checkpoint and exit
// with kStoppedExitCode. A second signal while the checkpoint is written, or after it while the
// program shuts down, only sets the flag again, so it can neither corrupt the write nor turn the
// exit status 75 into a death by signal.
//
// No signal interrupts the threads that compute: the first StopSignals blocks the stop signals in
// the thread that constructs it (main, before MPI, LibTorch or OpenMP start threads, which inherit
// the mask) and starts one thread that waits for them with sigwait(). A signal handled on a
// computing thread pushes its frame where the stack pointer points, and oneDNN 2.6's JIT GEMM
// kernels (Debian's libdnnl, AVX-512 and AVX2) point it into a heap buffer while they run: a stop
// signal then corrupted the heap (uxlfoundation/oneDNN#4845, fixed in oneDNN 3.11). Stop signals
// are sent to the process (kill, mpirun, SLURM); one sent to a thread of its own (raise()) waits
// until that thread unblocks it.
#pragma once

#include <string>

namespace vit {

// Exit status of a job stopped by a signal after writing its checkpoint: "resume me". The SLURM
// scripts requeue a job that ends with it (75 is EX_TEMPFAIL of sysexits.h).
constexpr int kStoppedExitCode = 75;

// Constructing one installs the handlers and the waiting thread; they stay until the process exits
// (also after this object is gone: a signal then must not kill a process that has written its
// checkpoint). Construct it first in main(), before any thread starts.
class StopSignals {
 public:
  StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The last stop signal received so far (SIGTERM, SIGUSR1, SIGINT or SIGHUP), or 0.
  static int received();
};

// "SIGTERM (signal 15)" for a stop signal, "signal N" for another number.
std::string signal_name(int signal);

// Output into a pipe whose reader went away (`vit-train ... | head -1`, a closed log pipe) must not
// kill a training job: SIGPIPE is ignored, so such writes fail instead (console output is
// best-effort; train.log is a file) and training goes on. For the life of the process.
void ignore_broken_pipes();

}  // namespace vit
