#!/usr/bin/env bash
# demo.sh -- install, build, fetch the data and train one config; then say how it went.
#
# Usage: launch/demo.sh [CONFIG] [--section.key VALUE ...]
#
#   CONFIG     INI file (default configs/mnist.ini); relative paths are tried from the
#              current folder, then from the repository root
#   overrides  passed on to vit-train, e.g. `launch/demo.sh configs/mnist.ini --train.epochs 1`
#
# Environment: VIT_RANKS    ranks to train on (default 2, with mpirun through launch/train.sh)
#              VIT_RUN_DIR  run directory (default runs/demo-<config>-<YYYYmmdd-HHMMSS>)
#              VIT_OFFLINE=1  do not try to download the official MNIST (see get-data.sh)
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

case "${1:-}" in
  -h|--help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac

# abspath P: P made absolute against the current folder (the file need not exist).
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# --- config: first argument unless it is an override ----------------------------------------
CONFIG="$ROOT/configs/mnist.ini"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  if [ -f "$1" ]; then
    CONFIG="$(abspath "$1")"
  elif [ -f "$ROOT/$1" ]; then
    CONFIG="$ROOT/$1"
  else
    die "config file not found: $1"
  fi
  shift
fi
[ -f "$CONFIG" ] || die "config file not found: $CONFIG"
NAME="$(basename "$CONFIG" .ini)"

if [ -n "${VIT_RUN_DIR:-}" ]; then
  RUN_DIR="$(abspath "$VIT_RUN_DIR")"
else
  RUN_DIR="$ROOT/runs/demo-$NAME-$(date +%Y%m%d-%H%M%S)"
fi

# ini_get SECTION KEY FILE: the value of KEY in [SECTION] (last one wins), comments stripped.
ini_get() {
  awk -v want_sec="$1" -v want_key="$2" '
    { sub(/\r$/, "") }
    /^[ \t]*[#;]/ { next }
    /^[ \t]*\[/ { sec = $0; gsub(/^[ \t]*\[[ \t]*|[ \t]*\].*$/, "", sec); next }
    sec == want_sec && index($0, "=") {
      key = substr($0, 1, index($0, "=") - 1); gsub(/^[ \t]+|[ \t]+$/, "", key)
      if (key != want_key) next
      val = substr($0, index($0, "=") + 1); sub(/[ \t]+[#;].*$/, "", val)
      gsub(/^[ \t]+|[ \t]+$/, "", val); found = val
    }
    END { if (found != "") print found }' "$3"
}

# The data set (and folder) come from the config, unless an override on the command line
# (--data.dataset X or --data.dataset=X) says otherwise.
DATASET="$(ini_get data dataset "$CONFIG")"
DATA_DIR="$(ini_get data dir "$CONFIG")"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --data.dataset=*) DATASET="${args[i]#*=}" ;;
    --data.dir=*) DATA_DIR="${args[i]#*=}" ;;
    --data.dataset) DATASET="${args[i + 1]:-}" ;;
    --data.dir) DATA_DIR="${args[i + 1]:-}" ;;
  esac
done
DATASET="${DATASET:-mnist}"

# ---------------------------------------------------------------------------------------------
# train CONFIG RUN_DIR [OVERRIDES...]: the training run itself, data-parallel on VIT_RANKS ranks
# (default 2) through launch/train.sh (mpirun).
train() {
  local config="$1" run_dir="$2"
  shift 2
  "$ROOT/launch/train.sh" -n "${VIT_RANKS:-2}" "$config" --run-dir "$run_dir" "$@"
}
# ---------------------------------------------------------------------------------------------

"$ROOT/launch/setup.sh"

# vit-train resolves data.dir (default data/<dataset>) against the current folder: the root.
cd "$ROOT"
if [ -n "$DATA_DIR" ]; then
  "$ROOT/launch/get-data.sh" "$DATASET" "$DATA_DIR"
else
  "$ROOT/launch/get-data.sh" "$DATASET"
fi

echo "demo: training ${CONFIG#"$ROOT"/} ($DATASET) on ${VIT_RANKS:-2} ranks into $RUN_DIR"
start=$SECONDS
rc=0
train "$CONFIG" "$RUN_DIR" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
  if [ -s "$RUN_DIR/train.log" ]; then
    echo "error: training failed (exit $rc); see $RUN_DIR/train.log" >&2
  else
    echo "error: training failed (exit $rc)" >&2
  fi
  exit "$rc"
fi

# --- summary from the run directory ---------------------------------------------------------
METRICS="$RUN_DIR/metrics.jsonl"
last="$(grep -E '"event"[[:space:]]*:[[:space:]]*"epoch"' "$METRICS" 2>/dev/null | tail -n 1 || true)"
json_num() { sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\([-+0-9.eE]*\).*/\1/p" <<<"$last"; }
acc="$(json_num test_acc)"
epoch="$(json_num epoch)"
[ -n "$acc" ] || die "no epoch line with test_acc in $METRICS"

# show PATH: the path, marked when the run did not leave it.
show() { if [ -e "$2" ]; then printf '  %-12s %s\n' "$1" "$2"; else printf '  %-12s %s (missing)\n' "$1" "$2"; fi; }
echo
awk -v a="$acc" -v e="$epoch" -v s="$((SECONDS - start))" \
  'BEGIN { printf "demo: final test accuracy %.2f%% (epoch %s, %d s of training)\n", 100 * a, e, s }'
show "run dir" "$RUN_DIR"
show "metrics" "$METRICS"
show "log" "$RUN_DIR/train.log"
show "config" "$RUN_DIR/config.ini"
show "model" "$RUN_DIR/checkpoints/final.pt"
# The curves of the run (launch/plot.sh; gnuplot comes with launch/setup.sh).
if plot="$("$ROOT/launch/plot.sh" "$RUN_DIR" 2>"$RUN_DIR/plot.err")"; then
  rm -f "$RUN_DIR/plot.err"
  show "plot" "$plot"
else
  echo "warning: no plot: $(tail -n 1 "$RUN_DIR/plot.err")" >&2
fi
