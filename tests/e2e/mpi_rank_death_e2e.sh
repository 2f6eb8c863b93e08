#!/usr/bin/env bash
# A rank that dies (kill -9 of rank 1 in the middle of training) ends the whole 2-rank job with
# exit status 137 and a message naming the rank within a minute; no rank is left waiting in a
# collective. A rank that stops answering without dying (SIGSTOP: a hung host, a cut link) ends the
# job within dist.timeout_s through the MPI back end's watchdog: rank 0's error line, exit 69 (a
# failure launch/train.sh --max-restarts restarts).
# Usage: mpi_rank_death_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 512 128
"$src/launch/train.sh" -n 2 "$src/configs/smoke.ini" --data.dir "$work/data" \
  --run-dir "$work/run" --train.epochs 100000 --log.every_steps 1 > "$work/out.txt" 2>&1 &
job=$!

# Wait until training runs (rank 0 has logged steps), then find rank 1 by its MPI environment.
for _ in $(seq 120); do
  grep -q ' step 3 ' "$work/out.txt" 2>/dev/null && break
  sleep 0.5
done
grep -q ' step 3 ' "$work/out.txt" || { cat "$work/out.txt"; fail "training did not start"; }
victim=""
for pid in $(pgrep -f -- "--run-dir $work/run"); do
  if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then
    victim=$pid
  fi
done
[ -n "$victim" ] || fail "rank 1 not found"
kill -9 "$victim"
killed_at=$SECONDS

for _ in $(seq 60); do
  kill -0 "$job" 2>/dev/null || break
  sleep 1
done
if kill -0 "$job" 2>/dev/null; then
  fail "job still running 60 s after rank 1 died (a hang)"
fi
set +e
wait "$job"
rc=$?
set -e
job=""
elapsed=$((SECONDS - killed_at))
# mpirun's status for a rank killed by signal 9 (128 + 9), and one line naming rank 1, its machine
# and the signal, made by launch/mpirun-filter.awk from mpirun's box, which is gone.
[ "$rc" -eq 137 ] || { tail -20 "$work/out.txt"; fail "job exited $rc after rank 1 was killed, not 137"; }
grep -Eq '^error: rank 1 on [^ ]+ exited on signal 9 \(Killed\)$' "$work/out.txt" \
  || { tail -20 "$work/out.txt"; fail "no line naming rank 1 and signal 9"; }
if grep -q -- '^-----------' "$work/out.txt"; then tail -20 "$work/out.txt"; fail "an Open MPI box"; fi
if pgrep -f -- "--run-dir $work/run" >/dev/null; then fail "a rank outlived the job"; fi

echo "e2e rank death: job ended with status $rc ${elapsed} s after rank 1 was killed; ok"

# --- rank 1 stops answering (SIGSTOP): the watchdog of the CPU back end ends the job -----------
"$src/launch/train.sh" -n 2 "$src/configs/smoke.ini" --data.dir "$work/data" \
  --run-dir "$work/hung" --train.epochs 100000 --log.every_steps 1 --dist.timeout_s 3 \
  > "$work/hung.txt" 2>&1 &
job=$!
wait_for "$work/hung.txt" ' step 3 '
victim=""
for pid in $(ranks_of "$work/hung"); do
  tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$pid
done
[ -n "$victim" ] || fail "rank 1 of the hung run not found"
kill -STOP "$victim"
stopped_at=$SECONDS
for _ in $(seq 60); do kill -0 "$job" 2>/dev/null || break; sleep 1; done
kill -0 "$job" 2>/dev/null && fail "job still running 60 s after rank 1 stopped answering (a hang)"
set +e; wait "$job"; rc=$?; set -e; job=""
kill -KILL "$victim" 2>/dev/null || true
[ "$rc" -eq 69 ] || { tail -20 "$work/hung.txt"; fail "hung rank: exit $rc, not 69"; }
grep -Eq '^error: rank 0: .* did not finish within dist.timeout_s = 3 s' "$work/hung.txt" \
  || { tail -20 "$work/hung.txt"; fail "hung rank: no watchdog line from rank 0"; }
# ... naming the stopped rank, found by asking each rank outside MPI (parallel/peer_probe)
grep -Eq "^error: rank 0: .*rank 1 \(pid $victim on [^)]*\) does not answer \(the process is stopped" \
  "$work/hung.txt" || { tail -20 "$work/hung.txt"; fail "hung rank: the error does not name rank 1"; }
grep -Eq "\[warning\] rank 0: .* has waited 1.5 s: rank 1 \(pid $victim " "$work/hung.txt" \
  || { tail -20 "$work/hung.txt"; fail "hung rank: no early warning naming rank 1"; }
echo "e2e hung rank: job ended with status $rc $((SECONDS - stopped_at)) s after rank 1 stopped"
