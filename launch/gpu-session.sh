#!/usr/bin/env bash
# gpu-session.sh -- the one call to make on a lent GPU machine: sets up the carried dependencies
# once, runs the GPU check, then the GPU benchmark with the time left, then, if time is left, the
# speedrun recipe's time to 98% on the GPU, all under one deadline, and leaves a few flat files in
# OUT_DIR.
#
# Usage: launch/gpu-session.sh OUT_DIR [--deadline SECONDS]
#
#   OUT_DIR     created; on the device machine: $OUT
#   --deadline  the whole run ends within this many seconds (default 570: 9 min 30 s, inside the
#               device tool's 10-minute command). The check gets at most 420 s of it; the
#               benchmark gets what is left (bench/gpu-compare.sh --budget: 2 epochs, or 1, rows
#               skipped rather than overrunning); 20 s are kept for the files.
# OUT_DIR then holds:
#   summary.md  read first: the machine, every step's verdict and time, the check's summary, the
#               benchmark's table and ratios, the speedrun's time to 98%
#   runs.tsv    the benchmark's rows (bench/gpu-compare.sh)
#   logs.tgz    every log, run folder and metrics file of the session (no checkpoints)
# Prepare on the development machine first: launch/gpu-prepare.sh prints the exact call. Without a
# GPU, every step that needs none runs (environment, configure, build, the CPU reference) and the
# session ends at one "no GPU" line with exit 2. Exit 0 when every step passed, 1 otherwise.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="" deadline=570
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --deadline)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "error: gpu-session.sh: --deadline needs a number of seconds" >&2; exit 1; }
      deadline=$2; shift ;;
    -*) echo "error: gpu-session.sh: unknown option $1" >&2; exit 1 ;;
    *) [ -z "$out" ] || { echo "error: gpu-session.sh: one OUT_DIR only" >&2; exit 1; }; out=$1 ;;
  esac
  shift
done
[ -n "$out" ] || { echo "usage: launch/gpu-session.sh OUT_DIR [--deadline SECONDS]" >&2; exit 1; }
if ! mkdir -p "$out"; then echo "error: gpu-session.sh: cannot create $out" >&2; exit 1; fi
out="$(cd "$out" && pwd)"
started=$SECONDS
# Everything is made in a work folder; OUT_DIR gets the few files above (the device tool brings
# back a handful of files, not deep folders).
work="$(mktemp -d "${TMPDIR:-/tmp}/vit-gpu-session.XXXXXX")"
summary="$work/summary.md"
left() { echo $((deadline - (SECONDS - started))); }
note() { echo "$*" >> "$summary"; echo "gpu-session: $*"; }
verdicts=()
verdict() { verdicts+=("$*"); echo "gpu-session: $*"; }
failures=0
no_gpu=""

# finish: writes OUT_DIR's files (also when a step overran or the script is stopped) and exits.
finished=0
finish() {
  local rc=$1
  [ "$finished" -eq 0 ] || return
  finished=1
  {
    echo
    echo "## Steps"
    echo
    for v in "${verdicts[@]}"; do echo "- $v"; done
    echo
    if [ -n "$no_gpu" ]; then
      echo "**Ended at: $no_gpu** (exit 2)"
    elif [ "$rc" -eq 0 ]; then
      echo "**Every step passed** in $((SECONDS - started)) s (deadline $deadline s)."
    else
      echo "**$failures step(s) failed** (exit $rc) after $((SECONDS - started)) s (deadline $deadline s)."
    fi
    for part in "check:The check (launch/gpu-check.sh)" "compare:The benchmark (bench/gpu-compare.sh)"; do
      [ -s "$work/${part%%:*}/summary.md" ] || continue
      echo
      echo "## ${part#*:}"
      # (its own title line dropped, its other headings one level down)
      sed '1{/^# /d}; s/^#/##/' "$work/${part%%:*}/summary.md"
    done
    if [ -s "$work/speedrun/table.md" ]; then
      echo
      echo "## The speedrun on the GPU (bench/speedrun.sh)"
      echo
      cat "$work/speedrun/table.md"
    fi
  } >> "$summary"
  cp "$summary" "$out/summary.md"
  [ ! -s "$work/compare/runs.tsv" ] || cp "$work/compare/runs.tsv" "$out/runs.tsv"
  tar czf "$out/logs.tgz" -C "$work" --exclude='*.pt' --exclude='data' --exclude='*.idx*' . \
    2> /dev/null || echo "gpu-session: warning: logs.tgz incomplete" >&2
  echo "gpu-session: wrote $out/summary.md$([ -s "$out/runs.tsv" ] && echo ", runs.tsv"), logs.tgz ($((SECONDS - started)) s)"
  rm -rf "$work"
  [ -z "$no_gpu" ] || echo "error: gpu-session: $no_gpu" >&2
  exit "$rc"
}
trap 'failures=$((failures + 1)); verdict "stopped by a signal"; finish 1' INT TERM

# shellcheck source=launch/source-commit.sh
. "$ROOT/launch/source-commit.sh"
{
  echo "# GPU session"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(vit_source_commit "$ROOT"), host $(hostname), deadline $deadline s"
} > "$summary"

# --- env: once for every step --------------------------------------------------------------------
step_start=$SECONDS
# shellcheck source=launch/gpu-env.sh
if . "$ROOT/launch/gpu-env.sh" > "$work/env.log" 2>&1; then
  gpu_line=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i 0 2>/dev/null || echo "none visible to nvidia-smi")
  torch_line=$(${PYTHON:-python3} -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>/dev/null || echo "no torch in ${PYTHON:-python3}")
  note "GPU: $gpu_line; torch $torch_line; libraries: $VIT_GPU_ENV; $(mpirun --version 2>&1 | head -n 1)"
  verdict "env: ok ($((SECONDS - step_start)) s) -- libraries: $VIT_GPU_ENV"
