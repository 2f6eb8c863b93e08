#!/usr/bin/env bash
# gpu-compare.sh -- on one GPU machine, in one run: vit-train against the PyTorch DDP reference
# (bench/reference/vit_ddp.py) on that machine's own torch, eager and torch.compile with CUDA
# graphs (mode "reduce-overhead"; "default" where that fails), 1 rank, the seed model
# (configs/mnist.ini) and mnist-small, on MNIST: training images/s, time to 97% test accuracy,
# peak GPU memory. vit-train runs as configured (train.cuda_graph auto: the step as one CUDA graph)
# and in two variants: vit-train-eager (train.cuda_graph off) and vit-train-bf16
# (train.precision bf16). Writes OUT/summary.md (the table), OUT/runs.tsv and every run's folder
# and log.
#
# Usage: bench/gpu-compare.sh OUT [--dry-run] [-e EPOCHS] [--budget SECONDS] [--data DIR]
#   OUT        output folder (created)
#   -e EPOCHS  epochs per run (default 2; each run stops at the first epoch at 97%)
#   --budget S the whole benchmark ends within S seconds: without -e, 1 epoch per run when S is
#              under 200; each run is stopped at what is left, and runs that no longer fit are
#              skipped (status "skipped"), in this order of importance: vit-train and torch-eager
#              on both models, then vit-train's variants, then torch-compiled
#   --data DIR MNIST's four IDX files (default data/mnist, fetched by launch/get-data.sh)
#   --dry-run  the same harness on the CPU with 512 training images and 1 epoch: checks the
#              script, the programs and the summary, measures nothing (CI runs it)
# Programs: VIT_TRAIN_BIN (default build-gpu/vit-train, as launch/gpu-check.sh builds it, else
# build/vit-train); PYTHON (default python3) with torch; mpirun from launch/gpu-env.sh (the
# system's, or the one carried in .gpu/). Data: data/mnist (launch/get-data.sh).
# Budget: about 4 minutes on an H100/H200 for 10 runs of 2 epochs (the compiled reference compiles
# for ~30 s). A run is stopped after VIT_GPU_COMPARE_TIMEOUT seconds (default 100) and marked.
# Exit status 1 when a run failed (the summary is written first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "error: $*" >&2; exit 1; }

out="" dry=0 epochs="" data="" budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1; shift ;;
    -e) [ $# -ge 2 ] || die "gpu-compare.sh: -e needs a number"; epochs=$2; shift 2 ;;
    --data) [ $# -ge 2 ] || die "gpu-compare.sh: --data needs a folder"; data=$2; shift 2 ;;
    --budget) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "gpu-compare.sh: --budget needs a number of seconds"
              budget=$2; shift 2 ;;
    -h|--help) sed -n '2,26s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) die "gpu-compare.sh: unknown option $1" ;;
    *) out=$1; shift ;;
  esac
done
[ -n "$out" ] || die "usage: bench/gpu-compare.sh OUT [--dry-run] [-e EPOCHS]"
if [ -z "$epochs" ]; then
  epochs=2
  [ -z "$budget" ] || [ "$budget" -ge 200 ] || epochs=1
fi
[[ "$epochs" =~ ^[1-9][0-9]*$ ]] || die "gpu-compare.sh: -e must be a positive number, got '$epochs'"
started=$SECONDS
# left: seconds of the budget still to use (a large number without one).
left() { if [ -n "$budget" ]; then echo $((budget - (SECONDS - started))); else echo 99999; fi; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"

VIT_TRAIN=${VIT_TRAIN_BIN:-}
if [ -z "$VIT_TRAIN" ]; then
  VIT_TRAIN="$ROOT/build-gpu/vit-train"
  [ -x "$VIT_TRAIN" ] || VIT_TRAIN="$ROOT/build/vit-train"
fi
[ -x "$VIT_TRAIN" ] || die "$VIT_TRAIN not built: run launch/gpu-check.sh (or ./launch/test.sh) first"
# mpirun starts every run: the same Open MPI as the build's (a GPU machine may have another).
# shellcheck source=launch/gpu-env.sh
. "$ROOT/launch/gpu-env.sh" || die "gpu-compare.sh: no libraries to run with (see the line above)"
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import torch' 2>/dev/null || die "$PYTHON has no torch (set PYTHON)"
REF="$ROOT/bench/reference/vit_ddp.py"
if [ -z "$data" ]; then
  data="$ROOT/data/mnist"
  "$ROOT/launch/get-data.sh" mnist "$data" > "$out/get-data.log" 2>&1 \
    || die "no MNIST in $data (launch/get-data.sh mnist; log: $out/get-data.log)"
fi
[ -d "$data" ] || die "gpu-compare.sh: data folder not found: $data"

gpu=0
if [ "$dry" -eq 0 ]; then
  if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
    die "no GPU (nvidia-smi): run it on a GPU machine, or --dry-run here"
  fi
  "$PYTHON" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null \
    || die "$PYTHON's torch sees no GPU"
  gpu=1
fi
target=0.97
extra=()
[ "$dry" -eq 0 ] || { extra=(--data.train_limit 512 --data.test_limit 256); epochs=1; }
root=()
[ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)

# gpu_used_mib: memory in use on GPU 0 now (MiB).
gpu_used_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -n 1; }
# watch_memory FILE PID: the peak of gpu_used_mib while PID runs, into FILE.
watch_memory() {
  local file=$1 pid=$2 peak=0 now
  while kill -0 "$pid" 2>/dev/null; do
    now=$(gpu_used_mib 2>/dev/null || echo 0)
    [ "$now" -le "$peak" ] || peak=$now
    echo "$peak" > "$file"
    sleep 0.2
  done
}

