#!/usr/bin/env bash
# compare.sh -- vit-train against the PyTorch DDP reference (bench/reference/vit_ddp.py): the same
# ViT, config, data, sampler policy and launch, run in turn on this machine.
#
# Usage: bench/compare.sh [CONFIG] [-n RANKS] [-r REPS] [-e EPOCHS] [--order torch|vit]
#                         [--section.key VALUE ...]
#        bench/compare.sh --tta TARGET [CONFIG] [-n RANKS] [-r REPS] [-e EPOCHS] [...]
#
#   speed (default)  CONFIG (default configs/mnist.ini) on fashion-mnist, 1 rank and RANKS (2)
#                    ranks, REPS (3, or $VIT_COMPARE_REPS) repetitions of EPOCHS (1, or
#                    $VIT_COMPARE_EPOCHS) epochs; per repetition: ours 1, ref 1, ours N, ref N.
#                    Table: median training images/s (all ranks), ratio, final test accuracy,
#                    peak RSS per rank (/usr/bin/time %M of every rank process), scaling efficiency.
#   --tta TARGET     time to accuracy: CONFIG (default configs/mnist-small.ini, its own data set
#                    and epochs) on RANKS (2) ranks; seconds until the first epoch whose test_acc
#                    >= TARGET (0..1); each run stops at that epoch (ours by SIGUSR1 to mpirun).
#   --skip-epochs K  images/s over the epochs after the first K only (default 0): the steady speed
#                    of a reference that compiles in its first epoch (VIT_REF_ARGS=--compile)
#   launch           both with the same mpirun flags as launch/train.sh: each rank bound to
#                    cores/ranks cores (--map-by slot:PE=k --bind-to core)
#   --order          the reference's data order: torch (default; torch.randperm as PyTorch's
#                    DistributedSampler) or vit (vit-train's permutation: both then see the same
#                    images in the same steps, and accuracies differ only by the frameworks).
#   overrides        passed to both programs (vit_ddp.py reads the same keys).
# A run that takes longer than VIT_COMPARE_TIMEOUT seconds (default 3600) stops the benchmark.
# Other builds and Pythons: VIT_TRAIN_BIN=build-pip/vit-train (ours on PyPI's LibTorch 2.x),
# PYTHON=.venv-torch/bin/python (the reference on PyPI's torch 2.x), VIT_REF_ARGS=--compile (the
# reference's model through torch.compile).
# Needs build/vit-train (./launch/test.sh or launch/setup.sh). Installs python3-torch and time
# (Debian) and fetches the data set (launch/get-data.sh) when missing. PYTHON overrides the
# interpreter (default /usr/bin/python3, the one Debian's python3-torch belongs to).
# Output: the table on stdout; table, per-run numbers (runs.tsv) and every run directory and log in
# bench/out/compare-<date>/ (or tta-<date>/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "error: $*" >&2; exit 1; }

mode=speed tta=""
config=""
ranks=2
reps=${VIT_COMPARE_REPS:-3}
epochs=${VIT_COMPARE_EPOCHS:-}
overrides=()
order=torch
skip=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tta) [ $# -ge 2 ] || die "compare.sh: --tta needs a target accuracy (0..1)"; mode=tta; tta=$2; shift 2 ;;
    -n) [ $# -ge 2 ] || die "compare.sh: -n needs a number"; ranks=$2; shift 2 ;;
    -r) [ $# -ge 2 ] || die "compare.sh: -r needs a number"; reps=$2; shift 2 ;;
    -e) [ $# -ge 2 ] || die "compare.sh: -e needs a number"; epochs=$2; shift 2 ;;
    --skip-epochs) [ $# -ge 2 ] || die "compare.sh: --skip-epochs needs a number"; skip=$2; shift 2 ;;
    --order) [ $# -ge 2 ] || die "compare.sh: --order needs torch or vit"; order=$2; shift 2 ;;
    -h|--help) sed -n '2,28s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --*=*) overrides+=("${1%%=*}" "${1#*=}"); shift ;;
    --*) [ $# -ge 2 ] || die "compare.sh: $1 needs a value"; overrides+=("$1" "$2"); shift 2 ;;
    *) config=$1; shift ;;
  esac
