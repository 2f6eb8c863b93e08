#!/usr/bin/env bash
# End-to-end: launch/plot.sh draws a valid PNG of two real runs (PNG signature, IHDR size), a
# single run's default output lands in its run directory, and bad input is one clear error.
# Usage: plot_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 512 128
for seed in 1 2; do
  "$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --train.seed "$seed" \
    --run-dir "$work/run-$seed" > /dev/null 2>&1 || fail "training run $seed failed"
done

# is_png FILE WIDTH HEIGHT: the 8-byte signature, then an IHDR chunk with that width and height.
is_png() {
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$1: no PNG signature"
  [ "$(head -c 16 "$1" | tail -c 4)" = "IHDR" ] || fail "$1: no IHDR chunk first"
  local size
  size="$(head -c 24 "$1" | tail -c 8 | od -An -tu1 | awk '{ print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }')"
  [ "$size" = "$2 $3" ] || fail "$1: $size, expected $2 $3"
  [ "$(stat -c %s "$1")" -gt 10000 ] || fail "$1: only $(stat -c %s "$1") bytes"
}

out="$("$src/launch/plot.sh" -o "$work/compare.png" "$work/run-1" "$work/run-2")" || fail "plot.sh failed"
[ "$out" = "$work/compare.png" ] || fail "plot.sh printed '$out'"
is_png "$work/compare.png" 1800 1000
[ "$("$src/launch/plot.sh" "$work/run-1")" = "$work/run-1/plot.png" ] || fail "default output"
is_png "$work/run-1/plot.png" 1800 1000

set +e
"$src/launch/plot.sh" "$work/nowhere" > "$work/out" 2> "$work/err"; rc=$?
set -e
[ "$rc" -eq 1 ] && [ "$(wc -l < "$work/err")" -eq 1 ] && grep -q "^error: .*nowhere" "$work/err" \
  || { cat "$work/err"; fail "a missing run directory is not one clear error"; }
echo "e2e plot: ok"