printf 'model\tprogram\timages_per_s\ttta_s\ttest_acc\tepochs\tpeak_gpu_mib\tstatus\n' > "$out/runs.tsv"
failed_runs=0
# run MODEL PROGRAM [NAME]: one 1-rank run into its own fresh folder; a line of runs.tsv. Returns
# 1 when the run failed, 2 when it timed out.
run() {
  local model=$1 program=$2 name=${3:-$1-$2} status=ok config
  local dir="$out/$name" log="$out/$name.log" cmd=() limit
  config="$ROOT/configs/mnist.ini"
  [ "$model" = seed ] || config="$ROOT/configs/mnist-small.ini"
  limit=$(left)
  if [ "$limit" -lt 30 ]; then
    printf '%s\t%s\tn/a\tn/a\tn/a\t0\tn/a\tskipped (%s s of the budget left)\n' "$model" "$program" \
      "$(left)" >> "$out/runs.tsv"
    echo "gpu-compare: $name skipped: $(left) s of the budget left" >&2
    return 0
  fi
  [ "$limit" -le "${VIT_GPU_COMPARE_TIMEOUT:-100}" ] || limit=${VIT_GPU_COMPARE_TIMEOUT:-100}
  case "$program" in
    vit-train) cmd=("$VIT_TRAIN" --config "$config" --run-dir "$dir" --log.every_steps 0) ;;
    vit-train-eager) cmd=("$VIT_TRAIN" --config "$config" --run-dir "$dir" --log.every_steps 0
                          --train.cuda_graph off) ;;
    vit-train-bf16) cmd=("$VIT_TRAIN" --config "$config" --run-dir "$dir" --log.every_steps 0
                         --train.precision bf16) ;;
    torch-eager) cmd=("$PYTHON" "$REF" --config "$config" --run-dir "$dir" --stop-at-acc "$target") ;;
    torch-compiled) cmd=("$PYTHON" "$REF" --config "$config" --run-dir "$dir" --stop-at-acc "$target"
                         --compile --compile-mode "$compile_mode") ;;
  esac
  cmd+=(--data.dataset mnist --data.dir "$data" --train.epochs "$epochs" "${extra[@]}")
  [[ "$program" = vit-train* ]] || export MASTER_ADDR=127.0.0.1 MASTER_PORT=$((20000 + RANDOM % 20000))
  # A fresh folder: the reference appends to metrics.jsonl, and an earlier attempt's epochs must
  # not count.
  rm -rf "$dir" "$out/$name.mem"
  local idle=0
  [ "$gpu" -eq 0 ] || idle=$(gpu_used_mib)
  echo "gpu-compare: $name (at most $limit s) ..." >&2
  timeout --kill-after=10 "$limit" \
    mpirun -n 1 --bind-to none "${root[@]}" -x MASTER_ADDR -x MASTER_PORT "${cmd[@]}" > "$log" 2>&1 &
  local pid=$! rc=0
  [ "$gpu" -eq 0 ] || watch_memory "$out/$name.mem" "$pid" &
  wait "$pid" || rc=$?
  wait || true
  case "$rc" in
    0) ;;
    124|137) status="timed out after $limit s" ;;
    *) status="failed($rc)" ;;
  esac
  local peak="n/a"
  [ "$gpu" -eq 0 ] || [ ! -s "$out/$name.mem" ] || peak=$(($(cat "$out/$name.mem") - idle))
  # From the epoch lines: the last epoch's images/s (the first holds warm-up and compiling), the
  # first epoch at the target (its elapsed_s: from the program's start), the last accuracy.
  "$PYTHON" - "$dir/metrics.jsonl" "$target" "$model" "$program" "$peak" "$status" >> "$out/runs.tsv" <<'PY'
