#!/usr/bin/env bash
# End-to-end on a real one-node SLURM started here (launch/slurm-local.sh; needs root):
#  1. slurm/train.sbatch with configs/smoke.ini on 2 tasks (srun --mpi=pmix): one epoch line per
#     epoch, world_size 2, a final model; the script refuses to run outside sbatch. Then
#     slurm/multinode.sbatch on the one node there is (one epoch).
#  2. slurm/preemptible.sbatch, stopped mid-run by SIGUSR1 to its batch shell (as --signal=B:USR1
#     does): the ranks checkpoint and exit 75, the job requeues itself, resumes and completes, and
#     its last epoch line equals that of the same job run without interruption.
#  3. slurm/train.sbatch with VIT_MAX_RESTARTS=1, rank 1 killed (kill -9) mid-run: the step is
#     restarted inside the job, from its last checkpoint, and the job completes with a "restart"
#     line in metrics.jsonl; its last epoch line equals the reference's of 2.
# The daemons are stopped at exit, whatever happens. Every wait is bounded: each budget below is
# 6x or more the slowest of 10 runs on the 2-core development machine, 5 of them with two busy
# loops beside the test (figures in docs/slurm.md), and VIT_SLURM_SLACK (default 1) multiplies them
# all on a slower machine; the whole test stops itself after 480 s (10x the slowest run).
# VIT_KEEP_WORK=1 keeps the job logs, run dirs and daemon logs.
# Usage: slurm_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
set -euo pipefail
vit_train=$1 make_data=$2 src=$3
readonly kSlack=${VIT_SLURM_SLACK:-1}
[[ "$kSlack" =~ ^[1-9][0-9]*$ ]] || { echo "FAIL: VIT_SLURM_SLACK must be a whole number >= 1" >&2; exit 1; }
readonly kDeadline=$((480 * kSlack))
work=$(mktemp -d)
chmod 711 "$work"  # munged wants the folders above its socket searchable by all
export VIT_SLURM_DIR="$work/slurm"
export SLURM_CONF="$VIT_SLURM_DIR/etc/slurm.conf"
export VIT_TRAIN_BIN="$vit_train"
unset VIT_ROOT VIT_CONFIG VIT_RUN_DIR VIT_ARGS VIT_SLURM_MPI  # the scripts' defaults are under test

