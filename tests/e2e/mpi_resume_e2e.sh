#!/usr/bin/env bash
# Checkpoints and resume with the real programs on 2 ranks:
#  1. SIGTERM in the middle of an epoch: a checkpoint, exit status 75; --resume auto then ends
#     with metrics lines and parameters identical to an uninterrupted run.
#  2. The interrupted run resumed on 1 rank (its cosine schedule recomputed for the new length),
#     and a 1-rank run stopped by SIGUSR1 resumed on 2: both finish, with the step count that the
#     remaining samples give (that they are each trained once is tested in sampler_test).
#  3. kill -9 of rank 0 while it writes a checkpoint (exit 137): --resume auto uses the previous
#     one, and metrics.jsonl holds no line twice.
#  4. A second SIGTERM while the stop checkpoint is written: exit 75, and that checkpoint resumes.
#  5. Run directories that are not shared (rank 0's holds checkpoints, rank 1's none): the ranks
#     resumed different states, and the job ends with one error naming them, nothing trained.
# Usage: mpi_resume_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck disable=SC2046,SC2012  # pid lists are split on purpose; step files have plain names
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 2048 128
# 2048 images, 64 per rank and step: 16 steps per epoch on 2 ranks, 32 on 1.
# A cosine schedule (not constant), so that a schedule not recomputed on another world size shows.
common=("$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0 --train.epochs 2
        --log.every_steps 1 --optim.schedule cosine)
train() { local n=$1; shift; timeout 240 "$src/launch/train.sh" -n "$n" "${common[@]}" "$@"; }
final_crc() { "$tools/checkpoint-crc" "$(ls "$1"/checkpoints/step-*.pt | sort | tail -n 1)"; }

# --- 1. exact resume on 2 ranks -------------------------------------------------------------
train 2 --run-dir "$work/straight" > "$work/straight.log" 2>&1 || fail "straight run failed"
# A checkpoint every step, each held 100 ms (test-only delay), so that the run is still going
# when the signal comes (unslowed, the 32 steps take a fraction of a second); checkpoints do not
# change the training, so the results must still equal the straight run's.
VIT_TRAIN_BIN=$faulty_vit_train \
  VIT_TEST_CHECKPOINT_DELAY_MS=100 train 2 --run-dir "$work/cut" --checkpoint.every_steps 1 \
  > "$work/cut.log" 2>&1 &
job=$!
wait_for "$work/cut.log" ' step 21 '  # in the second epoch
kill -TERM $(ranks_of "$work/cut")
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 75 ] || { tail "$work/cut.log"; fail "stopped run exited $rc, not 75"; }
grep -q 'stopped by SIGTERM (signal 15) at step' "$work/cut.log" || fail "no stop message"
[ -s "$work/cut/checkpoints/LATEST" ] || fail "no checkpoint after SIGTERM"
cp -r "$work/cut" "$work/cut-to-1"
train 2 --run-dir "$work/cut" --resume auto > "$work/resume.log" 2>&1 || fail "resume failed"
# The log line of a real resume (the start-up table's "| resumed from | (fresh start)" row of a
# fresh start must not count), from a step in epoch 2, where the signal came.
grep -Eq 'resumed from .*/checkpoints/step-[0-9]{8}\.pt: step (2[1-9]|3[01]), epoch 2,' \
  "$work/resume.log" || { grep resumed "$work/resume.log"; fail "did not resume from epoch 2"; }
# The keys given otherwise than when the checkpoint was written, in one line.
grep -Eq 'resume: changed since .*/step-[0-9]{8}\.pt was written: checkpoint\.every_steps 1 -> 0$' \
  "$work/resume.log" || { grep 'resume:' "$work/resume.log"; fail "the changed key was not reported"; }
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
# The schedule was recomputed for 1 rank: every step from the resume on used the cosine over the
# run's new length ($want steps; smoke.ini: lr 0.005, no warm-up, floor 0), ending where the data
# ends (the lr of step s is that of index s - 1).
python3 - "$work/cut-to-1/metrics.jsonl" "$step" "$want" <<'EOF' || fail "2 -> 1: lr not recomputed"
import json, math, sys
path, resumed, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = [m for m in map(json.loads, open(path)) if m["event"] == "step" and m["step"] > resumed]
assert len(lines) == total - resumed, f"{len(lines)} step lines after the resume"
for m in lines:
    want = 0.5 * 0.005 * (1 + math.cos(math.pi * (m["step"] - 1) / total))
    if abs(m["lr"] - want) > 1e-5 * 0.005:  # metrics keep 6 significant digits
        sys.exit(f"step {m['step']}: lr {m['lr']}, cosine over {total} steps gives {want:.6g}")
EOF

# Slowed like the 2-rank run (unslowed, the signal came with ~0.2 s of training left and could
# miss it); SIGUSR1 this time, the other stop signal, outside SLURM.
VIT_TRAIN_BIN=$faulty_vit_train \
  VIT_TEST_CHECKPOINT_DELAY_MS=100 train 1 --run-dir "$work/one" --checkpoint.every_steps 1 \
  > "$work/one.log" 2>&1 &
