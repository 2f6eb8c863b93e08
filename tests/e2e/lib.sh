# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Sourced by the end-to-end test scripts, which ctest calls as SCRIPT VIT_TRAIN MAKE_TEST_DATA
# SOURCE_DIR: the arguments, a work folder removed at exit (with a background job of the test's,
# if it set `job`), fail(), and strip() for comparing metrics without their timings.
set -euo pipefail
vit_train=$1 make_data=$2 src=$3
tools=$(dirname "$make_data")
export VIT_TRAIN_BIN=$vit_train  # launch/train.sh runs this build's program
work=$(mktemp -d)
job=""
# shellcheck disable=SC2317  # called by the trap
e2e_cleanup() { [ -z "$job" ] || kill -9 "$job" 2>/dev/null || true; rm -rf "$work"; }
trap e2e_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# strip METRICS_FILE: its lines without the fields that measure time.
strip() {
  sed -E 's/"(images_per_s|epoch_s|step_s|allreduce_s)":[^,]*,//g; s/,"elapsed_s":[^,}]*//' "$1"
}
# check_metrics METRICS_FILE [--world N] [--epochs N]: the metrics.jsonl contract (every line
# parses, required fields, steps never go down, no line twice).
check_metrics() { python3 "$src/tests/e2e/check_metrics.py" "$@" > /dev/null || exit 1; }
# mpi N PROGRAM ARGS...: PROGRAM on N ranks of this machine, oversubscribing its cores (ctest's
# environment also allows root; the flag is added here for runs by hand), at most 2 minutes.
mpi() {
  local n=$1 root=()
  shift
  [ "$(id -u)" -ne 0 ] || root=(--allow-run-as-root)
  timeout 120 mpirun -n "$n" --oversubscribe --bind-to none "${root[@]}" "$@"
}
