#!/usr/bin/env bash
# speedrun.sh -- the time to 98% test accuracy on MNIST: a recipe (default
# configs/mnist-speedrun.ini, which scores the test set every train.eval_every_steps steps) trained
# on RANKS ranks for several seeds, by vit-train and by the PyTorch reference
# (bench/reference/vit_ddp.py, which reads the same recipe), run in turn on this machine.
#
# Usage: bench/speedrun.sh [CONFIG] [-n RANKS] [-s SEEDS] [--target ACC] [--no-reference]
#                          [-o OUT] [--section.key VALUE ...]
#
#   RANKS (2) ranks, SEEDS (3) seeds (train.seed 1..SEEDS); per seed: ours, then the reference.
#   The time to TARGET (0.98) is the training time (evaluations and start-up excluded: the eval
#   line's train_s, or for an epoch line the sum of epoch_s so far) at the first line whose
#   test_acc reaches it; every run trains the whole recipe, so its final accuracy shows too.
#   Table: per seed and program, the time to TARGET and the final accuracy; the median and the
#   worst over the seeds, and ours/reference of the medians.
#   --no-reference   vit-train alone (the reference takes about three times as long)
#   -o OUT           the output folder (default bench/out/speedrun-<date>/)
#   overrides        passed to both programs.
# Other builds and Pythons as bench/compare.sh: VIT_TRAIN_BIN, PYTHON, VIT_REF_ARGS.
# Output: the table on stdout; it, runs.tsv and every run directory and log in
# bench/out/speedrun-<date>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "error: $*" >&2; exit 1; }
config="$ROOT/configs/mnist-speedrun.ini" ranks=2 seeds=3 target=0.98 reference=1
out="$ROOT/bench/out/speedrun-$(date +%Y%m%d-%H%M%S)"
overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || die "speedrun.sh: -n needs a number"; ranks=$2; shift 2 ;;
    -s) [ $# -ge 2 ] || die "speedrun.sh: -s needs a number"; seeds=$2; shift 2 ;;
    --target) [ $# -ge 2 ] || die "speedrun.sh: --target needs an accuracy (0..1)"; target=$2; shift 2 ;;
    --no-reference) reference=0; shift ;;
    -o) [ $# -ge 2 ] || die "speedrun.sh: -o needs a folder"; out=$2; shift 2 ;;
    -h|--help) sed -n '2,22s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --*=*) overrides+=("${1%%=*}" "${1#*=}"); shift ;;
    --*) [ $# -ge 2 ] || die "speedrun.sh: $1 needs a value"; overrides+=("$1" "$2"); shift 2 ;;
    *) config=$1; shift ;;
  esac
done
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || die "speedrun.sh: -n must be a positive number, got '$ranks'"
[[ "$seeds" =~ ^[1-9][0-9]*$ ]] || die "speedrun.sh: -s must be a positive number, got '$seeds'"
awk -v t="$target" 'BEGIN { exit !(t + 0 > 0 && t + 0 <= 1) }' \
  || die "speedrun.sh: --target must be in (0, 1], got '$target'"
[ -f "$config" ] || die "speedrun.sh: config file not found: $config"
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
grep -q '^[[:space:]]*eval_every_steps[[:space:]]*=[[:space:]]*[1-9]' "$config" \
  || printf '%s\n' "${overrides[@]}" | grep -qx -- '--train.eval_every_steps' \
  || echo "note: $config sets no train.eval_every_steps: the time is read at epoch ends only" >&2

VIT_TRAIN="${VIT_TRAIN_BIN:-$ROOT/build/vit-train}"
REF="$ROOT/bench/reference/vit_ddp.py"
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$VIT_TRAIN" ] || die "build/vit-train missing: run ./launch/test.sh first"
command -v mpirun >/dev/null || die "mpirun not found: run ./launch/setup.sh (installs openmpi-bin)"
APT_WHO=speedrun
# shellcheck source=launch/apt.sh
source "$ROOT/launch/apt.sh"
torch_ok() { "$PYTHON" -c 'import torch.distributed as d; assert d.is_available() and d.is_gloo_available()' 2>/dev/null; }
if [ "$reference" = 1 ] && ! torch_ok; then
  [ "$PYTHON" = /usr/bin/python3 ] || die "$PYTHON has no torch with torch.distributed and gloo"
  apt_install python3-torch
  torch_ok || die "Debian's python3-torch has no usable torch.distributed/gloo"
fi
# MNIST, fetched when missing, unless an override names another folder (the tests' data).
if ! printf '%s\n' "${overrides[@]}" | grep -qx -- '--data.dir'; then
  "$ROOT/launch/get-data.sh" mnist "$ROOT/data/mnist" >&2 \
    || die "could not fetch mnist (launch/get-data.sh mnist)"
  overrides+=(--data.dir "$ROOT/data/mnist")
