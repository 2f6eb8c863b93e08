#!/usr/bin/env bash
# launch/gpu-session.sh, the one call for a lent GPU, on a machine without one, against this CUDA
# build (VIT_GPU_BUILD) and the PyTorch it was configured with (PYTHON): every step that needs no
# GPU passes (environment, configure, build, the CPU reference run of launch/gpu-check.sh) and the
# session ends at one clear "no GPU" line with exit 2, leaving OUT_DIR flat: summary.md (saying
# all that) and logs.tgz (logs and metrics, no checkpoints). Also: gpu-check alone stops at once
# without --dry-run, a signal still leaves its summary's last line, a deadline too short for the
# check runs nothing, the GPU tests' time-outs fit the lease. Skipped (77) where a GPU is visible.
# Usage: gpu_session_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -n "${VIT_GPU_BUILD:-}" ] && [ -x "${PYTHON:-}" ] || fail "VIT_GPU_BUILD and PYTHON must be set"
if [ "$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null)" != 0 ]; then
  echo "a GPU is visible: run launch/gpu-session.sh itself"
  exit 77
fi

# --- the session -------------------------------------------------------------------------------
set +e
"$src/launch/gpu-session.sh" "$work/out" > "$work/out.txt" 2> "$work/err.txt"
rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$work/out.txt" "$work/err.txt"; fail "session: exit $rc, not 2"; }
[ "$(tail -n 1 "$work/err.txt")" != "" ] && tail -n 1 "$work/err.txt" \
  | grep -q '^error: gpu-session: no GPU: torch .* sees no CUDA device' \
  || { cat "$work/err.txt"; fail "the session does not end at a clear 'no GPU' line"; }
[ "$(cd "$work/out" && ls | tr '\n' ' ')" = "logs.tgz summary.md " ] \
  || fail "OUT_DIR holds $(ls "$work/out"), not summary.md and logs.tgz"
summary="$work/out/summary.md"
grep -q '^- env: ok .* libraries: system' "$summary" || { cat "$summary"; fail "no env verdict"; }
grep -q '^- check: every step before the first GPU step passed' "$summary" || { cat "$summary"; fail "no check verdict"; }
grep -q '^- compare: not run (needs a GPU)' "$summary" || { cat "$summary"; fail "no compare verdict"; }
grep -q '^- speedrun: not run (needs a GPU)' "$summary" || { cat "$summary"; fail "no speedrun verdict"; }
grep -q '^\*\*Ended at: no GPU' "$summary" || { cat "$summary"; fail "the summary does not end at 'no GPU'"; }
for step in env configure build cpu-1; do
  grep -q "^- $step: ok" "$summary" || { cat "$summary"; fail "check step $step did not pass"; }
done
grep -q '^- cpu-1: ok .* test accuracy 0\.[0-9]' "$summary" || fail "no CPU accuracy"
! grep -q 'gpu-tests\|FAILED' "$summary" || fail "went past the no-GPU stop"
tar tzf "$work/out/logs.tgz" > "$work/files.txt"
grep -q 'check/runs/cpu-1/metrics.jsonl$' "$work/files.txt" || fail "logs.tgz lacks the CPU run's metrics"
grep -q 'check/cpu-1.log$' "$work/files.txt" || fail "logs.tgz lacks the step logs"
! grep -q '\.pt$' "$work/files.txt" || fail "logs.tgz holds checkpoints"

# --- a deadline too short for the check (under 60 s once 20 are kept for the files): nothing
# started, exit 1, still a summary
set +e
"$src/launch/gpu-session.sh" "$work/short" --deadline 70 > /dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "--deadline 70: exit $rc, not 1"
grep -q '^- check: not run -- [0-9]* s left of the deadline' "$work/short/summary.md" \
  || { cat "$work/short/summary.md"; fail "--deadline 70: no verdict"; }

# --- gpu-check alone -----------------------------------------------------------------------------
# Without --dry-run: the same line at once, nothing configured.
set +e
"$src/launch/gpu-check.sh" "$work/fast" > /dev/null 2> "$work/fast.err"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "gpu-check without --dry-run: exit $rc, not 2"
grep -q '^error: gpu-check: no GPU' "$work/fast.err" || fail "without --dry-run: $(cat "$work/fast.err")"
[ ! -e "$work/fast/configure.log" ] || fail "without --dry-run: configured before stopping"
# Stopped by a deadline's signal in the middle: the summary still says where. (3 s: the whole dry
# run took 7 s on a fast machine, where a deadline of 8 s came after its end.)
set +e
timeout 3 "$src/launch/gpu-check.sh" "$work/cut" --dry-run > /dev/null 2>&1
set -e
tail -n 1 "$work/cut/summary.md" | grep -Eq '^stopped after [0-9]+ s: stopped by a signal in step [a-z0-9-]+' \
  || { cat "$work/cut/summary.md"; fail "a signal left no last line in the summary"; }
# Bad arguments: one line, exit 1.
for script in launch/gpu-check.sh launch/gpu-session.sh; do
  set +e
  "$src/$script" > /dev/null 2> "$work/usage.err"
  rc=$?
  set -e
  [ "$rc" -eq 1 ] && grep -q "^usage: $script OUT_DIR" "$work/usage.err" || fail "$script: no usage line"
done

# --- the GPU tests' time-outs: a hang must not eat the lease ------------------------------------
ctest --test-dir "$VIT_GPU_BUILD" -L gpu --show-only=json-v1 > "$work/gpu-tests.json"
python3 - "$work/gpu-tests.json" <<'PY' || fail "a GPU test may run too long"
import json, sys
tests = json.load(open(sys.argv[1]))["tests"]
assert tests, "no GPU tests registered"
for t in tests:
    timeout = next((p["value"] for p in t.get("properties", []) if p["name"] == "TIMEOUT"), None)
    assert timeout is not None and float(timeout) <= 120, f"{t['name']}: TIMEOUT {timeout}"
print(f"{len(tests)} GPU tests, each stopped within 120 s")
PY
echo "e2e gpu-session dry run: ok"