job=$!
wait_for "$work/one.log" ' step 40 '  # epoch 2 of 32 steps each
kill -USR1 $(ranks_of "$work/one")
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 75 ] || { tail "$work/one.log"; fail "1-rank run stopped by SIGUSR1 exited $rc, not 75"; }
grep -q 'stopped by SIGUSR1 (signal 10) at step' "$work/one.log" || fail "no stop message for SIGUSR1"
train 2 --run-dir "$work/one" --resume auto > "$work/to2.log" 2>&1 || fail "1 -> 2 failed"
read -r step pos <<<"$(sed -n 's/.*step \([0-9]*\), epoch 2, \([0-9]*\) samples into the epoch.*/\1 \2/p' "$work/to2.log")"
want=$((step + (2048 - pos + 127) / 128))
grep -q "\"epoch\":2,\"step\":$want," "$work/one/metrics.jsonl" \
  || fail "1 -> 2: expected epoch 2 to end at step $want: $(tail -n 1 "$work/one/metrics.jsonl")"
[ "$(grep -c '"event":"epoch","epoch":2,' "$work/one/metrics.jsonl")" -eq 1 ] || fail "epoch 2 line duplicated"
echo "other world sizes: ok"

# --- 3. kill -9 of rank 0 in the middle of a checkpoint write ---------------------------------
VIT_TRAIN_BIN=$faulty_vit_train \
  VIT_TEST_CHECKPOINT_DELAY_MS=3000 train 2 --run-dir "$work/crash" --checkpoint.every_steps 4 --log.level debug \
  > "$work/crash.log" 2>&1 &
job=$!
wait_for "$work/crash.log" 'step-00000004.pt written'
for _ in $(seq 100); do ls "$work/crash/checkpoints"/.step-00000008.pt.tmp.* >/dev/null 2>&1 && break; sleep 0.1; done
ls "$work/crash/checkpoints"/.step-00000008.pt.tmp.* >/dev/null 2>&1 || fail "second write not seen"
for p in $(ranks_of "$work/crash"); do
  tr '\0' '\n' < "/proc/$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=0' && kill -9 "$p"
done
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 137 ] || fail "job exited $rc after rank 0 was killed, not 137"
[ "$(cat "$work/crash/checkpoints/LATEST")" = "step-00000004.pt" ] || fail "LATEST moved"
train 2 --run-dir "$work/crash" --resume auto > "$work/crash-resume.log" 2>&1 \
  || fail "resume after the crash failed"
grep -q 'resumed from .*step-00000004.pt: step 4,' "$work/crash-resume.log" || fail "did not use step 4"
grep -q '"epoch":2,"step":32,' "$work/crash/metrics.jsonl" || fail "crashed run did not finish"
# The steps 5-8 that the crashed run had logged are logged again by the resumed one: once each.
check_metrics "$work/crash/metrics.jsonl" --world 2 --epochs 2
echo "kill -9 during a write: ok"

# --- 4. a second SIGTERM while the stop checkpoint is being written -----------------------------
VIT_TRAIN_BIN=$faulty_vit_train \
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
stopped_at=$(sed -n 's/.*stopped by SIGTERM (signal 15) at step \([0-9]*\) .*/\1/p' "$work/twice.log")
[ -n "$stopped_at" ] || { tail "$work/twice.log"; fail "no stop step logged"; }
grep -q "resumed from .*step-$(printf %08d "$stopped_at").pt: step $stopped_at," \
  "$work/twice-resume.log" || fail "the stop checkpoint (step $stopped_at) was not used"
grep -q '"epoch":2,"step":32,' "$work/twice/metrics.jsonl" || fail "run did not finish"
check_metrics "$work/twice/metrics.jsonl" --world 2 --epochs 2
echo "second signal during the write: ok"

# --- 5. ranks that see different checkpoints -----------------------------------------------------
# MPMD: the same program and config, each rank with its own run directory (as on machines without
# a shared file system); rank 0's holds the finished run's checkpoints, rank 1's none.
mkdir -p "$work/elsewhere"
root=()
[ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)
set +e
timeout 120 mpirun --oversubscribe --bind-to none "${root[@]}" \
  -n 1 "$vit_train" --config "${common[@]}" --run-dir "$work/twice" --resume auto --train.epochs 3 : \
  -n 1 "$vit_train" --config "${common[@]}" --run-dir "$work/elsewhere" --resume auto --train.epochs 3 \
  > "$work/apart.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || { tail "$work/apart.log"; fail "ranks that resumed different states trained"; }
[ "$(grep -c '^error:' "$work/apart.log")" -eq 1 ] || { cat "$work/apart.log"; fail "not one error line"; }
grep -q '^error: the ranks resumed different states: rank 1 resumed nothing (a fresh start), .*; rank 0 resumed step-00000032.pt (step 32)' \
  "$work/apart.log" || { cat "$work/apart.log"; fail "the error does not name what each rank resumed"; }
! grep -q '"epoch":3' "$work/twice/metrics.jsonl" || fail "trained a third epoch anyway"
echo "ranks that resumed different states: ok"