done
[ "$order" = torch ] || [ "$order" = vit ] || die "compare.sh: --order must be torch or vit, got '$order'"
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || die "compare.sh: -n must be a positive number, got '$ranks'"
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "compare.sh: -r must be a positive number, got '$reps'"
[ -z "$epochs" ] || [[ "$epochs" =~ ^[1-9][0-9]*$ ]] || die "compare.sh: -e must be a positive number, got '$epochs'"
[[ "$skip" =~ ^[0-9]+$ ]] || die "compare.sh: --skip-epochs must be a number, got '$skip'"
if [ "$mode" = tta ]; then
  awk -v t="$tta" 'BEGIN { exit !(t + 0 > 0 && t + 0 <= 1) }' || die "compare.sh: --tta target must be in (0, 1], got '$tta'"
  config=${config:-$ROOT/configs/mnist-small.ini}
else
  config=${config:-$ROOT/configs/mnist.ini}
  epochs=${epochs:-1}
  [ "$skip" -lt "$epochs" ] || die "compare.sh: --skip-epochs $skip leaves none of the $epochs epoch(s) to time"
fi
[ -f "$config" ] || die "compare.sh: config file not found: $config"
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"

VIT_TRAIN="${VIT_TRAIN_BIN:-$ROOT/build/vit-train}"  # another build: VIT_TRAIN_BIN
REF="$ROOT/bench/reference/vit_ddp.py"
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$VIT_TRAIN" ] || die "build/vit-train missing: run ./launch/test.sh first"
command -v mpirun >/dev/null || die "mpirun not found: run ./launch/setup.sh (installs openmpi-bin)"

# apt_install (which waits for the package lock): launch/apt.sh.
APT_WHO=compare
# shellcheck source=launch/apt.sh
source "$ROOT/launch/apt.sh"
[ -x /usr/bin/time ] || apt_install time
torch_ok() { "$PYTHON" -c 'import torch.distributed as d; assert d.is_available() and d.is_gloo_available()' 2>/dev/null; }
if ! torch_ok; then
  [ "$PYTHON" = /usr/bin/python3 ] || die "$PYTHON has no torch with torch.distributed and gloo"
  apt_install python3-torch
  torch_ok || die "Debian's python3-torch has no usable torch.distributed/gloo"
fi