else
  failures=$((failures + 1))
  verdict "env: FAILED -- $(grep -m1 '^error:' "$work/env.log" || tail -n 1 "$work/env.log")"
  finish 1
fi
if [ -d "$ROOT/data/mnist" ]; then
  note "data: data/mnist present ($(du -sh "$ROOT/data/mnist" | cut -f1)); gpu-check verifies it"
else
  note "data: no data/mnist (carry it): the check trains on synthetic digits and the benchmark is skipped"
fi

# --- the check -----------------------------------------------------------------------------------
# --dry-run: the check's steps that need no GPU run first; on a GPU machine it changes nothing.
step_start=$SECONDS
# 150 s are kept for the benchmark; on a short deadline (a session with little device time left)
# the check comes first and gets all but the 20 s for the files: a cold build alone takes ~90 s.
cap=$(( $(left) - 150 ))
[ "$cap" -ge 240 ] || cap=$(( $(left) - 20 ))
[ "$cap" -le 420 ] || cap=420
if [ "$cap" -lt 60 ]; then
  failures=$((failures + 1))
  verdict "check: not run -- $(left) s left of the deadline"
  finish 1
fi
timeout -k 10 "$cap" "$ROOT/launch/gpu-check.sh" "$work/check" --dry-run > "$work/check.out" 2>&1
rc=$?
case "$rc" in
  0) verdict "check: ok ($((SECONDS - step_start)) s) -- $(tail -n 1 "$work/check/summary.md")" ;;
  2) no_gpu=$(sed -n 's/^error: gpu-check: //p' "$work/check.out" | tail -n 1)
     verdict "check: every step before the first GPU step passed ($((SECONDS - step_start)) s)"
     verdict "compare: not run (needs a GPU)"
     verdict "speedrun: not run (needs a GPU)"
     finish 2 ;;
  124|137) failures=$((failures + 1))
     verdict "check: STOPPED at its $cap s share of the deadline, in step $(grep -o '^gpu-check: [a-z0-9-]* \.\.\.' "$work/check.out" | tail -n 1 | cut -d' ' -f2)" ;;
  *) failures=$((failures + 1))
     verdict "check: FAILED (exit $rc, $((SECONDS - step_start)) s) -- $(grep -m1 '^error:' "$work/check.out" || tail -n 1 "$work/check.out")" ;;
esac

# --- the benchmark -------------------------------------------------------------------------------
step_start=$SECONDS
budget=$(( $(left) - 20 ))
vit_train=${VIT_GPU_BUILD:-$ROOT/build-gpu}/vit-train
if [ ! -x "$vit_train" ]; then
  failures=$((failures + 1))
  verdict "compare: not run -- the check built no $vit_train"
elif [ ! -d "$ROOT/data/mnist" ]; then
  failures=$((failures + 1))
  verdict "compare: not run -- no data/mnist (carry it)"
elif [ "$budget" -lt 90 ]; then
  failures=$((failures + 1))
  verdict "compare: not run -- $budget s left"
else
  VIT_TRAIN_BIN=$vit_train timeout -k 10 "$budget" "$ROOT/bench/gpu-compare.sh" "$work/compare" \
    --budget "$((budget - 10))" --data "$ROOT/data/mnist" > "$work/compare.out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    verdict "compare: ok ($((SECONDS - step_start)) s, budget $budget s) -- $(grep -c $'\tok$' "$work/compare/runs.tsv") runs ok, $(grep -c $'\tskipped' "$work/compare/runs.tsv") skipped"
  else
    failures=$((failures + 1))
    verdict "compare: FAILED (exit $rc, $((SECONDS - step_start)) s, budget $budget s) -- $(grep -m1 '^error:' "$work/compare.out" || tail -n 1 "$work/compare.out")"
  fi
fi

# --- the speedrun on the GPU: with what the benchmark left ----------------------------------------
# configs/mnist-speedrun.ini on this GPU, vit-train alone, one seed (bench/speedrun.sh): its time
# to 98% test accuracy (training seconds, evaluations excluded). Runs only when the benchmark left
# the time for it, and takes none from the steps above; not run is not a failure.
step_start=$SECONDS
budget=$(( $(left) - 20 ))
if [ ! -x "$vit_train" ] || [ ! -d "$ROOT/data/mnist" ]; then
  verdict "speedrun: not run -- needs $vit_train and data/mnist"
elif [ "$budget" -lt 40 ]; then
  verdict "speedrun: not run -- $budget s left"
else
  VIT_TRAIN_BIN=$vit_train VIT_SPEEDRUN_TIMEOUT=$((budget - 5)) timeout -k 10 "$budget" \
    "$ROOT/bench/speedrun.sh" -n 1 -s 1 --no-reference -o "$work/speedrun" \
    --dist.device cuda --data.dir "$ROOT/data/mnist" > "$work/speedrun.out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    verdict "speedrun: ok ($((SECONDS - step_start)) s) -- $(grep -m1 '^vit-train:' "$work/speedrun/table.md")"
  else
    failures=$((failures + 1))
    verdict "speedrun: FAILED (exit $rc, $((SECONDS - step_start)) s, budget $budget s) -- $(grep -m1 '^error:' "$work/speedrun.out" || tail -n 1 "$work/speedrun.out")"
  fi
fi

[ "$failures" -eq 0 ] && finish 0
finish 1
