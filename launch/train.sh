#!/usr/bin/env bash
# train.sh -- start a data-parallel vit-train job on this machine (or on a hostfile's machines)
# with mpirun and the flags it needs.
#
# Usage: launch/train.sh [-n RANKS] [--hostfile FILE] [CONFIG] [--section.key VALUE ...]
#
#   -n RANKS         number of ranks (default 2); on a GPU machine, one per GPU
#   --hostfile FILE  machines to run on (OpenMPI hostfile: "host slots=N" per line)
#   CONFIG           INI file (default configs/mnist.ini)
#   overrides        passed on to vit-train (--run-dir DIR, --train.epochs 3, ...)
#
# Flags chosen here: when the ranks fit on this machine's cores, each rank is bound to its share
# of them (--map-by slot:PE=cores/ranks --bind-to core: its threads keep their caches and never
# share a core with another rank's); --oversubscribe and no binding when they do not; the root flags
# when run as root; -x to pass the environment that matters (library paths, threads, NCCL).
# Extra mpirun flags: VIT_MPIRUN_FLAGS="--mca btl_tcp_if_include eth0" launch/train.sh ...
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "error: $*" >&2; exit 1; }

ranks=2
hostfile=""
config="$ROOT/configs/mnist.ini"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--np) [ $# -ge 2 ] || die "train.sh: $1 needs a number"; ranks=$2; shift 2 ;;
    --hostfile) [ $# -ge 2 ] || die "train.sh: --hostfile needs a file"; hostfile=$2; shift 2 ;;
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --*) args+=("$1"); shift; if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then args+=("$1"); shift; fi ;;
    *) config=$1; shift ;;
  esac
done
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || die "train.sh: -n must be a positive number, got '$ranks'"
[ -f "$config" ] || die "train.sh: config file not found: $config"
vit_train="${VIT_TRAIN_BIN:-$ROOT/build/vit-train}"  # tests point this at their build
[ -x "$vit_train" ] || die "$vit_train not built: run launch/setup.sh first"
command -v mpirun >/dev/null || die "mpirun not found: run launch/setup.sh (installs openmpi-bin)"

flags=()
if [ -n "$hostfile" ]; then
  [ -f "$hostfile" ] || die "train.sh: hostfile not found: $hostfile"
  flags+=(--hostfile "$hostfile" --map-by ppr:1:core --bind-to core)
elif [ "$ranks" -le "$(nproc)" ]; then
  # (--map-by core alone would bind a 1-rank job's threads to a single core)
  flags+=(--map-by "slot:PE=$(($(nproc) / ranks))" --bind-to core)
else
  flags+=(--oversubscribe --bind-to none)
fi
[ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
# Open MPI gives every rank a pseudo-terminal whatever this script's stdout is; tell vit-train
# what it really is, so that log.progress=auto draws a bar on a terminal and lines elsewhere.
if [ -z "${VIT_TERMINAL:-}" ]; then
  if [ -t 1 ]; then export VIT_TERMINAL=1; else export VIT_TERMINAL=0; fi
fi
for var in VIT_TERMINAL LD_LIBRARY_PATH PATH OMP_NUM_THREADS NCCL_DEBUG NCCL_SOCKET_IFNAME CUDA_VISIBLE_DEVICES; do
  [ -z "${!var:-}" ] || flags+=(-x "$var")
done
# shellcheck disable=SC2206  # word splitting of the user's extra flags is intended
extra=(${VIT_MPIRUN_FLAGS:-})

exec mpirun -n "$ranks" "${flags[@]}" "${extra[@]}" \
  "$vit_train" --config "$config" "${args[@]}"
