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
# share a core with another rank's); --oversubscribe and no binding when they do not; with a
# hostfile, ranks fill each machine's slots in order, unbound (each machine's cores are its ranks');
# the root flags when run as root; -x to pass the environment that matters (library paths, threads,
# NCCL); TCP keepalives every 10 s on mpirun's links to its daemons, so that a machine that drops
# off the network ends the job 10 to 20 s later, after the ranks have said which one it is
# (without them mpirun waits for a lost machine for many minutes).
# Extra mpirun flags: VIT_MPIRUN_FLAGS="--mca btl_tcp_if_include eth0" launch/train.sh ...
#
# Stopping: SIGTERM (kill, a batch system), SIGINT (Ctrl-C), SIGHUP and SIGUSR1 to this script are
# passed on as SIGUSR1 to mpirun, which forwards it to every rank, once a second until mpirun ends
# (one that came while mpirun was starting its ranks would be lost); the ranks write a checkpoint
# at the next step and exit 75, and so does this script: "stopped, resume me" (--resume auto).
# Ranks that were still starting die of the SIGUSR1 (status 138) with nothing trained since the
# last checkpoint: a stop as well, 75 here. mpirun runs in a session of its own, so that a Ctrl-C
# or a hang-up reaches this script alone (mpirun's own handling of SIGINT and SIGTERM ends the job
# with status 1 and kills the ranks after 1 s). kill -9 of this script leaves mpirun running.
# Open MPI's boxes after a rank's non-zero exit are left out (launch/mpirun-filter.awk): an error
# is the rank's one "error:" line, a stop train.sh's line, a rank killed one line naming it.
# Exit status: mpirun's (0 done, 1 error, 75 stopped with a checkpoint, 128+N a rank killed by N).
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
    -h|--help) sed -n '2,32s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --*) args+=("$1"); shift; if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then args+=("$1"); shift; fi ;;
    *) config=$1; shift ;;
  esac
done
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || die "train.sh: -n must be a positive number, got '$ranks'"
[ -f "$config" ] || die "train.sh: config file not found: $config"
vit_train="${VIT_TRAIN_BIN:-$ROOT/build/vit-train}"  # tests point this at their build
[ -x "$vit_train" ] || die "$vit_train not built: run launch/setup.sh first"
command -v mpirun >/dev/null || die "mpirun not found: run launch/setup.sh (installs openmpi-bin)"

# mpirun and its ranks need file descriptors (sockets to the ranks, shared memory, the run's
# files): below a few dozen mpirun fails with a page about missing network interfaces. A low soft
# limit is raised towards the hard one (vit-train does the same for itself); a hard limit below
# what a rank needs is one line here.
need_files=256
hard_files=$(ulimit -Hn)
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 4096 ]; then
  if [ "$hard_files" = unlimited ] || [ "$hard_files" -ge 4096 ]; then ulimit -Sn 4096
  else ulimit -Sn "$hard_files"; fi
fi
[ "$(ulimit -Sn)" = unlimited ] || [ "$(ulimit -Sn)" -ge "$need_files" ] \
  || die "the open-file limit (ulimit -n) is $(ulimit -Sn) (hard limit $hard_files), below the" \
    "$need_files a rank needs for MPI's connections and its files: raise it (ulimit -n 4096," \
    "or the batch system's limit)"

cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc alone obeys OMP_NUM_THREADS
flags=()
if [ -n "$hostfile" ]; then
  [ -f "$hostfile" ] || die "train.sh: hostfile not found: $hostfile"
  flags+=(--hostfile "$hostfile" --map-by slot --bind-to none)
elif [ "$ranks" -le "$cores" ]; then
  # (--map-by core alone would bind a 1-rank job's threads to a single core)
  flags+=(--map-by "slot:PE=$((cores / ranks))" --bind-to core)
else
  flags+=(--oversubscribe --bind-to none)
fi
[ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
flags+=(--mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 5)
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

# bash runs a trap only between commands, and `wait` returns early when one runs: so mpirun goes
# to the background, the trap passes the signal on, and the loop waits again until mpirun has ended.
stop_signal=""
pid=""
resender=""
# shellcheck disable=SC2317  # called from the traps
forward() {
  stop_signal=$1
  echo "train.sh: $1: the ranks checkpoint and stop (SIGUSR1 to mpirun)" >&2 || true
  resend
}
# resend: SIGUSR1 to mpirun now and from then on once a second while it runs, by a helper in a
# session of its own (where a Ctrl-C or a signal to this process group cannot end it).
resend() {
  [ -n "$pid" ] || return 0
  kill -USR1 "$pid" 2>/dev/null || true
  if [ -n "$resender" ] && kill -0 "$resender" 2>/dev/null; then return 0; fi
  # shellcheck disable=SC2016  # $1: the helper's own argument
  setsid bash -c 'while sleep 1 && kill -USR1 "$1"; do :; done' resend "$pid" > /dev/null 2>&1 &
  resender=$!
}
for signal in TERM INT HUP USR1; do
  # shellcheck disable=SC2064  # the signal's name is fixed when the trap is set
  trap "forward SIG$signal" "$signal"
done
# mpirun's stderr (where the ranks' stderr arrives too) passes through launch/mpirun-filter.awk:
# it drops Open MPI's boxes about a job whose rank exited non-zero (the rank has said why, or the
# stop has been announced) and turns a rank killed by a signal into one line. The filter ignores
# the stop signals, so that a Ctrl-C does not cut the pipe mpirun writes to.
# (mawk, Debian's awk, reads a pipe in blocks unless -W interactive: lines would wait for the next
# 4 KiB or the end.)
awk_cmd=(awk)
if command -v mawk > /dev/null; then awk_cmd=(mawk -W interactive); fi
exec 3> >(trap '' INT TERM HUP USR1; exec "${awk_cmd[@]}" -f "$ROOT/launch/mpirun-filter.awk" >&2)
filter=$!
setsid mpirun -n "$ranks" "${flags[@]}" "${extra[@]}" \
  "$vit_train" --config "$config" "${args[@]}" < /dev/null 2>&3 3>&- &
pid=$!  # mpirun's own: setsid execs it (a background job is no process group leader)
[ -z "$stop_signal" ] || resend  # a signal that came before $!
# A wait cut short by a trap returns 128+N while mpirun runs on, and bash may run that trap only
# after the next command, so neither the status nor a flag set by the trap says whether mpirun has
# ended: the process itself does. Once it is gone (and reaped), `wait` gives its own status, which
# bash keeps, at once (the SIGUSR1 can kill an mpirun that is still starting: 138).
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || true
done
rc=0
wait "$pid" || rc=$?
if [ -n "$resender" ]; then
  kill -KILL "$resender" 2>/dev/null || true
  wait "$resender" 2>/dev/null || true  # reaped quietly (bash would report it "Killed")
fi
[ -z "$stop_signal" ] || [ "$rc" -ne 138 ] || rc=75  # ranks that were still starting
# The filter's last lines before this script's status: it ends when the pipe's last writer does,
# which is mpirun, unless a process mpirun started outlives it (an ssh to a machine that dropped
# off the network): then after 2 s it is stopped.
exec 3>&-
for _ in $(seq 20); do kill -0 "$filter" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$filter" 2>/dev/null || true  # (it ignores the stop signals)
wait "$filter" 2>/dev/null || true
exit "$rc"
