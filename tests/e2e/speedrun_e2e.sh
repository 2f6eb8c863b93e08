#!/usr/bin/env bash
# bench/speedrun.sh on a synthetic set: two seeds of a short recipe that scores the test set every
# 4 steps, on 2 ranks (96 steps in all); with PYTHON (a python with torch) the reference runs the same recipe. Every
# run gets a row with a time to the (low) target read from its eval lines, and the medians.
# Usage: speedrun_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 1024 256
args=("$src/configs/smoke.ini" -s 2 --target 0.3 -o "$work/out" --data.dir "$work/data"
      --data.train_limit 0 --train.epochs 3 --train.batch_size 16 --train.eval_every_steps 4)
if [ -n "${PYTHON:-}" ]; then impls="ours ref"; else impls=ours; args+=(--no-reference); fi
VIT_TRAIN_BIN=$vit_train "$src/bench/speedrun.sh" "${args[@]}" > "$work/table" 2> "$work/log" \
  || { tail -20 "$work/log"; fail "speedrun.sh failed"; }
for impl in $impls; do
  for seed in 1 2; do
    grep -q '"event": *"eval", *"step": *4,' "$work/out/$impl-seed$seed/metrics.jsonl" \
      || fail "$impl seed $seed: no eval line at step 4"
    awk -F'\t' -v i="$impl" -v s="$seed" '$1 == i && $2 == s && $3 + 0 > 0 && $4 % 4 == 0 && $5 > 0 { ok = 1 }
      END { exit !ok }' "$work/out/runs.tsv" || { cat "$work/out/runs.tsv"; fail "$impl seed $seed: no timed row"; }
  done
done
grep -Eq '^vit-train: median [0-9.]+ s, worst [0-9.]+ s$' "$work/table" || { cat "$work/table"; fail "no median"; }
if [ -n "${PYTHON:-}" ]; then
  grep -Eq '^ours/reference \(medians\): [0-9.]+x$' "$work/table" || { cat "$work/table"; fail "no ratio"; }
fi
echo "speedrun: $(grep -c . "$work/out/runs.tsv") rows; ok"
