# shellcheck shell=bash
# restart-policy.sh -- sourced by launch/train.sh (--max-restarts) and slurm/common.sh
# (VIT_MAX_RESTARTS): which failures a restart from the last checkpoint can mend, and the
# checkpoint a restart goes on from.
#
# Restarted: a rank killed by a signal (status 129 to 192: kill -9, the out-of-memory killer, a
# crash), a collective that timed out because a rank or machine stopped answering (vit-train's
# status 69), a machine that mpirun lost or could not start its daemon on (launch/mpirun-filter.awk
# records these in its causes file, whatever mpirun's status). Not restarted: success (0), a stop
# request (75: the job checkpointed and was asked to end), and every other status: a configuration
# or data error (1) is the same on the next try, so a restart would only loop.

# restart_cause STATUS [CAUSES_FILE]: when a restart can mend a job that ended with STATUS, prints
# what failed, in one line (the first cause mpirun-filter.awk recorded, or what STATUS says), and
# returns 0; otherwise returns 1.
restart_cause() {
  local status=$1 file=${2:-} first=""
  if [ -n "$file" ] && [ -s "$file" ]; then first=$(head -n 1 "$file"); fi
  case "$status" in
    0 | 75) return 1 ;;
    69) echo "${first:-a collective timed out: a rank or machine stopped answering} (exit 69)" ;;
    *)
      if [ "$status" -gt 128 ] && [ "$status" -le 192 ]; then
        echo "${first:-a rank was killed by signal $((status - 128))} (exit $status)"
      elif [ -n "$first" ]; then
        echo "$first (exit $status)"
      else
        return 1
      fi ;;
  esac
}

# latest_checkpoint RUN_DIR: the checkpoint a restart resumes from (checkpoints/LATEST's file
# name, e.g. step-00000012.pt), or nothing when the run has none yet.
latest_checkpoint() {
  local latest="$1/checkpoints/LATEST" name=""
  if [ -f "$latest" ]; then read -r name < "$latest" || true; fi
  if [[ "$name" =~ ^step-[0-9]+\.pt$ ]]; then echo "$name"; fi
}

# checkpoint_words NAME: "step-00000012.pt (step 12)", or "no checkpoint yet (from the start)".
checkpoint_words() {
  if [ -z "$1" ]; then echo "no checkpoint yet (from the start)"; return; fi
  local step=${1#step-}
  step=${step%.pt}
  echo "$1 (step $((10#$step)))"
}
