#!/usr/bin/env bash
# End-to-end: files written by a GPU run load on a CPU build. A GPU run's checkpoints and final.pt
# record their tensors' device ("cuda:0"); the test makes such files from a CPU run's by rewriting
# that record (python3's zipfile), then: vit-eval scores the "GPU" final.pt exactly as the original,
# a run resumes from the "GPU" checkpoint and ends exactly as the straight run, and a truly damaged
# file still gets the "truncated or corrupt" message.
# Usage: gpu_files_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (vit-eval beside vit-train, or
# VIT_EVAL_BIN)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vit_eval=${VIT_EVAL_BIN:-$(dirname "$vit_train")/vit-eval}
[ -x "$vit_eval" ] || fail "$vit_eval is not built"

"$make_data" "$work/data" 1024 200
common=(--config "$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0
        --data.test_limit 0 --train.epochs 2 --checkpoint.every_steps 4)
"$vit_train" "${common[@]}" --run-dir "$work/run" > "$work/train.out" 2>&1 \
  || { cat "$work/train.out"; fail "training run exited non-zero"; }

# as_gpu IN OUT: IN with every tensor's recorded device "cpu" turned into "cuda:0".
as_gpu() {
  python3 - "$1" "$2" <<'EOF2' || fail "could not rewrite $1"
import sys, zipfile
cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
changed = 0
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        data = src.read(info)
        if info.filename.endswith(".pkl") and cpu in data:
            changed += data.count(cpu)
            data = data.replace(cpu, cuda)
        dst.writestr(info.filename, data)
sys.exit(0 if changed else f"no device record in {sys.argv[1]}")
EOF2
}

# vit-eval on the "GPU" final.pt: the same report as on the original.
as_gpu "$work/run/checkpoints/final.pt" "$work/gpu-final.pt"
"$vit_eval" --checkpoint "$work/run/checkpoints/final.pt" --data.dir "$work/data" --json \
  > "$work/cpu.json" 2> "$work/cpu.err" || { cat "$work/cpu.err"; fail "vit-eval on final.pt"; }
"$vit_eval" --checkpoint "$work/gpu-final.pt" --data.dir "$work/data" --json \
  > "$work/gpu.json" 2> "$work/gpu.err" || { cat "$work/gpu.err"; fail "vit-eval on a GPU-written final.pt"; }
python3 - "$work/cpu.json" "$work/gpu.json" <<'EOF2' || fail "GPU-written final.pt scores differently"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a.pop("file"), b.pop("file")
sys.exit(0 if a == b else f"{a} != {b}")
EOF2

# Resume from a "GPU" checkpoint of the middle of epoch 1: ends as the straight run.
mid=$(ls "$work/run/checkpoints"/step-*.pt | head -n 1)
[ -n "$mid" ] || fail "no periodic checkpoint to resume from"
as_gpu "$mid" "$work/gpu-mid.pt"
"$vit_train" "${common[@]}" --run-dir "$work/resumed" --resume "$work/gpu-mid.pt" \
  > "$work/resume.out" 2>&1 || { tail -n 5 "$work/resume.out"; fail "resume from a GPU-written checkpoint"; }
grep -q "resumed from $work/gpu-mid.pt" "$work/resume.out" || fail "did not resume from the file"
[ "$(strip "$work/run/metrics.jsonl" | grep '"epoch":2,"step"' | grep '"event":"epoch"')" = \
  "$(strip "$work/resumed/metrics.jsonl" | grep '"epoch":2,"step"' | grep '"event":"epoch"')" ] \
  || fail "the resumed run's last epoch differs from the straight run's"

# A truly damaged file: the message stays.
head -c 3000 "$work/gpu-final.pt" > "$work/cut.pt"
rc=0
"$vit_eval" --checkpoint "$work/cut.pt" --data.dir "$work/data" > /dev/null 2> "$work/cut.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a truncated file: exit $rc"
grep -q "^error: $work/cut.pt: not a readable checkpoint (truncated or corrupt)" "$work/cut.err" \
  || { cat "$work/cut.err"; fail "a truncated file: not the corrupt-file message"; }
echo "GPU-written files: vit-eval and resume on the CPU as from CPU-written ones"