cleanup() {
  "$src/launch/slurm-local.sh" stop >/dev/null 2>&1 || true
  if [ -n "${VIT_KEEP_WORK:-}" ]; then echo "slurm e2e: files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$work"/*.out "$VIT_SLURM_DIR"/log/slurmctld.log "$VIT_SLURM_DIR"/log/slurmd.log; do
    [ -f "$f" ] || continue
    echo "---- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
  exit 1
}
t0=$SECONDS
lap() { echo "slurm e2e: $1: $((SECONDS - t0)) s"; t0=$SECONDS; }
check_deadline() { [ "$SECONDS" -lt "$kDeadline" ] || fail "test deadline ($kDeadline s) passed: $1"; }

# A free port pair for slurmctld and slurmd, so that another local SLURM is left alone.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 5000 * 2))
  port_free "$port" && port_free $((port + 1)) && break
done
export VIT_SLURM_PORT=$port

# job_field JOB FIELD: one field of `scontrol show job`.
job_field() {
  timeout 15 scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# wait_job JOB STATE SECONDS: polls until the job is in STATE; fails on another final state. A
# requeued job waits about 2 minutes (SLURM's BeginTime for requeues): it is started at once.
wait_job() {
  local job=$1 want=$2 budget=$(($3 * kSlack)) state
  local deadline=$((SECONDS + budget))
  while :; do
    state=$(job_field "$job" JobState)
    [ "$state" != "$want" ] || return 0
    case "$state" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
        fail "job $job ended $state (exit $(job_field "$job" ExitCode)), expected $want" ;;
      PENDING)
        if [ "$(job_field "$job" Reason)" = BeginTime ]; then
          # slurmd refuses credentials issued in the second it revoked the old run's (the reason
          # for SLURM's own delay): a started-at-once job would fail "Job credential revoked".
          sleep 2
          timeout 15 scontrol update JobId="$job" StartTime=now || true
        fi ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || fail "job $job not $want within $budget s (state $state)"
    check_deadline "waiting for job $job"
    sleep 0.5
  done
}

epoch_lines() {
  if [ -f "$1/metrics.jsonl" ]; then grep -c '"event":"epoch"' "$1/metrics.jsonl" || true; else echo 0; fi
}
# last_epoch RUN: the last epoch line's epoch, step, losses, accuracy and world size.
last_epoch() {
  grep '"event":"epoch"' "$1/metrics.jsonl" | tail -n 1 \
    | grep -oE '"(epoch|step|train_loss|test_loss|test_acc|world_size)":[^,}]*' | tr '\n' ' '
}

# --- the cluster and the data ----------------------------------------------------------------
"$src/launch/slurm-local.sh" start > "$work/slurm-start.out" 2>&1 \
  || { cat "$work/slurm-start.out" >&2; fail "launch/slurm-local.sh start"; }
"$src/launch/slurm-local.sh" status >/dev/null || fail "slurm-local.sh status after start"
"$make_data" "$work/data" 512 128 > /dev/null
lap "local SLURM up (port $port), data made"

# --- 1. train.sbatch: 2 tasks, smoke config ------------------------------------------------------
set +e
env -u SLURM_JOB_ID bash "$src/slurm/train.sbatch" > /dev/null 2> "$work/guard.err"
rc=$?
set -e
{ [ "$rc" -eq 1 ] && grep -q '^error: train.sbatch: not in a SLURM job' "$work/guard.err"; } \
  || fail "train.sbatch outside sbatch: exit $rc, $(cat "$work/guard.err")"

run1="$work/run1"
# Submitted from the repository root, without VIT_ROOT: the script finds it by SLURM_SUBMIT_DIR.
job=$(cd "$src" && VIT_CONFIG=configs/smoke.ini VIT_RUN_DIR="$run1" \
      VIT_ARGS="--data.dir $work/data" timeout 30 sbatch --parsable --ntasks=2 \
      --output="$work/train-%j.out" slurm/train.sbatch) || fail "sbatch train.sbatch"
wait_job "$job" COMPLETED 120
grep -q 'mpi pmix' "$work/train-$job.out" || fail "job log lacks the header"
[ "$(epoch_lines "$run1")" -eq 2 ] || fail "train.sbatch: not 2 epoch lines"
grep -q '"world_size":2' "$run1/metrics.jsonl" || fail "train.sbatch: metrics do not say world_size 2"
grep -q '"epoch":2,"step":8,' "$run1/metrics.jsonl" || fail "train.sbatch: wrong steps: $(cat "$run1/metrics.jsonl")"
[ -s "$run1/checkpoints/final.pt" ] || fail "train.sbatch: no final model"
lap "train.sbatch, 2 tasks, 2 epochs"

# The defaults a first try meets: a new shell without SLURM_CONF reaches the cluster (slurm-local.sh
# linked /etc/slurm/slurm.conf, where the system had none), and two identical submissions without
# VIT_RUN_DIR or --output each get their own run dir and log, runs/<job name>-<job id>, in the
# submit folder.
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$SLURM_CONF" ]; then
  env -u SLURM_CONF sinfo -h > /dev/null || fail "sinfo without SLURM_CONF"
fi
mkdir -p "$work/submit/runs"
twins=()
for _ in 1 2; do
  twins+=("$(cd "$work/submit" && VIT_ROOT="$src" VIT_CONFIG="$src/configs/smoke.ini" \
             VIT_ARGS="--data.dir $work/data --train.epochs 1" timeout 30 sbatch --parsable \
             --ntasks=1 "$src/slurm/train.sbatch")") || fail "sbatch train.sbatch (defaults)"
done
for twin in "${twins[@]}"; do
  wait_job "$twin" COMPLETED 120
  [ -s "$work/submit/runs/vit-train-$twin/checkpoints/final.pt" ] \
    || fail "job $twin: no runs/vit-train-$twin/checkpoints/final.pt: $(ls "$work/submit/runs")"
  grep -q "run dir $work/submit/runs/vit-train-$twin\$" "$work/submit/runs/vit-train-$twin.out" \
    || fail "job $twin: its log is not runs/vit-train-$twin.out or names another run dir"
done
lap "train.sbatch twice with the defaults: runs/vit-train-<job id> each"

# multinode.sbatch on the one node there is: its per-node check and its launch line.
run1b="$work/run1b"
job=$(cd "$src" && VIT_CONFIG=configs/smoke.ini VIT_RUN_DIR="$run1b" \
      VIT_ARGS="--data.dir $work/data --train.epochs 1" timeout 30 sbatch --parsable --nodes=1 \
      --ntasks-per-node=2 --output="$work/multi-%j.out" slurm/multinode.sbatch) \
  || fail "sbatch multinode.sbatch"
wait_job "$job" COMPLETED 120
grep -q '"epoch":1,"step":4,.*"world_size":2' "$run1b/metrics.jsonl" \
  || fail "multinode.sbatch: wrong metrics: $(cat "$run1b/metrics.jsonl")"
lap "multinode.sbatch on 1 node, 2 tasks, 1 epoch"

# --- 2. preemptible.sbatch: stopped by SIGUSR1, requeued, resumed --------------------------------
epochs=80  # long enough to be running when the signal comes
long=(--data.dir "$work/data" --train.epochs "$epochs" --checkpoint.every_steps 5)
submit_pre() {  # submit_pre RUN_DIR: prints the job id
  (cd "$src" && VIT_CONFIG=configs/smoke.ini VIT_RUN_DIR="$1" timeout 30 sbatch --parsable \
     --ntasks=2 --output="$work/pre-%j.out" slurm/preemptible.sbatch "${long[@]}")
}

run2="$work/preempted"
job=$(submit_pre "$run2") || fail "sbatch preemptible.sbatch"
wait_job "$job" RUNNING 60
deadline=$((SECONDS + 80 * kSlack))
until [ "$(epoch_lines "$run2")" -ge 2 ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "preemptible job $job: no progress within $((80 * kSlack)) s"
  [ "$(job_field "$job" JobState)" = RUNNING ] || fail "preemptible job $job ended before the signal"
  sleep 0.2
done
before=$(epoch_lines "$run2")
timeout 15 scancel --signal=USR1 --batch "$job" || fail "scancel --signal=USR1 --batch $job"
lap "preemptible job running, USR1 sent after $before epochs"

deadline=$((SECONDS + 60 * kSlack))
until [ "$(job_field "$job" Restarts)" = 1 ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "job $job not requeued within $((60 * kSlack)) s (state $(job_field "$job" JobState))"
  sleep 0.2
done
stopped_at=$(epoch_lines "$run2")
[ "$stopped_at" -lt "$epochs" ] || fail "the job finished before the stop took effect"
grep -q 'preemptible.sbatch: stopped (exit 75)' "$work/pre-$job.out" \
  || fail "the ranks did not exit 75 after USR1"
lap "stopped and requeued after $stopped_at of $epochs epochs"

wait_job "$job" COMPLETED 120
[ "$(job_field "$job" Restarts)" = 1 ] || fail "job $job restarted $(job_field "$job" Restarts) times, not once"
[ "$(grep -c '^== preemptible.sbatch: job' "$work/pre-$job.out")" -eq 2 ] \
  || fail "the job log does not show two runs"
[ -s "$run2/checkpoints/final.pt" ] || fail "resumed job: no final model"
lap "resumed and completed"

run3="$work/reference"
ref=$(submit_pre "$run3") || fail "sbatch preemptible.sbatch (reference)"
wait_job "$ref" COMPLETED 120
[ "$(job_field "$ref" Restarts)" = 0 ] || fail "the reference job was requeued"
lap "reference run without interruption"

[ "$(epoch_lines "$run3")" -eq "$epochs" ] || fail "reference: $(epoch_lines "$run3") epoch lines, not $epochs"
[ "$(epoch_lines "$run2")" -eq "$epochs" ] \
  || fail "resumed run: $(epoch_lines "$run2") epoch lines, not $epochs: $(grep -o '"epoch":[0-9]*' "$run2/metrics.jsonl" | tr '\n' ' ')"
a=$(last_epoch "$run2") b=$(last_epoch "$run3")
{ [ -n "$a" ] && [ "$a" = "$b" ]; } || fail "resumed run ends with  $a
                     reference ends with $b"
# And the parameters, to the bit: CRC of the model in each run's last checkpoint.
crc() { "$(dirname "$make_data")/checkpoint-crc" "$(ls "$1"/checkpoints/step-*.pt | sort | tail -n 1)"; }
[ "$(crc "$run2")" = "$(crc "$run3")" ] || fail "final parameters differ: $(crc "$run2") vs $(crc "$run3")"
echo "slurm e2e: resumed = reference: $a, parameters $(crc "$run2")"

# --- 3. a killed rank: its step restarted inside the job --------------------------------------
run4="$work/restarted"
# Checkpoints held 100 ms each (the tests' build): still running when the rank is killed.
job=$(cd "$src" && VIT_CONFIG=configs/smoke.ini VIT_RUN_DIR="$run4" VIT_MAX_RESTARTS=1 \
      VIT_TRAIN_BIN="$(dirname "$make_data")/vit-train-faults" VIT_TEST_CHECKPOINT_DELAY_MS=100 \
      timeout 30 sbatch --parsable --ntasks=2 --output="$work/restart-%j.out" slurm/train.sbatch \
      "${long[@]}") || fail "sbatch train.sbatch (restarts)"
wait_job "$job" RUNNING 60
deadline=$((SECONDS + 80 * kSlack))
until [ "$(epoch_lines "$run4")" -ge 3 ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "job $job: no progress within $((80 * kSlack)) s"
  sleep 0.2
done
victim=""
for p in $(pgrep -f -- "--run-dir $run4( |$)"); do
  tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx 'SLURM_PROCID=1' && victim=$p
done
[ -n "$victim" ] || fail "rank 1 of job $job not found"
kill -9 "$victim"
lap "rank 1 of job $job killed after $(epoch_lines "$run4") epochs"
wait_job "$job" COMPLETED 120
grep -q '^train.sbatch: restart 1 of 1 in 2 s, a new step of job .* after a rank was killed by signal 9 (exit 137): .* goes on from step-' \
  "$work/restart-$job.out" || fail "job $job: no restart line in its log"
grep -q '"event":"restart",.*"attempt":1,"max_restarts":1,"world_size":2,' "$run4/metrics.jsonl" \
  || fail "job $job: no restart line in metrics.jsonl"
[ "$(epoch_lines "$run4")" -eq "$epochs" ] || fail "job $job: $(epoch_lines "$run4") epoch lines, not $epochs"
c=$(last_epoch "$run4")
[ "$c" = "$b" ] || fail "restarted job ends with $c
                     reference ends with $b"
lap "step restarted inside job $job, completed as the reference"
echo "slurm e2e: ok"
