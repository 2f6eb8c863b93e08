#!/usr/bin/env bash
# A rank that dies (kill -9 of rank 1 in the middle of training) ends the whole 2-rank job with
# exit status 137 and a message naming the rank within a minute; no rank is left waiting in a
# collective.
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
# mpirun's status for a rank killed by signal 9 (128 + 9), and its line naming rank 1 and the
# signal (the start-up table's "| rank 1 |" row must not count as that message).
[ "$rc" -eq 137 ] || { tail -20 "$work/out.txt"; fail "job exited $rc after rank 1 was killed, not 137"; }
grep -Eq 'process rank 1 .*exited on signal 9' "$work/out.txt" \
  || { tail -20 "$work/out.txt"; fail "no message naming rank 1 and signal 9"; }
if pgrep -f -- "--run-dir $work/run" >/dev/null; then fail "a rank outlived the job"; fi
echo "e2e rank death: job ended with status $rc ${elapsed} s after rank 1 was killed; ok"
