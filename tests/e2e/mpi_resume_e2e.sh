#!/usr/bin/env bash
# Checkpoints and resume with the real programs on 2 ranks:
#  1. SIGTERM in the middle of an epoch: a checkpoint, exit status 75; --resume auto then ends
#     with metrics lines and parameters identical to an uninterrupted run.
#  2. The interrupted run resumed on 1 rank, and a 1-rank run resumed on 2: both finish, with the
#     step count that the remaining samples give (none skipped, none repeated).
#  3. kill -9 of rank 0 while it writes a checkpoint: --resume auto uses the previous one.
# Usage: mpi_resume_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck disable=SC2046,SC2012  # pid lists are split on purpose; step files have plain names
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 2048 128
# 2048 images, 64 per rank and step: 16 steps per epoch on 2 ranks, 32 on 1.
common=("$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0 --train.epochs 2
        --log.every_steps 1)
train() { local n=$1; shift; timeout 240 "$src/launch/train.sh" -n "$n" "${common[@]}" "$@"; }
final_crc() { "$tools/checkpoint-crc" "$(ls "$1"/checkpoints/step-*.pt | sort | tail -n 1)"; }
# ranks_of RUN_DIR: the pids of the vit-train processes of that run.
ranks_of() { pgrep -f -- "--run-dir $1( |$)" | while read -r p; do
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = vit-train ] && echo "$p"; done; }
# wait_for FILE PATTERN: until PATTERN is in FILE (30 s at most).
wait_for() { for _ in $(seq 300); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$1"; fail "timed out waiting for '$2'"; }

# --- 1. exact resume on 2 ranks -------------------------------------------------------------
train 2 --run-dir "$work/straight" > "$work/straight.log" 2>&1 || fail "straight run failed"
# A checkpoint every step, each held 100 ms (test-only delay), so that the run is still going
# when the signal comes (unslowed, the 32 steps take a fraction of a second); checkpoints do not
# change the training, so the results must still equal the straight run's.
VIT_TEST_CHECKPOINT_DELAY_MS=100 train 2 --run-dir "$work/cut" --checkpoint.every_steps 1 \
  > "$work/cut.log" 2>&1 &
job=$!
wait_for "$work/cut.log" ' step 21 '  # in the second epoch
kill -TERM $(ranks_of "$work/cut")
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 75 ] || { tail "$work/cut.log"; fail "stopped run exited $rc, not 75"; }
grep -q 'stopped by signal 15' "$work/cut.log" || fail "no stop message"
[ -s "$work/cut/checkpoints/LATEST" ] || fail "no checkpoint after SIGTERM"
cp -r "$work/cut" "$work/cut-to-1"
train 2 --run-dir "$work/cut" --resume auto > "$work/resume.log" 2>&1 || fail "resume failed"
grep -q 'resumed from' "$work/resume.log" || fail "did not resume"
[ "$(strip "$work/straight/metrics.jsonl")" = "$(strip "$work/cut/metrics.jsonl")" ] \
  || { diff <(strip "$work/straight/metrics.jsonl") <(strip "$work/cut/metrics.jsonl"); \
       fail "metrics differ from the uninterrupted run"; }
[ "$(final_crc "$work/straight")" = "$(final_crc "$work/cut")" ] \
  || fail "final parameters differ: $(final_crc "$work/straight") vs $(final_crc "$work/cut")"
check_metrics "$work/cut/metrics.jsonl" --world 2 --epochs 2
echo "exact resume: ok ($(final_crc "$work/cut"))"

# --- 2. other world sizes -----------------------------------------------------------------------
position=$(sed -n 's/.*step \([0-9]*\), epoch 2, \([0-9]*\) samples into the epoch.*/\1 \2/p' \
  "$work/resume.log")
read -r step pos <<<"$position"
[ -n "$step" ] || fail "resume position not logged"
train 1 --run-dir "$work/cut-to-1" --resume auto > "$work/to1.log" 2>&1 || fail "2 -> 1 failed"
grep -q 'written by 2 rank(s), this job has 1' "$work/to1.log" || fail "no world-size note"
# On 1 rank the rest of epoch 2 is ceil((2048 - pos) / 64) steps.
want=$((step + (2048 - pos + 63) / 64))
grep -q "\"epoch\":2,\"step\":$want," "$work/cut-to-1/metrics.jsonl" \
  || fail "2 -> 1: expected epoch 2 to end at step $want: $(tail -n 1 "$work/cut-to-1/metrics.jsonl")"
