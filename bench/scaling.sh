#!/usr/bin/env bash
# scaling.sh -- data-parallel scaling of the real vit-train on this machine: training images/s of
# one config on 1 rank and on N ranks (median of several repetitions, alternated so that machine
# noise hits both alike), the scaling efficiency, and the share of step time in the all-reduce.
#
# Usage: bench/scaling.sh [CONFIG] [-n RANKS] [-r REPS] [-e EPOCHS] [--section.key VALUE ...]
#   defaults: configs/mnist.ini on fashion-mnist (60,000 images), 2 ranks, 3 repetitions,
#   1 epoch each. Needs a built build/vit-train (launch/setup.sh) and the data (get-data.sh).
# Prints a table; the raw metrics of every run stay in bench/out/scaling-<date>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="$ROOT/configs/mnist.ini"
ranks=2 reps=3 epochs=1
overrides=(--data.dataset fashion-mnist --data.dir "$ROOT/data/fashion-mnist")
while [ $# -gt 0 ]; do
  case "$1" in
    -n) ranks=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -e) epochs=$2; shift 2 ;;
    -h|--help) sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --*) overrides+=("$1" "$2"); shift 2 ;;
    *) config=$1; shift ;;
  esac
done
[ -x "$ROOT/build/vit-train" ] || { echo "error: build/vit-train missing: run launch/setup.sh" >&2; exit 1; }
out="$ROOT/bench/out/scaling-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

# run N REP: one training run on N ranks; prints "images_per_s allreduce_share" of its last epoch.
run() {
  local n=$1 rep=$2 dir="$out/np$1-rep$2"
  "$ROOT/launch/train.sh" -n "$n" "$config" --run-dir "$dir" --train.epochs "$epochs" \
    --log.every_steps 0 "${overrides[@]}" > "$dir.log" 2>&1 \
    || { echo "error: run on $n rank(s) failed, see $dir.log" >&2; exit 1; }
  last_epoch "$dir/metrics.jsonl"
}

# last_epoch METRICS_FILE: "images_per_s allreduce_share" of its last epoch line, read by key.
last_epoch() {
  python3 -c 'import json, sys
e = [m for m in map(json.loads, open(sys.argv[1])) if m["event"] == "epoch"][-1]
print("%.1f %.4f" % (e["images_per_s"], e["allreduce_s"] / e["epoch_s"]))' "$1"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

one=() many=() share=()
for rep in $(seq "$reps"); do
  read -r ips _ < <(run 1 "$rep"); one+=("$ips")
  read -r ips frac < <(run "$ranks" "$rep"); many+=("$ips"); share+=("$frac")
  echo "rep $rep: 1 rank ${one[-1]} img/s, $ranks ranks ${many[-1]} img/s (all-reduce ${share[-1]})"
done
m1=$(printf '%s\n' "${one[@]}" | median)
mn=$(printf '%s\n' "${many[@]}" | median)
ms=$(printf '%s\n' "${share[@]}" | median)
{
  echo "config: ${config#"$ROOT"/} ${overrides[*]} epochs=$epochs reps=$reps"
  echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), commit $(git -C "$ROOT" rev-parse --short HEAD)"
  printf '| ranks | images/s (median) | all-reduce share of epoch time |\n|---|---|---|\n'
  printf '| 1 | %.0f | - |\n| %d | %.0f | %.1f%% |\n' "$m1" "$ranks" "$mn" "$(awk -v s="$ms" 'BEGIN { print 100 * s }')"
  awk -v a="$m1" -v b="$mn" -v n="$ranks" 'BEGIN { printf "scaling efficiency (%d-rank / (%d x 1-rank)): %.3f\n", n, n, b / (n * a) }'
} | tee "$out/summary.md"