# The data set: an override, else the config's [data] dataset, else mnist (vit-train's default).
dataset="" data_dir=""
for ((i = 0; i < ${#overrides[@]}; i += 2)); do
  case "${overrides[i]}" in
    --data.dataset) dataset=${overrides[i + 1]} ;;
    --data.dir) data_dir=${overrides[i + 1]} ;;
  esac
done
if [ -z "$dataset" ] && [ "$mode" = speed ]; then
  dataset=fashion-mnist
  overrides+=(--data.dataset fashion-mnist)
fi
if [ -z "$dataset" ]; then
  dataset=$(awk -F= '/^\[/ { s = $0 } s == "[data]" && $1 ~ /^[ \t]*dataset[ \t]*$/ { gsub(/[ \t]|#.*/, "", $2); print $2 }' "$config")
  dataset=${dataset:-mnist}
fi
if [ -z "$data_dir" ]; then
  data_dir="$ROOT/data/$dataset"
  overrides+=(--data.dir "$data_dir")
  # (a quick check when the set is there; fetches or replaces it when it is not the verified one)
  "$ROOT/launch/get-data.sh" "$dataset" "$data_dir" >&2 \
    || die "could not fetch $dataset (launch/get-data.sh $dataset)"
fi
common=("${overrides[@]}")
[ -z "$epochs" ] || common+=(--train.epochs "$epochs")

stamp=$(date +%Y%m%d-%H%M%S)
out="$ROOT/bench/out/$([ "$mode" = tta ] && echo tta || echo compare)-$stamp"
mkdir -p "$out"
cores=$(nproc)

# mpirun flags for N ranks on this machine, the same for both programs.
mpi_flags() {
  local n=$1
  flags=()
  if [ "$n" -gt "$cores" ]; then
    flags+=(--oversubscribe --bind-to none)
  else
    flags+=(--map-by "slot:PE=$((cores / n))" --bind-to core)
  fi
  [ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
}

# A wrapper per run that puts /usr/bin/time around the rank process; each rank writes its own file.
wrapper() {
  local file=$1 rss_dir=$2
  shift 2
  {
    echo '#!/bin/sh'
    # shellcheck disable=SC2016  # ${OMPI_COMM_WORLD_RANK} is for the wrapper to expand, per rank
    printf 'exec /usr/bin/time -f %%M -o "%s/rank-${OMPI_COMM_WORLD_RANK:-0}.kb"' "$rss_dir"
    printf ' %q' "$@"
    echo ' "$@"'
  } > "$file"
  chmod +x "$file"
}

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# watch_tta METRICS PID: sends SIGUSR1 to PID (our mpirun, which forwards it to the ranks: they
# write a checkpoint and exit 75) once an epoch line reaches the target accuracy.
watch_tta() {
  local metrics=$1 pid=$2
  while kill -0 "$pid" 2>/dev/null; do
    if [ -f "$metrics" ] && "$PYTHON" - "$metrics" "$tta" <<'EOF'
import json, sys
hit = any(json.loads(l).get("event") == "epoch" and json.loads(l)["test_acc"] >= float(sys.argv[2])
          for l in open(sys.argv[1]) if l.strip())
sys.exit(0 if hit else 1)
EOF
    then
      kill -USR1 "$pid" 2>/dev/null || true
      return
    fi
    sleep 0.5
  done
}

# run IMPL N REP: one training run; its run directory is $out/IMPL-npN-repREP.
run() {
  local impl=$1 n=$2 rep=$3
  local name="$impl-np$n-rep$rep"
  local dir="$out/$name" rss_dir="$out/$name.rss" log="$out/$name.log"
  mkdir -p "$rss_dir"
  mpi_flags "$n"
  local cmd=() status=0 pid
  if [ "$impl" = ours ]; then
    cmd=("$VIT_TRAIN" --config "$config" --run-dir "$dir" --log.every_steps 0 "${common[@]}")
  else
    # shellcheck disable=SC2206  # VIT_REF_ARGS: extra options of the reference, split on spaces
    cmd=("$PYTHON" "$REF" --config "$config" --run-dir "$dir" --order "$order" ${VIT_REF_ARGS:-}
         "${common[@]}")
    [ "$mode" != tta ] || cmd+=(--stop-at-acc "$tta")
    flags+=(-x MASTER_ADDR=127.0.0.1 -x "MASTER_PORT=$(free_port)")
  fi
  if [ "$mode" = tta ] && [ "$impl" = ours ]; then
    # No /usr/bin/time here: the stop signal must reach vit-train itself.
    mpirun -n "$n" "${flags[@]}" "${cmd[@]}" > "$log" 2>&1 &
    pid=$!
    watch_tta "$dir/metrics.jsonl" "$pid" &
    wait "$pid" || status=$?
    wait || true
    [ "$status" -eq 0 ] || [ "$status" -eq 75 ] || grep -q '"event":"epoch"' "$dir/metrics.jsonl" 2>/dev/null || {
      echo "error: $impl on $n rank(s) failed (exit $status), see $log" >&2; exit 1; }
  else
    wrapper "$out/$name.wrap" "$rss_dir" "${cmd[0]}"
    # A run that hangs (seen once: a gloo rank stuck at exit) ends the benchmark, not the session.
    timeout --kill-after=30 "${VIT_COMPARE_TIMEOUT:-3600}" \
      mpirun -n "$n" "${flags[@]}" "$out/$name.wrap" "${cmd[@]:1}" > "$log" 2>&1 \
      || { echo "error: $impl on $n rank(s) failed or timed out, see $log" >&2; exit 1; }
  fi
  # One line of runs.tsv from the run's metrics, log and RSS files.
  "$PYTHON" - "$impl" "$n" "$rep" "$dir" "$log" "$rss_dir" "$tta" "$skip" >> "$out/runs.tsv" <<'EOF'
import glob, json, os, re, sys
impl, n, rep, run_dir, log, rss_dir, tta, skip = sys.argv[1:9]
lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl")) if l.strip()]
epochs = [l for l in lines if l.get("event") == "epoch"]
if not epochs:
    sys.exit(f"error: no epoch line in {run_dir}/metrics.jsonl")
# Training images/s over all epochs (or those after the first `skip`): images (images_per_s *
# epoch_s) over training seconds.
train_s = sum(e["epoch_s"] for e in epochs)
timed = epochs[int(skip):]
if not timed:
    sys.exit(f"error: {run_dir}/metrics.jsonl has {len(epochs)} epoch line(s), none after the skipped {skip}")
ips = sum(e["images_per_s"] * e["epoch_s"] for e in timed) / sum(e["epoch_s"] for e in timed)
rss = []
for f in glob.glob(os.path.join(rss_dir, "rank-*.kb")):
    numbers = [l.strip() for l in open(f) if l.strip().isdigit()]
    if numbers:
        rss.append(int(numbers[-1]) / 1024)
# Seconds since the start of training after each epoch (evaluation included): the epoch line's
# elapsed_s when it has one; else (vit-train without it) train.log's time stamps, from the
# "model: N parameters" line (just before training starts) to the "epoch k/K done" line (after
# the evaluation); else the sum of epoch_s (training only).
elapsed, source = [], "elapsed_s"
if all("elapsed_s" in e for e in epochs):
    elapsed = [e["elapsed_s"] for e in epochs]
else:
    stamp = lambda l: sum(float(x) * m for x, m in zip(re.match(r"\[(\d+):(\d+):([\d.]+)\]", l).groups(), (3600, 60, 1)))
    start, done = None, {}
    path = os.path.join(run_dir, "train.log")
    for l in open(path) if os.path.exists(path) else []:
        if not re.match(r"\[\d+:\d+:[\d.]+\]", l):
            continue
        if start is None and re.search(r"model: \d+ parameters", l):
            start = stamp(l)
        m = re.search(r"epoch (\d+)/\d+ done", l)
        if m and start is not None:
            done[int(m.group(1))] = (stamp(l) - start) % 86400  # past midnight
    if start is not None and all(e["epoch"] in done for e in epochs):
        elapsed, source = [done[e["epoch"]] for e in epochs], "train.log"
    else:
        elapsed, source, acc = [], "sum(epoch_s)", 0.0
        for e in epochs:
            acc += e["epoch_s"]
            elapsed.append(acc)
tta_epoch = tta_elapsed = tta_train = "-"
if tta:
    for i, e in enumerate(epochs):
        if e["test_acc"] >= float(tta):
            tta_epoch, tta_elapsed = e["epoch"], f"{elapsed[i]:.2f}"
            tta_train = f"{sum(x['epoch_s'] for x in epochs[:i + 1]):.2f}"
            break
params = "-"
for l in open(log, errors="replace"):
    m = re.search(r"model: (\d+) parameters", l) or re.search(r"\| parameters +\| ([\d,]+) ", l)
    if m:
        params = m.group(1).replace(",", "")
        break
print("\t".join(str(x) for x in (
    impl, n, rep, f"{ips:.1f}", f"{epochs[-1]['test_acc']:.4f}", epochs[-1]["epoch"],
    epochs[-1]["step"], f"{train_s:.2f}", f"{max(rss):.1f}" if rss else "-",
    " ".join(f"{r:.1f}" for r in sorted(rss)) or "-", params, tta_epoch, tta_elapsed, tta_train,
    source)))
EOF
}

printf 'impl\tranks\trep\timages_per_s\tfinal_test_acc\tepochs\tsteps\ttrain_s\tpeak_rss_mib_max\tpeak_rss_mib_ranks\tparameters\ttta_epoch\ttta_elapsed_s\ttta_train_s\telapsed_source\n' > "$out/runs.tsv"
if [ "$mode" = tta ]; then
  sizes=("$ranks")
else
  sizes=(1)
  [ "$ranks" -eq 1 ] || sizes+=("$ranks")
fi
echo "compare: $mode, ${config#"$ROOT"/} ${common[*]}, ${sizes[*]} rank(s), $reps repetition(s); output in $out" >&2
for rep in $(seq "$reps"); do
  for n in "${sizes[@]}"; do
    for impl in ours ref; do
      run "$impl" "$n" "$rep"
      tail -n 1 "$out/runs.tsv" | awk -F'\t' -v m="$mode" '{
        if (m == "tta") printf "rep %s: %-4s %s ranks: %s s to target (epoch %s, %s s training)\n", $3, $1, $2, $13, $12, $14
        else printf "rep %s: %-4s %s rank(s): %s img/s, test_acc %s, peak RSS %s MiB/rank\n", $3, $1, $2, $4, $5, $9 }' >&2
    done
  done
done

# The code path the multi-versioned kernels (src/util/multiversion.h) take on this CPU: GCC's
# resolver picks the AVX-512 clone where avx512f is, else the AVX2 one.
if grep -qw avx512f /proc/cpuinfo; then simd=AVX-512; elif grep -qw avx2 /proc/cpuinfo; then
  simd=AVX2; else simd="baseline x86-64"; fi
"$PYTHON" - "$out/runs.tsv" "$mode" "$tta" > "$out/summary.md" <<EOF
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
mode, tta = sys.argv[2], sys.argv[3]
def med(impl, n, key):
    vals = [float(r[key]) for r in rows if r["impl"] == impl and int(r["ranks"]) == n and r[key] != "-"]
    return statistics.median(vals) if vals else None
def fmt(v, spec):
    return "-" if v is None else format(v, spec)
print("config: ${config#"$ROOT"/} ${common[*]}")
print("machine: $cores cores, $(lscpu | sed -n 's/^Model name: *//p') ($simd: the widest vector code vit-train's kernels run here), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')")
print("ours: ${VIT_TRAIN#"$ROOT"/} (MPI all-reduce); ref: bench/reference/vit_ddp.py ${VIT_REF_ARGS:-}, torch " +
      "$("$PYTHON" -c 'import torch; print(torch.__version__)') DDP (gloo), data order $order; launch: mpirun --map-by slot:PE=cores/ranks --bind-to core; $reps repetition(s), medians")
params = {impl: next((r["parameters"] for r in rows if r["impl"] == impl and r["parameters"] != "-"), "-") for impl in ("ours", "ref")}
print(f"parameters: ours {params['ours']}, ref {params['ref']}")
print()
sizes = sorted({int(r["ranks"]) for r in rows})
if mode == "tta":
    src = {impl: sorted({r["elapsed_source"] for r in rows if r["impl"] == impl}) for impl in ("ours", "ref")}
    print(f"time to test accuracy >= {tta}; seconds from the start of training to the end of the "
          f"first epoch (evaluation included) that reaches it, source: ours {'/'.join(src['ours'])}, "
          f"ref {'/'.join(src['ref'])}; training-only seconds (sum of epoch_s) beside it")
    print()
    print("| ranks | ours s | ref s | ours/ref | ours epoch | ref epoch | ours training s | ref training s |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        a, b = med("ours", n, "tta_elapsed_s"), med("ref", n, "tta_elapsed_s")
        print(f"| {n} | {fmt(a, '.1f')} | {fmt(b, '.1f')} | {fmt(a / b if a and b else None, '.2f')} "
              f"| {fmt(med('ours', n, 'tta_epoch'), '.0f')} | {fmt(med('ref', n, 'tta_epoch'), '.0f')} "
              f"| {fmt(med('ours', n, 'tta_train_s'), '.1f')} | {fmt(med('ref', n, 'tta_train_s'), '.1f')} |")
    missed = [f"{r['impl']} rep {r['rep']}" for r in rows if r["tta_epoch"] == "-"]
    if missed:
        print(f"\ntarget not reached by: {', '.join(missed)} (those runs are left out of the medians)")
else:
    print("| ranks | ours img/s | ref img/s | ours/ref | ours test acc | ref test acc "
          "| ours peak RSS MiB/rank | ref peak RSS MiB/rank | ours scaling eff. | ref scaling eff. |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {impl: med(impl, 1, "images_per_s") for impl in ("ours", "ref")}
    for n in sizes:
        a, b = med("ours", n, "images_per_s"), med("ref", n, "images_per_s")
        eff = [med(impl, n, "images_per_s") / (n * base[impl]) if n > 1 and base[impl] else None
               for impl in ("ours", "ref")]
        print(f"| {n} | {fmt(a, '.0f')} | {fmt(b, '.0f')} | {fmt(a / b if a and b else None, '.2f')} "
              f"| {fmt(med('ours', n, 'final_test_acc'), '.4f')} | {fmt(med('ref', n, 'final_test_acc'), '.4f')} "
              f"| {fmt(med('ours', n, 'peak_rss_mib_max'), '.0f')} | {fmt(med('ref', n, 'peak_rss_mib_max'), '.0f')} "
              f"| {'-' if n == 1 else fmt(eff[0], '.3f')} | {'-' if n == 1 else fmt(eff[1], '.3f')} |")
    print()
    print("images/s: training images of all ranks per second of training (evaluation excluded), over "
          + ("all epochs" if "$skip" == "0" else "the epochs after the first $skip")
          + "; test acc: after the last epoch; peak RSS: /usr/bin/time %M of each rank "
          "process, the largest rank; scaling eff.: images/s on N ranks / (N x images/s on 1 rank)")
EOF
cat "$out/summary.md"
echo "compare: table and per-run numbers in $out (summary.md, runs.tsv)" >&2
