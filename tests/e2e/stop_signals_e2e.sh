#!/usr/bin/env bash
# Stop signals with the real programs on 2 ranks: each ends in a checkpoint and exit status 75.
#  1. SIGINT (Ctrl-C) to the ranks, like SIGTERM.
#  2. Two SIGTERMs 50 ms apart to the ranks: the second comes while they shut down after the
#     checkpoint, and must not kill them (status 143).
#  3. SIGTERM to launch/train.sh itself (kill, a batch system), and SIGINT to its process group
#     (Ctrl-C on a terminal): passed on to the ranks, and train.sh exits 75 too; also when the
#     signal comes while mpirun is still starting the ranks (it is sent again until they stop).
#  4. One rank without mpirun: SIGTERM during start-up (before the start-up table) also ends in
#     75, with nothing written; and a closed output pipe (`vit-train ... | head -c 1`) does not
#     kill the run (SIGPIPE), which trains to its end.
# Usage: stop_signals_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck disable=SC2046  # pid lists are split on purpose
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 2048 128
# start NAME: launch/train.sh -n 2 in the background, with more epochs than the test lets it
# train; returns once it has done 5 steps. `timeout` (job) makes it a process group of its own
# (and gives it the default SIGINT that a background job of a script lacks).
start() {
  timeout 60 "$src/launch/train.sh" -n 2 "$src/configs/smoke.ini" --data.dir "$work/data" \
    --data.train_limit 0 --train.epochs 1000 --log.every_steps 1 --run-dir "$work/$1" \
    > "$work/$1.log" 2>&1 &
  job=$!
  wait_for "$work/$1.log" ' step 5 '
}
# stopped NAME SIGNAL_NUMBER: the job ends with 75, the ranks having logged the stop by that
# signal, and LATEST names a checkpoint that is there.
stopped() {
  local rc=0
  wait "$job" || rc=$?
  job=""
  [ "$rc" -eq 75 ] || { tail "$work/$1.log"; fail "$1: exit status $rc, not 75"; }
  grep -q "stopped by SIG[A-Z0-9]* (signal $2) at step" "$work/$1.log" \
    || { tail "$work/$1.log"; fail "$1: no stop by signal $2"; }
  # Said once (rank 0), whichever rank the signal reached.
  [ "$(grep -c 'stopped by ' "$work/$1.log")" -eq 1 ] || { tail "$work/$1.log"; fail "$1: the stop said twice"; }
  [ -f "$work/$1/checkpoints/$(cat "$work/$1/checkpoints/LATEST")" ] || fail "$1: no checkpoint"
  echo "$1: ok ($(cat "$work/$1/checkpoints/LATEST"))"
}

start sigint
kill -INT $(ranks_of "$work/sigint")
stopped sigint 2

start twice
kill -TERM $(ranks_of "$work/twice")
sleep 0.05
kill -TERM $(ranks_of "$work/twice") 2>/dev/null || true  # unless they have ended already
stopped twice 15

# launch/train.sh passes the signal on as SIGUSR1 (10).
start launcher
kill -TERM $(pgrep -P "$job")  # train.sh, not timeout
stopped launcher 10
grep -q '^train.sh: SIGTERM: ' "$work/launcher.log" || fail "train.sh did not say what it did"

start ctrl-c
kill -INT -- "-$job"
stopped ctrl-c 10
# A stop is no failure: no Open MPI box about the status, no "Forwarding signal" lines (the
# Ctrl-C reached launch/mpirun-filter.awk too, which must not have died of it).
for log in launcher ctrl-c; do
  if grep -Eq -- '^-{20,}$|^mpirun: Forwarding signal' "$work/$log.log"; then
    cat "$work/$log.log"; fail "$log: mpirun's messages after a stop"
  fi
done

# While mpirun starts: the run must not go on to its end (status 0).
timeout 60 "$src/launch/train.sh" -n 2 "$src/configs/smoke.ini" --data.dir "$work/data" \
  --data.train_limit 0 --train.epochs 20 --run-dir "$work/early" > "$work/early.log" 2>&1 &
job=$!
for _ in $(seq 100); do launcher=$(pgrep -P "$job") && pgrep -x -P "$launcher" mpirun > /dev/null \
  && break; sleep 0.05; done  # train.sh has set its traps once it has started mpirun
kill -TERM "$launcher"
rc=0
wait "$job" || rc=$?
job=""
[ "$rc" -eq 75 ] || { tail "$work/early.log"; fail "early: exit status $rc, not 75"; }
echo "early: ok"

# An mpirun that the SIGUSR1 kills at once (one still starting): train.sh's wait, cut short by its
# trap, returned 143 and the script ended with it; the stop must still give 75. A stand-in mpirun
# makes the timing certain (it dies of the first SIGUSR1, as mpirun does before its handlers).
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec sleep 30\n' > "$work/bin/mpirun"
chmod +x "$work/bin/mpirun"
for try in 1 2 3 4 5; do
  PATH="$work/bin:$PATH" timeout 20 "$src/launch/train.sh" -n 1 "$src/configs/smoke.ini" \
    > "$work/dies.log" 2>&1 &
  job=$!
  for _ in $(seq 100); do launcher=$(pgrep -P "$job") && pgrep -x -P "$launcher" sleep > /dev/null \
    && break; sleep 0.05; done
  sleep 0.2  # train.sh waits for its "mpirun" by now
  kill -TERM "$launcher"
  rc=0
  wait "$job" || rc=$?
  job=""
  [ "$rc" -eq 75 ] || { cat "$work/dies.log"; fail "mpirun dying of the stop (try $try): exit status $rc, not 75"; }
done
echo "mpirun dies of the stop: ok"

# Start-up: SIGTERM as soon as the process catches it. Its handlers must be in place before the
# start-up work (data, resume), not only once training starts.
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$work/startup" \
  > "$work/startup.log" 2>&1 &
job=$!
caught=0
for _ in $(seq 500); do
  mask=$(sed -n 's/^SigCgt:\s*//p' "/proc/$job/status" 2>/dev/null || true)
  if [ -n "$mask" ] && (( (16#$mask >> 14) & 1 )); then caught=1; break; fi
  sleep 0.01
done
[ "$caught" -eq 1 ] || fail "startup: vit-train never caught SIGTERM"
grep -q 'start-up:' "$work/startup.log" && fail "startup: SIGTERM handled only after the start-up work"
kill -TERM "$job"
rc=0
wait "$job" || rc=$?
job=""
[ "$rc" -eq 75 ] || { tail "$work/startup.log"; fail "startup: exit status $rc, not 75"; }
grep -q 'stopped by SIGTERM (signal 15) during start-up, before the first step; nothing written' "$work/startup.log" \
  || { tail "$work/startup.log"; fail "startup: no start-up stop line"; }
[ ! -e "$work/startup/checkpoints/LATEST" ] || fail "startup: a checkpoint was written"
echo "startup: ok"

# A reader that goes away: the run goes on to its end.
set +o pipefail
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$work/pipe" \
  --train.epochs 1 --log.every_steps 1 2> "$work/pipe.err" | head -c 1 > /dev/null
rc=${PIPESTATUS[0]}
set -o pipefail
[ "$rc" -eq 0 ] || { tail "$work/pipe.err"; fail "closed pipe: exit status $rc, not 0"; }
[ -s "$work/pipe/checkpoints/final.pt" ] || fail "closed pipe: no final model"
grep -q 'final test accuracy' "$work/pipe/train.log" || fail "closed pipe: train.log incomplete"
echo "closed pipe: ok"
