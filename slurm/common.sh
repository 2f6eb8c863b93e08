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
#   VIT_MAX_RESTARTS  restarts of a failed step inside the allocation (default 0): a step that
#                     failed in a way a restart can mend (a rank killed by a signal, a rank or
#                     machine that stopped answering: launch/restart-policy.sh) is started again
#                     with --resume auto, after 2, 4, 8 ... s, as launch/train.sh --max-restarts
#                     does, and only when the failed step wrote a checkpoint (the first restart
#                     excepted). A stop (75) is a stop: preemptible.sbatch requeues the job.
# Arguments given to the sbatch script are passed on to vit-train after VIT_ARGS:
#   sbatch slurm/train.sbatch --train.epochs 3
# Relative paths are relative to the submit folder (the job's working directory).

vit_die() { echo "error: $*" >&2; exit 1; }

VIT_CONFIG="${VIT_CONFIG:-$VIT_ROOT/configs/mnist.ini}"
VIT_RUN_DIR="${VIT_RUN_DIR:-${SLURM_SUBMIT_DIR:-.}/runs/${SLURM_JOB_NAME:-vit-train}-$SLURM_JOB_ID}"
VIT_TRAIN_BIN="${VIT_TRAIN_BIN:-$VIT_ROOT/build/vit-train}"
VIT_SLURM_MPI="${VIT_SLURM_MPI:-pmix}"
VIT_MAX_RESTARTS="${VIT_MAX_RESTARTS:-0}"
# shellcheck disable=SC2206  # splitting VIT_ARGS into words is its documented meaning
vit_args=(${VIT_ARGS:-})

[ -f "$VIT_CONFIG" ] || vit_die "VIT_CONFIG: config file not found: $VIT_CONFIG"
if ! [[ "$VIT_MAX_RESTARTS" =~ ^[0-9]+$ ]] || [ "$VIT_MAX_RESTARTS" -gt 1000 ]; then
  vit_die "VIT_MAX_RESTARTS must be a number from 0 to 1000, got '$VIT_MAX_RESTARTS'"
fi
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

# shellcheck source=launch/restart-policy.sh
. "$VIT_ROOT/launch/restart-policy.sh"

# vit_step ARGS...: runs "${vit_cmd[@]}" ARGS... as one step and waits for it, setting vit_rc to
# its status. It runs in the background and the loop waits again after each trap (bash runs a
# trap only between commands): vit_pid is the launcher a trap passes a stop signal on to, and a
# signal that came before it started (vit_stop_signal set) is passed on at once.
vit_stop_signal="${vit_stop_signal:-}"  # (a trap of the sourcing script may have set it)
vit_pid=""
vit_step() {
  "${vit_cmd[@]}" "$@" &
  vit_pid=$!
  [ -z "$vit_stop_signal" ] || kill -USR1 "$vit_pid" 2>/dev/null || true
  while kill -0 "$vit_pid" 2>/dev/null; do
    wait "$vit_pid" || true
  done
  vit_rc=0
  wait "$vit_pid" || vit_rc=$?  # its status, kept by bash after the loop's wait
  vit_pid=""
}

# vit_run NAME: the job's step (vit_command's line), started again inside the allocation, with
# --resume auto, when it fails in a way a restart can mend and VIT_MAX_RESTARTS allows; one line
# per restart (NAME: restart k of N ...) and one when it gives up. Sets vit_rc to the last step's
# status.
vit_run() {
  local name=$1 attempt=0 before after cause wait_s resume=()
  while true; do
    before=$(latest_checkpoint "$VIT_RUN_DIR")
    vit_step "${resume[@]}"
    if [ "$vit_rc" -eq 0 ] || [ -n "$vit_stop_signal" ] || [ "$VIT_MAX_RESTARTS" -eq 0 ]; then
      return 0
    fi
    cause=$(restart_cause "$vit_rc") || return 0
    after=$(latest_checkpoint "$VIT_RUN_DIR")
    if [ "$attempt" -ge "$VIT_MAX_RESTARTS" ]; then
      echo "error: $name: giving up after $attempt restart(s) (VIT_MAX_RESTARTS=$VIT_MAX_RESTARTS):" \
        "$cause; the last checkpoint: $(checkpoint_words "$after") in $VIT_RUN_DIR" >&2
      return 0
    fi
    if [ "$attempt" -ge 1 ] && [ "$after" = "$before" ]; then
      echo "error: $name: giving up: step $((attempt + 1)) failed before writing a checkpoint," \
        "as restart $attempt's did not help: $cause; the last checkpoint:" \
        "$(checkpoint_words "$after") in $VIT_RUN_DIR" >&2
      return 0
    fi
    attempt=$((attempt + 1))
    wait_s=$((2 ** (attempt - 1) * 2))
    [ "$wait_s" -le 60 ] || wait_s=60
    echo "$name: restart $attempt of $VIT_MAX_RESTARTS in $wait_s s, a new step of job" \
      "$SLURM_JOB_ID, after $cause: $VIT_RUN_DIR goes on from $(checkpoint_words "$after")"
    sleep "$wait_s" & wait $! || true  # (a trap cuts it short)
    [ -z "$vit_stop_signal" ] || { vit_rc=75; return 0; }
    export VIT_RESTART_ATTEMPT=$attempt VIT_RESTART_MAX=$VIT_MAX_RESTARTS VIT_RESTART_CAUSE=$cause
    resume=(--resume auto)
  done
}