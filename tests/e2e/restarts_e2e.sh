#!/usr/bin/env bash
# launch/train.sh --max-restarts on one machine, with the real mpirun and real processes:
#  1. kill -9 of rank 1 in the middle of an epoch with --max-restarts 2: one restart line naming
#     rank 1, its checkpoint and attempt 1 of 2; the job finishes (exit 0) with metrics lines and
#     parameters equal to an uninterrupted job's (exact resume), its metrics.jsonl holding one
#     "restart" line at the step resumed from, no step line twice; launch/runs.sh counts it.
#  2. A rank that stops answering (SIGSTOP) with dist.timeout_s 3: the job ends with status 69, is
#     restarted and finishes.
#  3. A configuration error with --max-restarts 5: one error, exit 1, no restart.
#  4. A rank that dies at start-up every time: one restart, then one line giving up (no
#     checkpoint between two failures), exit 137.
#  5. A stop signal to train.sh with --max-restarts: exit 75, no restart.
# Usage: restarts_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck disable=SC2046  # pid lists are split on purpose
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 2048 128
# 2048 images, 64 per rank and step: 16 steps per epoch on 2 ranks.
common=("$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0 --train.epochs 2
        --log.every_steps 1 --optim.schedule cosine)
train() { timeout 240 "$src/launch/train.sh" -n 2 "$@" "${common[@]}"; }
# shellcheck disable=SC2012  # step files have plain names
final_crc() { "$tools/checkpoint-crc" "$(ls "$1"/checkpoints/step-*.pt | sort | tail -n 1)"; }
# rank_pid RUN_DIR RANK: the pid of that rank of the run.
rank_pid() {
  local p
  for p in $(ranks_of "$1"); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"; return
    fi
  done
}

# --- 1. kill -9 of a rank: restarted from the last checkpoint, exactly --------------------------
train --run-dir "$work/straight" > "$work/straight.log" 2>&1 || fail "straight run failed"
# A checkpoint every 2 steps, each held 100 ms (test-only delay): the run is still going when the
# rank is killed; checkpoints do not change the training.
VIT_TRAIN_BIN=$faulty_vit_train VIT_TEST_CHECKPOINT_DELAY_MS=100 \
  train --max-restarts 2 --restart-wait 0.2 --run-dir "$work/killed" --checkpoint.every_steps 2 \
  > "$work/killed.log" 2>&1 &
job=$!
wait_for "$work/killed.log" ' step 21 '  # in the second epoch, after the checkpoint of step 20
victim=$(rank_pid "$work/killed" 1)
[ -n "$victim" ] || fail "rank 1 not found"
kill -9 "$victim"
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 0 ] || { tail -30 "$work/killed.log"; fail "the restarted job exited $rc, not 0"; }
grep -Eq '^train\.sh: restart 1 of 2 in 0\.2 s after rank 1 on [^ ]+ exited on signal 9 \(Killed\) \(exit 137\): .*/killed goes on from step-[0-9]{8}\.pt \(step (2[0-9]|3[01])\) on 2 rank\(s\)$' \
  "$work/killed.log" || { grep -n 'restart\|error' "$work/killed.log"; fail "no restart line naming rank 1 and the checkpoint"; }
[ "$(grep -c '^train\.sh: restart' "$work/killed.log")" -eq 1 ] || fail "not one restart"
grep -q 'restart 1 of 2 after rank 1 on .* exited on signal 9 (Killed) (exit 137): training goes on from step' \
  "$work/killed/train.log" || fail "train.log does not record the restart"
# One restart line in metrics.jsonl, at the step the log says it resumed from, in epoch 2.
resumed=$(sed -n 's/.*goes on from step-[0-9]* *.pt (step \([0-9]*\)).*/\1/p' "$work/killed.log")
grep -q "^{\"event\":\"restart\",\"step\":$resumed,\"epoch\":2,\"attempt\":1,\"max_restarts\":2,\"world_size\":2,\"cause\":\"rank 1 on [^\"]* exited on signal 9 (Killed) (exit 137)\"}$" \
  "$work/killed/metrics.jsonl" || { grep restart "$work/killed/metrics.jsonl"; fail "no restart line at step $resumed"; }
check_metrics "$work/killed/metrics.jsonl" --world 2 --epochs 2
# Everything but the restart line equals the uninterrupted job, and so the final parameters.
diff <(strip "$work/straight/metrics.jsonl") <(grep -v '"event":"restart"' "$work/killed/metrics.jsonl" | strip /dev/stdin) \
  || fail "restarted, the job trained differently from an uninterrupted one"
[ "$(final_crc "$work/straight")" = "$(final_crc "$work/killed")" ] \
  || fail "final parameters differ from the uninterrupted job's"