check_metrics "$work/cut-to-1/metrics.jsonl" --epochs 2  # world sizes 2, then 1

train 1 --run-dir "$work/one" > "$work/one.log" 2>&1 &
job=$!
wait_for "$work/one.log" ' step 40 '  # epoch 2 of 32 steps each
kill -TERM $(ranks_of "$work/one")
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 75 ] || fail "1-rank stopped run exited $rc"
train 2 --run-dir "$work/one" --resume auto > "$work/to2.log" 2>&1 || fail "1 -> 2 failed"
read -r step pos <<<"$(sed -n 's/.*step \([0-9]*\), epoch 2, \([0-9]*\) samples into the epoch.*/\1 \2/p' "$work/to2.log")"
want=$((step + (2048 - pos + 127) / 128))
grep -q "\"epoch\":2,\"step\":$want," "$work/one/metrics.jsonl" \
  || fail "1 -> 2: expected epoch 2 to end at step $want: $(tail -n 1 "$work/one/metrics.jsonl")"
[ "$(grep -c '"event":"epoch","epoch":2,' "$work/one/metrics.jsonl")" -eq 1 ] || fail "epoch 2 line duplicated"
echo "other world sizes: ok"

# --- 3. kill -9 of rank 0 in the middle of a checkpoint write ---------------------------------
VIT_TEST_CHECKPOINT_DELAY_MS=3000 train 2 --run-dir "$work/crash" --checkpoint.every_steps 4 \
  > "$work/crash.log" 2>&1 &
job=$!
wait_for "$work/crash.log" 'step-00000004.pt written'
for _ in $(seq 100); do ls "$work/crash/checkpoints"/.step-00000008.pt.tmp.* >/dev/null 2>&1 && break; sleep 0.1; done
ls "$work/crash/checkpoints"/.step-00000008.pt.tmp.* >/dev/null 2>&1 || fail "second write not seen"
for p in $(ranks_of "$work/crash"); do
  tr '\0' '\n' < "/proc/$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=0' && kill -9 "$p"
done
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -ne 0 ] || fail "job survived the death of rank 0"
[ "$(cat "$work/crash/checkpoints/LATEST")" = "step-00000004.pt" ] || fail "LATEST moved"
train 2 --run-dir "$work/crash" --resume auto > "$work/crash-resume.log" 2>&1 \
  || fail "resume after the crash failed"
grep -q 'resumed from .*step-00000004.pt' "$work/crash-resume.log" || fail "did not use step 4"
grep -q '"epoch":2,"step":32,' "$work/crash/metrics.jsonl" || fail "crashed run did not finish"
echo "kill -9 during a write: ok"

# --- 4. a second SIGTERM while the stop checkpoint is being written -----------------------------
VIT_TEST_CHECKPOINT_DELAY_MS=2000 train 2 --run-dir "$work/twice" > "$work/twice.log" 2>&1 &
job=$!
wait_for "$work/twice.log" ' step 5 '
kill -TERM $(ranks_of "$work/twice")
for _ in $(seq 100); do ls "$work/twice/checkpoints"/.step-*.tmp.* >/dev/null 2>&1 && break; sleep 0.1; done
ls "$work/twice/checkpoints"/.step-*.tmp.* >/dev/null 2>&1 || fail "stop checkpoint write not seen"
kill -TERM $(ranks_of "$work/twice")  # during the write
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 75 ] || { tail "$work/twice.log"; fail "second signal: exit $rc, not 75"; }
train 2 --run-dir "$work/twice" --resume auto > "$work/twice-resume.log" 2>&1 || fail "resume failed"
grep -q 'resumed from' "$work/twice-resume.log" || fail "the stop checkpoint was not used"
grep -q '"epoch":2,"step":32,' "$work/twice/metrics.jsonl" || fail "run did not finish"
echo "second signal during the write: ok"
