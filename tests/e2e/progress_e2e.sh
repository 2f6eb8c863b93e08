#!/usr/bin/env bash
# End-to-end: progress output. On a terminal (the real vit-train under `script`, which gives it a
# pseudo-terminal) rank 0 draws a live bar; into a file or pipe it writes plain periodic lines
# with no carriage return, also under mpirun (whose ranks get a pseudo-terminal whatever the
# job's output is) and through launch/train.sh, which tells the ranks what its stdout is.
# Usage: progress_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v script > /dev/null || fail "script (util-linux) not found"
"$make_data" "$work/data" 512 128
args=(--config "$src/configs/smoke.ini" --data.dir "$work/data" --log.every_steps 2)
erase=$'\r\033[K'

# A terminal: the bar (epoch, done/total, percent, ETA, loss, images/s), redrawn in place.
script -qec "$(printf '%q ' "$vit_train" "${args[@]}" --run-dir "$work/tty")" "$work/tty.txt" \
  > /dev/null || { cat "$work/tty.txt"; fail "run under a terminal failed"; }
grep -qF "$erase" "$work/tty.txt" || fail "no bar redrawn in place on a terminal"
grep -aq 'epoch 1/2 \[.*\] [0-9]*/8 .*% ETA [0-9?:]* loss [0-9.]* [0-9]* img/s' "$work/tty.txt" \
  || { cat -v "$work/tty.txt" | head -n 40; fail "bar lacks done/total, ETA, loss or img/s"; }
grep -aq 'epoch 2/2 \[========' "$work/tty.txt" || fail "no full bar for epoch 2"
! grep -q $'\r' "$work/tty/train.log" || fail "carriage returns in train.log"
# ... and it holds the periodic step lines instead (a log without them would pass the line above).
[ "$(grep -c ' step [0-9]* ([0-9]*/8, [0-9]*%, ETA [0-9?:]*) loss' "$work/tty/train.log")" -eq 8 ] \
  || { cat "$work/tty/train.log"; fail "train.log of a terminal run lacks its 8 step lines"; }
grep -q 'final test accuracy' "$work/tty.txt" || fail "log lines lost around the bar"

# Not a terminal: periodic lines only, with where the epoch stands and its ETA.
"$vit_train" "${args[@]}" --run-dir "$work/plain" > "$work/plain.txt" 2>&1 || fail "plain run failed"
! grep -q $'\r' "$work/plain.txt" || fail "carriage returns in plain output"
[ "$(grep -c 'step [0-9]* ([0-9]*/8, [0-9]*%, ETA [0-9?:]*) loss' "$work/plain.txt")" -eq 8 ] \
  || { cat "$work/plain.txt"; fail "not 8 periodic step lines with position and ETA"; }

# log.progress=bar forces the bar; lines forbids it even on a terminal.
script -qec "$(printf '%q ' "$vit_train" "${args[@]}" --run-dir "$work/tty-lines" \
  --log.progress lines)" "$work/tty-lines.txt" > /dev/null || fail "lines run failed"
! grep -qF "$erase" "$work/tty-lines.txt" || fail "a bar despite log.progress=lines"

# mpirun straight into a file: the ranks see a pseudo-terminal, but no bar may reach the file.
mpirun -n 2 --oversubscribe --bind-to none --allow-run-as-root "$vit_train" "${args[@]}" \
  --run-dir "$work/mpi" > "$work/mpi.txt" 2>&1 || { cat "$work/mpi.txt"; fail "mpirun run failed"; }
! grep -q $'\r' "$work/mpi.txt" || fail "carriage returns in the output of mpirun into a file"
[ "$(grep -c ' step [0-9]* ([0-9]*/4, [0-9]*%, ETA [0-9?:]*) loss' "$work/mpi.txt")" -eq 4 ] \
  || { cat "$work/mpi.txt"; fail "mpirun into a file: not its 4 periodic step lines"; }
# launch/train.sh on a terminal: the bar, drawn by rank 0 alone.
script -qec "$(printf '%q ' "$src/launch/train.sh" -n 2 "$src/configs/smoke.ini" \
  --data.dir "$work/data" --log.every_steps 2 --run-dir "$work/mpi-tty")" "$work/mpi-tty.txt" \
  > /dev/null || { cat "$work/mpi-tty.txt"; fail "train.sh under a terminal failed"; }
grep -aq 'epoch 1/2 \[.*\] [0-9]*/4 ' "$work/mpi-tty.txt" || fail "no bar through launch/train.sh"
echo "e2e progress: ok"