fi

mkdir -p "$out"
cores=$(nproc)
# The same mpirun flags for both programs, as bench/compare.sh and launch/train.sh.
flags=()
if [ "$ranks" -gt "$cores" ]; then
  flags+=(--oversubscribe --bind-to none)
else
  flags+=(--map-by "slot:PE=$((cores / ranks))" --bind-to core)
fi
[ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run IMPL SEED: one whole run of the recipe, into $out/IMPL-seedSEED.
run() {
  local impl=$1 seed=$2 dir="$out/$1-seed$2" cmd
  if [ "$impl" = ours ]; then
    cmd=(mpirun -n "$ranks" "${flags[@]}" "$VIT_TRAIN" --config "$config" --run-dir "$dir"
         --log.every_steps 0)
  else
    # shellcheck disable=SC2206  # VIT_REF_ARGS: extra options of the reference, split on spaces
    cmd=(mpirun -n "$ranks" "${flags[@]}" -x MASTER_ADDR=127.0.0.1 -x "MASTER_PORT=$(free_port)"
         "$PYTHON" "$REF" --config "$config" --run-dir "$dir" ${VIT_REF_ARGS:-})
  fi
  echo "seed $seed: $impl ..." >&2
  timeout --kill-after=30 "${VIT_SPEEDRUN_TIMEOUT:-3600}" "${cmd[@]}" --train.seed "$seed" \
    "${overrides[@]}" > "$dir.log" 2>&1 \
    || die "$impl, seed $seed, failed or timed out: see $dir.log"
  "$PYTHON" - "$impl" "$seed" "$dir/metrics.jsonl" "$target" >> "$out/runs.tsv" <<'EOF'
import json, sys
impl, seed, path, target = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
lines = [json.loads(l) for l in open(path) if l.strip()]
trained, hit, final = 0.0, None, None
for line in lines:
    if line.get("event") == "eval":
        at = line["train_s"]
    elif line.get("event") == "epoch":
        trained += line["epoch_s"]
        at, final = trained, line["test_acc"]
    else:
        continue
    if hit is None and line["test_acc"] >= target:
        hit = (at, line["step"])
if final is None:
    sys.exit(f"error: no epoch line in {path}")
print(f"{impl}\t{seed}\t{hit[0] if hit else 'nan'}\t{hit[1] if hit else ''}\t{final}\t{trained}")
EOF
}

printf 'impl\tseed\tto_target_s\tat_step\tfinal_test_acc\ttrain_s\n' > "$out/runs.tsv"
for ((seed = 1; seed <= seeds; ++seed)); do
  run ours "$seed"
  [ "$reference" = 0 ] || run ref "$seed"
done

"$PYTHON" - "$out/runs.tsv" "$target" "$ranks" "$config" "$VIT_TRAIN" <<'EOF' | tee "$out/table.md"
import csv, math, platform, statistics, sys
path, target, ranks, config, ours_bin = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = list(csv.DictReader(open(path), delimiter="\t"))
def times(impl):
    # A seed that never reached the target counts as infinitely slow (it makes the worst "not reached").
    return [float(r["to_target_s"]) if r["to_target_s"] != "nan" else math.inf
            for r in rows if r["impl"] == impl]
def show(s):
    return "not reached" if math.isinf(s) else f"{s:.1f} s"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = open("/proc/cpuinfo").read()
simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
print(f"time to {100 * target:.1f}% test accuracy, {config.split('/')[-1]}, {ranks} rank(s); "
      f"{cpu} ({simd}), training seconds (evaluations excluded)\n")
print("| seed | vit-train | final acc | reference | final acc |")
print("| --- | --- | --- | --- | --- |")
by = {(r["impl"], r["seed"]): r for r in rows}
for seed in sorted({r["seed"] for r in rows}, key=int):
    cells = []
    for impl in ("ours", "ref"):
        r = by.get((impl, seed))
        cells += ["-", "-"] if r is None else [
            show(float(r["to_target_s"]) if r["to_target_s"] != "nan" else math.inf),
            f"{100 * float(r['final_test_acc']):.2f}%"]
    print(f"| {seed} | " + " | ".join(cells) + " |")
ours, ref = times("ours"), times("ref")
print()
print(f"vit-train: median {show(statistics.median(ours))}, worst {show(max(ours))}")
if ref:
    print(f"reference: median {show(statistics.median(ref))}, worst {show(max(ref))}")
    mo, mr = statistics.median(ours), statistics.median(ref)
    if not math.isinf(mo) and not math.isinf(mr):
        print(f"ours/reference (medians): {mo / mr:.2f}x")
EOF
echo "runs: $out/" >&2
