#!/usr/bin/env bash
# launch/gpu-check.sh --dry-run on a machine without a GPU, against this CUDA build (VIT_GPU_BUILD)
# and the PyTorch it was configured with (PYTHON): every step before the first GPU step passes,
# and the check stops at one clear "no GPU" line with exit 2, its summary saying so. Without
# --dry-run it stops there at once, before configuring. Skipped (77) where a GPU is visible: there
# the check itself is what runs. Registered only for CUDA builds.
# Usage: gpu_check_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -n "${VIT_GPU_BUILD:-}" ] && [ -x "${PYTHON:-}" ] || fail "VIT_GPU_BUILD and PYTHON must be set"
if [ "$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null)" != 0 ]; then
  echo "a GPU is visible: run launch/gpu-check.sh itself"
  exit 77
fi

set +e
"$src/launch/gpu-check.sh" "$work/check" --dry-run > "$work/out.txt" 2> "$work/err.txt"
rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$work/out.txt" "$work/err.txt"; fail "dry run: exit $rc, not 2"; }
[ "$(cat "$work/err.txt")" = "error: gpu-check: $(tail -n 1 "$work/check/summary.md" | sed 's/^stopped after [0-9]* s: //')" ] \
  || { cat "$work/err.txt"; fail "stderr is not the summary's last line"; }
grep -q '^error: gpu-check: no GPU: torch .* sees no CUDA device' "$work/err.txt" \
  || { cat "$work/err.txt"; fail "no clear 'no GPU' line"; }
for step in env configure build cpu-1; do
  grep -q "^- $step: ok" "$work/check/summary.md" \
    || { cat "$work/check/summary.md"; fail "step $step did not pass"; }
done
grep -q '^- cpu-1: ok .* test accuracy 0\.[0-9]' "$work/check/summary.md" || fail "no CPU accuracy"
[ -s "$work/check/runs/cpu-1/metrics.jsonl" ] || fail "no metrics of the CPU run in the folder"
! grep -q 'gpu-tests\|FAILED' "$work/check/summary.md" || fail "went past the no-GPU stop"

# Without --dry-run: the same line at once, nothing configured.
set +e
"$src/launch/gpu-check.sh" "$work/fast" > /dev/null 2> "$work/fast.err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "without --dry-run: exit $rc, not 2"
grep -q '^error: gpu-check: no GPU' "$work/fast.err" || fail "without --dry-run: $(cat "$work/fast.err")"
[ ! -e "$work/fast/configure.log" ] || fail "without --dry-run: configured before stopping"
# Bad arguments: one line, exit 1.
set +e
"$src/launch/gpu-check.sh" > /dev/null 2> "$work/usage.err"
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q '^usage: launch/gpu-check.sh OUT_DIR' "$work/usage.err" || fail "no usage line"
echo "e2e gpu-check dry run: ok"
