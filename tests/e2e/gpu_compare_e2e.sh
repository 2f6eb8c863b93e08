#!/usr/bin/env bash
# bench/gpu-compare.sh --dry-run: the GPU benchmark's harness on the CPU (a GPU machine's time is
# short; the script must work the first time there): every program runs (vit-train, the reference
# eager and compiled, through its --compile-mode option; vit-train without the CUDA graph and in
# bf16), runs.tsv and summary.md are complete.
# Usage: gpu_compare_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (PYTHON: a python with torch 2.x)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 1024 256
PYTHON=${PYTHON:?PYTHON must name a python with torch} \
  "$src/bench/gpu-compare.sh" "$work/out" --dry-run --data "$work/data" > "$work/log" 2>&1 \
  || { tail -20 "$work/log"; fail "gpu-compare.sh --dry-run failed"; }
summary="$work/out/summary.md"
for model in seed small; do
  for program in vit-train vit-train-eager vit-train-bf16 torch-eager torch-compiled; do
    grep -Eq "^\| $model \| $program \| [0-9]+ \| not reached \| 0\.[0-9]+ \| 1 \| n/a \| ok \|$" "$summary" \
      || { cat "$summary"; fail "no good row for $model / $program"; }
  done
  grep -Eq "^- $model: vit-train / torch-compiled: [0-9.]+x images/s$" "$summary" \
    || { cat "$summary"; fail "no ratio for $model"; }
done
grep -q '^# gpu-compare (dry run' "$summary" || fail "the summary does not say it is a dry run"
echo "gpu-compare --dry-run: 10 runs, summary complete; ok"