# launch/runs.sh counts the restart.
"$src/launch/runs.sh" "$work/killed" | grep -q "^$work/killed  *done, 1 restart  " \
  || { "$src/launch/runs.sh" "$work/killed"; fail "runs.sh does not show the restart"; }
echo "restarts: kill -9 of rank 1 at step 21+: restarted from step $resumed, finished as an uninterrupted job; ok"

# --- 2. a rank that stops answering: status 69, restarted ---------------------------------------
VIT_TRAIN_BIN=$faulty_vit_train VIT_TEST_CHECKPOINT_DELAY_MS=100 \
  train --max-restarts 1 --restart-wait 0.2 --run-dir "$work/hung" --checkpoint.every_steps 2 \
  --dist.timeout_s 3 > "$work/hung.log" 2>&1 &
job=$!
wait_for "$work/hung.log" ' step 5 '
victim=$(rank_pid "$work/hung" 1)
[ -n "$victim" ] || fail "rank 1 of the hung run not found"
kill -STOP "$victim"
set +e; wait "$job"; rc=$?; set -e; job=""
kill -KILL "$victim" 2>/dev/null || true
[ "$rc" -eq 0 ] || { tail -30 "$work/hung.log"; fail "the hung job, restarted, exited $rc"; }
grep -Eq "^train\.sh: restart 1 of 1 in 0\.2 s after rank 0: .* did not finish within dist\.timeout_s = 3 s: rank 1 \(pid $victim .*\(exit 69\): " \
  "$work/hung.log" || { grep -n 'restart\|error' "$work/hung.log"; fail "no restart after the timeout"; }
grep -q '"epoch":2,"step":32,' "$work/hung/metrics.jsonl" || fail "the hung job did not finish"
check_metrics "$work/hung/metrics.jsonl" --world 2 --epochs 2
echo "restarts: a stopped rank (exit 69) restarted; ok"

# --- 3. a configuration error is not restarted ---------------------------------------------------
set +e
train --max-restarts 5 --run-dir "$work/bad" --train.batch_size 0 > "$work/bad.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$work/bad.log"; fail "a configuration error exited $rc, not 1"; }
[ "$(grep -c '^error:' "$work/bad.log")" -eq 1 ] || { cat "$work/bad.log"; fail "not one error line"; }
grep -q 'train.batch_size' "$work/bad.log" || fail "the error does not name the key"
! grep -q 'restart [0-9]' "$work/bad.log" || fail "a configuration error was restarted"
echo "restarts: a configuration error: exit 1, no restart; ok"

# --- 4. a rank that dies at start-up every time ---------------------------------------------------
cat > "$work/dies" <<EOS
#!/bin/sh
[ "\$OMPI_COMM_WORLD_RANK" = 1 ] && kill -9 \$\$
exec "$vit_train" "\$@"
EOS
chmod +x "$work/dies"
set +e
VIT_TRAIN_BIN=$work/dies train --max-restarts 3 --restart-wait 0.2 --run-dir "$work/dies-run" \
  > "$work/dies.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 137 ] || { cat "$work/dies.log"; fail "a rank dying at start-up: exit $rc, not 137"; }
[ "$(grep -c '^train\.sh: restart' "$work/dies.log")" -eq 1 ] || { cat "$work/dies.log"; fail "not one restart"; }
# (mpirun names the rank only when it had started: a rank killed before that, as here, is named
# in most runs, but about one in fifteen mpirun says only that a process failed; the cause is
# then the status's.)
grep -Eq '^error: train\.sh: giving up: attempt 2 failed before writing a checkpoint, as restart 1.s did not help: (rank 1 on .* exited on signal 9 \(Killed\)|a rank was killed by signal 9) \(exit 137\); the last checkpoint: no checkpoint yet' \
  "$work/dies.log" || { cat "$work/dies.log"; fail "no line giving up"; }
[ "$(grep -c 'giving up' "$work/dies.log")" -eq 1 ] || fail "not one line giving up"
echo "restarts: a rank that dies at start-up: gave up after one restart; ok"

# --- 5. a stop is not restarted ------------------------------------------------------------------
VIT_TRAIN_BIN=$faulty_vit_train VIT_TEST_CHECKPOINT_DELAY_MS=100 \
  train --max-restarts 3 --run-dir "$work/stopped" --checkpoint.every_steps 2 \
  > "$work/stopped.log" 2>&1 &
job=$!
wait_for "$work/stopped.log" ' step 5 '
kill -TERM $(pgrep -P "$job")  # train.sh, not timeout
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 75 ] || { tail "$work/stopped.log"; fail "stopped with --max-restarts: exit $rc, not 75"; }
! grep -q '^train\.sh: restart' "$work/stopped.log" || fail "a stop was restarted"
echo "restarts: SIGTERM to train.sh: exit 75, no restart; ok"
