#!/usr/bin/env bash
# bench/gpu-compare.sh --dry-run: the GPU benchmark's harness on the CPU (a GPU machine's time is
# short; the script must work the first time there): every program runs (vit-train, the reference
# eager and compiled, through its --compile-mode option; vit-train without the CUDA graph and in
# bf16), runs.tsv and summary.md are complete. A compiled reference that fails is retried in a
# folder of its own; --budget skips the runs that no longer fit, least important last; a run that
# times out is marked and makes the exit status 1.
# Usage: gpu_compare_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (PYTHON: a python with torch 2.x)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 1024 256
export PYTHON=${PYTHON:?PYTHON must name a python with torch}
# The first compiled run is made to fail (an unknown mode): the retry with mode "default" counts.
VIT_GPU_COMPARE_COMPILE_MODE=no-such-mode \
  "$src/bench/gpu-compare.sh" "$work/out" --dry-run --data "$work/data" > "$work/log" 2>&1 \
  || { tail -20 "$work/log"; fail "gpu-compare.sh --dry-run failed"; }
summary="$work/out/summary.md"
for model in seed small; do
  for program in vit-train vit-train-eager vit-train-bf16 torch-eager torch-compiled; do
    grep -Eq "^\| $model \| $program \| [0-9]+ \| not reached \| 0\.[0-9]+ \| 1 \| n/a \| ok \|$" "$summary" \
      || { cat "$summary"; fail "no good row for $model / $program"; }
  done
  grep -Eq "^\| $model \| torch-compiled \| n/a \| not reached \| n/a \| 0 \| n/a \| failed\([0-9]+\) \|$" "$summary" \
    || { cat "$summary"; fail "no failed first compiled row for $model"; }
  grep -q 'invalid choice' "$work/out/$model-torch-compiled.log" || fail "the first compiled run did not fail as made to"
  [ -s "$work/out/$model-torch-compiled-default/metrics.jsonl" ] || fail "the retry did not run in a folder of its own"
  grep -Eq "^- $model: vit-train / torch-compiled: [0-9.]+x images/s$" "$summary" \
    || { cat "$summary"; fail "no ratio for $model"; }
done
grep -q '^# gpu-compare (dry run' "$summary" || fail "the summary does not say it is a dry run"
[ "$(tail -n +2 "$work/out/runs.tsv" | wc -l)" -eq 12 ] || fail "not 12 rows in runs.tsv"

# A budget too short for everything: the runs that ran are the most important ones (a prefix of
# the order of importance), the rest skipped, exit 0. A run starts only with 30 s of the budget
# left: with 34, the first starts after a setup of under 4 s, and every later one is skipped.
"$src/bench/gpu-compare.sh" "$work/budget" --dry-run --budget 34 --data "$work/data" \
  > "$work/budget.log" 2>&1 || { tail -20 "$work/budget.log"; fail "--budget 34 failed"; }
rows="$work/budget/runs.tsv"
[ "$(tail -n +2 "$rows" | wc -l)" -eq 10 ] || { cat "$rows"; fail "--budget: not 10 rows"; }
order="seed vit-train|seed torch-eager|small vit-train|small torch-eager|seed vit-train-eager|seed vit-train-bf16|small vit-train-eager|small vit-train-bf16|seed torch-compiled|small torch-compiled"
[ "$(tail -n +2 "$rows" | cut -f1,2 | tr '\t' ' ' | paste -sd'|')" = "$order" ] \
  || { cat "$rows"; fail "--budget: not in the order of importance"; }
tail -n +2 "$rows" | cut -f8 | sed 's/^skipped (.*/skipped/' | uniq | paste -sd' ' \
  | grep -Eq '^(ok )?skipped$' || { cat "$rows"; fail "--budget 34: not the first run (or none) then skipped"; }

# Runs that time out: marked, summary written, exit 1 with one line.
set +e
VIT_GPU_COMPARE_TIMEOUT=1 "$src/bench/gpu-compare.sh" "$work/slow" --dry-run --data "$work/data" \
  > "$work/slow.log" 2> "$work/slow.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "runs that timed out: exit $rc, not 1"
grep -q $'\ttimed out after 1 s$' "$work/slow/runs.tsv" || { cat "$work/slow/runs.tsv"; fail "no timed-out row"; }
[ -s "$work/slow/summary.md" ] || fail "no summary after time-outs"
grep -q '^error: gpu-compare: [0-9]* run(s) failed or timed out' "$work/slow.err" || { cat "$work/slow.err"; fail "no error line"; }
echo "gpu-compare --dry-run: 12 runs, summary complete; budget and time-outs handled; ok"
