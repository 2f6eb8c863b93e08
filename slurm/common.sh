# shellcheck shell=bash
# common.sh -- sourced by slurm/*.sbatch once they know VIT_ROOT: the settings every job reads from
# its environment, their checks, a header for the job log, and the launch line (vit_command).
#
# Environment (all optional; sbatch passes the submitting shell's environment to the job):
#   VIT_CONFIG      INI file                           (default: $VIT_ROOT/configs/mnist.ini)
#   VIT_RUN_DIR     run directory                      (default: runs/<job name>-<job id> in the
#                                                        submit folder, beside the job's log; a
#                                                        requeued job keeps its id, so its run dir)
#   VIT_ARGS        extra overrides, split on spaces   (e.g. "--train.epochs 3 --data.dir /scratch/mnist")
#   VIT_TRAIN_BIN   the vit-train program              (default: $VIT_ROOT/build/vit-train)
#   VIT_SLURM_MPI   how the ranks are started          (default: pmix)
#                     pmix, pmi2, ...: srun --mpi=<it> starts one rank per task directly;
#                       Debian's OpenMPI 4.1 (built with PMIx) needs pmix: pmi2 and none make every
#                       rank fail in MPI_Init. `srun --mpi=list` shows what a cluster's slurm has.
#                     mpirun: OpenMPI's mpirun inside the allocation (it reads SLURM's node list and
#                       starts its daemons with srun), for sites whose slurm lacks PMIx.
# Arguments given to the sbatch script are passed on to vit-train after VIT_ARGS:
#   sbatch slurm/train.sbatch --train.epochs 3
# Relative paths are relative to the submit folder (the job's working directory).

vit_die() { echo "error: $*" >&2; exit 1; }

VIT_CONFIG="${VIT_CONFIG:-$VIT_ROOT/configs/mnist.ini}"
VIT_RUN_DIR="${VIT_RUN_DIR:-${SLURM_SUBMIT_DIR:-.}/runs/${SLURM_JOB_NAME:-vit-train}-$SLURM_JOB_ID}"
VIT_TRAIN_BIN="${VIT_TRAIN_BIN:-$VIT_ROOT/build/vit-train}"
VIT_SLURM_MPI="${VIT_SLURM_MPI:-pmix}"
# shellcheck disable=SC2206  # splitting VIT_ARGS into words is its documented meaning
vit_args=(${VIT_ARGS:-})

[ -f "$VIT_CONFIG" ] || vit_die "VIT_CONFIG: config file not found: $VIT_CONFIG"
[ -x "$VIT_TRAIN_BIN" ] || vit_die "VIT_TRAIN_BIN: $VIT_TRAIN_BIN is not built (launch/setup.sh)"
if [ "$VIT_SLURM_MPI" = mpirun ]; then
  command -v mpirun >/dev/null || vit_die "VIT_SLURM_MPI=mpirun but mpirun is not installed"
else
  srun --mpi=list 2>&1 | grep -qw -- "$VIT_SLURM_MPI" \
    || vit_die "VIT_SLURM_MPI: srun has no MPI plugin '$VIT_SLURM_MPI' (srun --mpi=list: $(srun --mpi=list 2>&1 | tail -n +2 | tr -s '\n\t ' ' '))"
fi

# Intra-op threads: as many as the CPUs the job gave each task (--cpus-per-task), unless the config
# or the arguments choose (without --cpus-per-task vit-train divides the node's cores by its ranks).
# "$*" is the sourcing script's arguments.
if [ -n "${SLURM_CPUS_PER_TASK:-}" ] && [[ " ${vit_args[*]} $* " != *" --train.threads "* ]] \
   && ! grep -Eq '^[[:space:]]*threads[[:space:]]*=' "$VIT_CONFIG"; then
  vit_args=(--train.threads "$SLURM_CPUS_PER_TASK" "${vit_args[@]}")
fi

# vit_header TITLE: what this job runs (after vit_command), at the top of its log.
vit_header() {
  echo "== $1: job $SLURM_JOB_ID ($SLURM_JOB_NAME), restart ${SLURM_RESTART_COUNT:-0}, $(date '+%F %T')"
  echo "   nodes ${SLURM_JOB_NUM_NODES:-?} (${SLURM_JOB_NODELIST:-?}), tasks ${SLURM_NTASKS:-?}, mpi $VIT_SLURM_MPI"
  echo "   config $VIT_CONFIG"
  echo "   run dir $VIT_RUN_DIR"
  echo "   ${vit_cmd[*]}"
}

# vit_command ARGS...: sets the array vit_cmd to the line that starts vit-train on every task of
# the job, with the config, the run dir, VIT_ARGS and ARGS. Run it as "${vit_cmd[@]}" (with & it
# is the launcher's own pid that $! gives, which signals can be sent to).
vit_command() {
  if [ "$VIT_SLURM_MPI" = mpirun ]; then
    vit_cmd=(mpirun --bind-to none)  # ranks and hosts: mpirun reads them from SLURM's variables
    [ "$(id -u)" -ne 0 ] || vit_cmd+=(--allow-run-as-root)
  else
    vit_cmd=(srun --mpi="$VIT_SLURM_MPI")
  fi
  vit_cmd+=("$VIT_TRAIN_BIN" --config "$VIT_CONFIG" --run-dir "$VIT_RUN_DIR" "${vit_args[@]}" "$@")
}
