#!/usr/bin/env bash
# train.threads 0 follows the CPUs a rank really has (its affinity mask), with the real mpirun:
#  1. plain `mpirun -n 1` binds the rank to one core: 1 thread, and a warning with the fix;
#  2. `mpirun -n 1 --bind-to none`: every core of the machine, no warning;
#  3. launch/train.sh -n 2: each rank bound to its share, as many threads, no warning;
#  4. train.threads 2 on one pinned CPU (taskset): a warning that the threads take turns.
# Usage: threads_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc alone obeys OMP_NUM_THREADS
[ "$cores" -ge 2 ] || { echo "SKIP: needs 2 CPUs"; exit 77; }
"$make_data" "$work/data" 256 64
base=(--config "$src/configs/smoke.ini" --data.dir "$work/data" --train.epochs 1)
args=("${base[@]}" --train.threads 0)
root=()
[ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)
# threads_of LOG: the start-up table's thread count of rank 0.
threads_of() { sed -nE 's/^\| rank 0 .* ([0-9]+) thread\(s\).*/\1/p' "$1"; }

timeout 120 mpirun -n 1 --bind-to core "${root[@]}" "$vit_train" "${args[@]}" \
  --run-dir "$work/bound" > "$work/bound.log" 2>&1 || { tail "$work/bound.log"; fail "bound run failed"; }
[ "$(threads_of "$work/bound.log")" = 1 ] || { grep thread "$work/bound.log"; fail "bound: not 1 thread"; }
grep -q "\\[warning\\] rank 0: 1 CPU(s) of its own .* less than its share ($cores for 1 rank(s)).*--bind-to none" \
  "$work/bound.log" || { head -5 "$work/bound.log"; fail "bound: no warning with the fix"; }
echo "threads: plain mpirun -n 1 (bound to one core): 1 thread and the warning; ok"

timeout 120 mpirun -n 1 --bind-to none "${root[@]}" "$vit_train" "${args[@]}" \
  --run-dir "$work/free" > "$work/free.log" 2>&1 || { tail "$work/free.log"; fail "unbound run failed"; }
[ "$(threads_of "$work/free.log")" = "$cores" ] || { grep thread "$work/free.log"; fail "unbound: not $cores threads"; }
grep -q "\\[warning\\].*CPU(s) of its own" "$work/free.log" && fail "unbound: a warning"
echo "threads: mpirun --bind-to none: $cores threads, no warning; ok"

timeout 120 "$src/launch/train.sh" -n 2 "${args[@]:1}" --run-dir "$work/launch" > "$work/launch.log" 2>&1 \
  || { tail "$work/launch.log"; fail "train.sh run failed"; }
[ "$(threads_of "$work/launch.log")" = $((cores / 2)) ] || { grep thread "$work/launch.log"; fail "train.sh: not $((cores / 2)) threads"; }
grep -q "\\[warning\\].*CPU(s) of its own" "$work/launch.log" && fail "train.sh: a warning"
echo "threads: launch/train.sh -n 2: $((cores / 2)) thread(s) per rank, no warning; ok"

taskset -c 0 "$vit_train" "${base[@]}" --train.threads 2 --run-dir "$work/over" > "$work/over.log" 2>&1 \
  || { tail "$work/over.log"; fail "pinned run failed"; }
grep -q "\\[warning\\] rank 0: 2 threads (train.threads) on 1 CPU(s) of its own (affinity mask 0): the threads take turns" \
  "$work/over.log" || { head -5 "$work/over.log"; fail "pinned: no warning about the threads"; }
echo "threads: 2 threads on one pinned CPU: the warning; ok"
