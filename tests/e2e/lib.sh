# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Sourced by the end-to-end test scripts, which ctest calls as SCRIPT VIT_TRAIN MAKE_TEST_DATA
# SOURCE_DIR: the arguments, a work folder removed at exit (with a background job of the test's
# and every process under it, if it set `job`), fail(), strip() for comparing metrics without
# their timings (metric_schema() says which ones), check_metrics, and helpers for runs in the
# background (wait_for, ranks_of).
set -euo pipefail
vit_train=$1 make_data=$2 src=$3
tools=$(dirname "$make_data")
export VIT_TRAIN_BIN=$vit_train  # launch/train.sh runs this build's program
# The tests' build of vit-train, which injects the faults its environment asks for
# (VIT_TEST_DRIFT_RANK, VIT_TEST_CHECKPOINT_DELAY_MS: tests/tools/injected_faults.cpp).
faulty_vit_train=$tools/vit-train-faults
work=$(mktemp -d)
job=""
# shellcheck disable=SC2317  # called by the trap
e2e_cleanup() { [ -z "$job" ] || kill_tree "$job"; rm -rf "$work"; }
# kill_tree PID: kill -9 of PID and every process under it (launch/train.sh's mpirun is in a
# session of its own: killing its process group would miss it).
kill_tree() { local child; for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill -9 "$1" 2>/dev/null || true; }
trap e2e_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# metric_schema: the path of a file holding `vit-train --metric-schema` (metrics.jsonl's fields,
# one JSON object each), made on first use (atomically: strip may run twice at once under diff).
metric_schema() {
  local file="$work/metric-schema.jsonl" part="$work/metric-schema.jsonl.$BASHPID"
  if [ ! -s "$file" ]; then
    "$vit_train" --metric-schema > "$part" || fail "vit-train --metric-schema failed"
    mv "$part" "$file"
  fi
  echo "$file"
}
# strip METRICS_FILE: its lines without the fields that measure time (the schema's timings; a
# timing field is never first, so each goes with the comma before it).
strip() {
  local schema timings
  schema=$(metric_schema)
  timings=$(python3 -c 'import json, sys
print("|".join(sorted({f["key"] for f in map(json.loads, open(sys.argv[1])) if f["timing"]})))' \
    "$schema")
  [ -n "$timings" ] || fail "no timing fields in $schema"
  sed -E "s/,\"($timings)\":[^,}]*//g" "$1"
}
# check_metrics METRICS_FILE [--world N] [--epochs N]: the metrics.jsonl contract (every line
# parses, has its fields as the schema declares them, steps never go down, no line twice).
check_metrics() {
  local schema
  schema=$(metric_schema)
  python3 "$src/tests/e2e/check_metrics.py" --schema "$schema" "$@" > /dev/null || exit 1
}
# mpi N PROGRAM ARGS...: PROGRAM on N ranks of this machine, oversubscribing its cores (ctest's
# environment also allows root; the flag is added here for runs by hand), at most 2 minutes.
mpi() {
  local n=$1 root=()
  shift
  [ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)
  timeout 120 mpirun -n "$n" --oversubscribe --bind-to none "${root[@]}" "$@"
}
# wait_for FILE PATTERN: until PATTERN is in FILE (30 s at most).
wait_for() { for _ in $(seq 300); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$1"; fail "timed out waiting for '$2'"; }
# ranks_of RUN_DIR: the pids of the vit-train processes of that run (or vit-train-faults', whose
# name the kernel keeps as "vit-train-fault").
ranks_of() { pgrep -f -- "--run-dir $1( |$)" | while read -r p; do
  case "$(cat "/proc/$p/comm" 2>/dev/null)" in vit-train | vit-train-fault) echo "$p" ;; esac
  done; }