import json, os, sys
path, target, model, program, peak, status = sys.argv[1:7]
lines = []
if os.path.exists(path):
    for l in open(path):
        try:
            lines.append(json.loads(l))
        except ValueError:
            pass  # a line torn by the time-out
epochs = [l for l in lines if l.get("event") == "epoch"]
speed = f"{epochs[-1]['images_per_s']:.0f}" if epochs else "n/a"
hit = next((l for l in epochs if l["test_acc"] >= float(target)), None)
tta = f"{hit['elapsed_s']:.1f}" if hit else "not reached"
acc = f"{epochs[-1]['test_acc']:.4f}" if epochs else "n/a"
if not epochs and status == "ok":
    status = "no epoch line"
print("\t".join([model, program, speed, tta, acc, str(len(epochs)), peak, status]))
PY
  if [ "$status" != ok ] || ! tail -n 1 "$out/runs.tsv" | grep -q $'\tok$'; then
    failed_runs=$((failed_runs + 1))
    [[ "$status" = timed* ]] && return 2
    return 1
  fi
  return 0
}

has_compile=0
"$PYTHON" -c 'import torch, sys; sys.exit(0 if hasattr(torch, "compile") else 1)' && has_compile=1
first_mode=reduce-overhead
[ "$gpu" -eq 1 ] || first_mode=default  # CUDA graphs need a GPU
first_mode=${VIT_GPU_COMPARE_COMPILE_MODE:-$first_mode}  # (the e2e test makes it fail)
# In order of importance, so that a short budget skips the least important runs.
for model in seed small; do run "$model" vit-train || true; run "$model" torch-eager || true; done
for model in seed small; do run "$model" vit-train-eager || true; run "$model" vit-train-bf16 || true; done
if [ "$has_compile" -eq 1 ]; then
  for model in seed small; do
    rc=0
    compile_mode=$first_mode
    run "$model" torch-compiled || rc=$?
    # CUDA graphs of the reference may fail where plain compiling works: then that, in a folder of
    # its own (not after a time-out: a second one would not fit either).
    if [ "$rc" -eq 1 ] && [ "$compile_mode" != default ]; then
      failed_runs=$((failed_runs - 1))  # the retry's result counts
      compile_mode=default
      run "$model" torch-compiled "$model-torch-compiled-default" || true
    fi
  done
fi

# The summary: the table, and our ratios against each reference.
# shellcheck source=launch/source-commit.sh
. "$ROOT/launch/source-commit.sh"
"$PYTHON" - "$out/runs.tsv" "$dry" "$((SECONDS - started))" "$(vit_source_commit "$ROOT")" \
  "$( [ "$gpu" -eq 1 ] && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader -i 0 || echo "no GPU (dry run, CPU)")" \
  "$("$PYTHON" -c 'import torch; print(torch.__version__)')" > "$out/summary.md" <<'PY'
import csv, sys
path, dry, seconds, commit, device, torch_version = sys.argv[1:7]
rows = list(csv.DictReader(open(path), delimiter="\t"))
print("# gpu-compare" + (" (dry run: the harness on the CPU, no measurement)" if dry == "1" else ""))
print()
print(f"Device: {device}; torch {torch_version}; commit {commit}; {seconds} s in all.")
print()
print("| model | program | images/s (last epoch) | time to 97% (s) | test acc. | epochs | peak GPU MiB | status |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    print(f"| {r['model']} | {r['program']} | {r['images_per_s']} | {r['tta_s']} | {r['test_acc']} | "
          f"{r['epochs']} | {r['peak_gpu_mib']} | {r['status']} |")
print()
for model in ("seed", "small"):
    mine = [r for r in rows if r["model"] == model and r["program"].startswith("vit-train")]
    for ours in mine:
        for r in rows:
            if r["model"] != model or r["program"].startswith("vit-train"):
                continue
            try:
                ratio = float(ours["images_per_s"]) / float(r["images_per_s"])
                print(f"- {model}: {ours['program']} / {r['program']}: {ratio:.2f}x images/s")
            except ValueError:
                print(f"- {model}: {ours['program']} / {r['program']}: n/a")
PY
cat "$out/summary.md"
[ "$failed_runs" -eq 0 ] || die "gpu-compare: $failed_runs run(s) failed or timed out (see runs.tsv and their logs in $out)"
