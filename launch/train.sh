#!/usr/bin/env bash
# train.sh -- start a data-parallel vit-train job on this machine (or on a hostfile's machines)
# with mpirun and the flags it needs.
#
# Usage: launch/train.sh [-n RANKS] [--hostfile FILE] [--max-restarts N [--min-ranks M]]
#                        [CONFIG] [--section.key VALUE ...]
#
#   -n RANKS           number of ranks (default 2); on a GPU machine, one per GPU
#   --hostfile FILE    machines to run on (OpenMPI hostfile: "host slots=N" per line)
#   --max-restarts N   start a job that failed in a way a restart can mend (a rank killed, a rank
#                      or machine that stopped answering, a machine mpirun lost) again from its
#                      last checkpoint, N times at most (default 0: never); see "Restarts" below
#   --min-ranks M      with --hostfile: a restart leaves out the machines that do not answer and
#                      goes on with the ranks left, if at least M (default: RANKS, all of them)
#   --restart-wait S   seconds before the first restart, doubled for each next one (default 2)
#   CONFIG             INI file (default configs/mnist.ini)
#   overrides          passed on to vit-train (--run-dir DIR, --train.epochs 3, ...)
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
# Exit status: mpirun's (0 done, 1 error, 75 stopped with a checkpoint, 69 a rank or machine that
# stopped answering, 128+N a rank killed by N).
#
# Restarts (--max-restarts N): which failures are restarted is launch/restart-policy.sh's rule;
# never a configuration or data error (1), a stop (75) or success. A restart runs the same command
# with --resume auto on the same run directory (without --run-dir, this script names it as
# vit-train would, runs/<config>-<time>, and points runs/latest at it), after a wait of S, 2S, 4S
# ... seconds (60 at most), and says in one line what failed, which checkpoint it goes on from and
# attempt k of N; vit-train writes a "restart" line into metrics.jsonl and the log. With a
# hostfile, every machine of it is asked first (mpirun starts `true` there, 10 s at most): those
# that do not answer are left out of this restart, and one that answers again is taken back in at
# a later one; fewer ranks than --min-ranks ends the job. A restart needs the attempt before it to
# have written a checkpoint (the first one excepted): a job that fails before its first
# checkpoint every time gives up after one restart instead of spinning.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "error: $*" >&2; exit 1; }

ranks=2
hostfile=""
max_restarts=0
min_ranks=""
restart_wait=2
config="$ROOT/configs/mnist.ini"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--np) [ $# -ge 2 ] || die "train.sh: $1 needs a number"; ranks=$2; shift 2 ;;
    --hostfile) [ $# -ge 2 ] || die "train.sh: --hostfile needs a file"; hostfile=$2; shift 2 ;;
    --max-restarts) [ $# -ge 2 ] || die "train.sh: --max-restarts needs a number"; max_restarts=$2; shift 2 ;;
    --min-ranks) [ $# -ge 2 ] || die "train.sh: --min-ranks needs a number"; min_ranks=$2; shift 2 ;;
    --restart-wait) [ $# -ge 2 ] || die "train.sh: --restart-wait needs seconds"; restart_wait=$2; shift 2 ;;
    -h|--help) sed -n '2,52s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --*) args+=("$1"); shift; if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then args+=("$1"); shift; fi ;;
    *) config=$1; shift ;;
  esac
done
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || die "train.sh: -n must be a positive number, got '$ranks'"
if ! [[ "$max_restarts" =~ ^[0-9]+$ ]] || [ "$max_restarts" -gt 1000 ]; then
  die "train.sh: --max-restarts must be a number from 0 to 1000, got '$max_restarts'"
fi
min_ranks=${min_ranks:-$ranks}
if ! [[ "$min_ranks" =~ ^[1-9][0-9]*$ ]] || [ "$min_ranks" -gt "$ranks" ]; then
  die "train.sh: --min-ranks must be a number from 1 to -n ($ranks), got '$min_ranks'"
fi
[[ "$restart_wait" =~ ^[0-9]+(\.[0-9]+)?$ ]] \
  || die "train.sh: --restart-wait must be seconds (a number), got '$restart_wait'"
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
[ -z "$hostfile" ] || [ -f "$hostfile" ] || die "train.sh: hostfile not found: $hostfile"
# place HOSTFILE: the flags that put the ranks on the machines (of HOSTFILE, or this one).
place() {
  if [ -n "$1" ]; then
    placement=(--hostfile "$1" --map-by slot --bind-to none)
  elif [ "$ranks" -le "$cores" ]; then
    # (--map-by core alone would bind a 1-rank job's threads to a single core)
    placement=(--map-by "slot:PE=$((cores / ranks))" --bind-to core)
  else
    placement=(--oversubscribe --bind-to none)
  fi
}
flags=()
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
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vit-train-sh.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# With restarts, the run directory must be known before the first attempt: the one given, or the
# name vit-train would choose (runs/<config>-<time>, with runs/latest pointing at it).
run_dir=""
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[i]}" != --run-dir ] || run_dir=${args[i + 1]:-}
done
if [ "$max_restarts" -gt 0 ] && [ -z "$run_dir" ]; then
  stem=$(basename "$config"); stem=${stem%.*}
  run_dir="runs/${stem:-run}-$(date +%Y%m%d-%H%M%S)"
  mkdir -p "$run_dir"
  if [ ! -e runs/latest ] || [ -L runs/latest ]; then
    ln -s "$(basename "$run_dir")" "runs/.latest.tmp.$$" && mv -T "runs/.latest.tmp.$$" runs/latest
  fi
  args+=(--run-dir "$run_dir")
fi
# shellcheck source=launch/restart-policy.sh
. "$ROOT/launch/restart-policy.sh"

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
# stop has been announced) and turns a rank killed by a signal into one line; what ended the job
# goes to its causes file too. The filter ignores the stop signals, so that a Ctrl-C does not cut
# the pipe mpirun writes to.
# (mawk, Debian's awk, reads a pipe in blocks unless -W interactive: lines would wait for the next
# 4 KiB or the end.)
awk_cmd=(awk)
if command -v mawk > /dev/null; then awk_cmd=(mawk -W interactive); fi

# launch RANKS HOSTFILE ARGS...: one mpirun of the job; sets rc to its status.
launch() {
  local n=$1 hosts=$2 filter placement=()
  shift 2
  place "$hosts"
  : > "$scratch/causes"
  exec 3> >(trap '' INT TERM HUP USR1
            exec "${awk_cmd[@]}" -v causes="$scratch/causes" -f "$ROOT/launch/mpirun-filter.awk" >&2)
  filter=$!
  setsid mpirun -n "$n" "${placement[@]}" "${flags[@]}" "${extra[@]}" \
    "$vit_train" --config "$config" "$@" < /dev/null 2>&3 3>&- &
  pid=$!  # mpirun's own: setsid execs it (a background job is no process group leader)
  [ -z "$stop_signal" ] || resend  # a signal that came before $!
  # A wait cut short by a trap returns 128+N while mpirun runs on, and bash may run that trap only
  # after the next command, so neither the status nor a flag set by the trap says whether mpirun
  # has ended: the process itself does. Once it is gone (and reaped), `wait` gives its own status,
  # which bash keeps, at once (the SIGUSR1 can kill an mpirun that is still starting: 138).
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || true
  done
  rc=0
  wait "$pid" || rc=$?
  pid=""
  if [ -n "$resender" ]; then
    kill -KILL "$resender" 2>/dev/null || true
    wait "$resender" 2>/dev/null || true  # reaped quietly (bash would report it "Killed")
    resender=""
  fi
  # The filter's last lines before this script's: it ends when the pipe's last writer does, which
  # is mpirun, unless a process mpirun started outlives it (an ssh to a machine that dropped off
  # the network): then after 2 s it is stopped.
  exec 3>&-
  for _ in $(seq 20); do kill -0 "$filter" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$filter" 2>/dev/null || true  # (it ignores the stop signals)
  wait "$filter" 2>/dev/null || true
}

# answering_hosts: the lines of the hostfile whose machine answers (mpirun starts `true` there
# within 10 s), into $scratch/hosts; prints the machines that do not answer.
answering_hosts() {
  local line host i probes=() lines=()
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    [ -n "${line// /}" ] || continue
    lines+=("$line")
    host=$(awk '{print $1}' <<<"$line")
    timeout -k 2 10 mpirun -n 1 --host "$host" "${flags[@]}" "${extra[@]}" true \
      < /dev/null > /dev/null 2>&1 &
    probes+=($!)
  done < "$hostfile"
  : > "$scratch/hosts"
  for ((i = 0; i < ${#lines[@]}; i++)); do
    if wait "${probes[i]}"; then
      echo "${lines[i]}" >> "$scratch/hosts"
    else
      printf '%s ' "$(awk '{print $1}' <<<"${lines[i]}")"
    fi
  done
}

# slots_of FILE: the ranks a hostfile holds (slots=N per line, 1 where it says none).
slots_of() {
  awk '{ n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=[0-9]+$/) { sub(/^slots=/, "", $i); n = $i }
         total += n } END { print total + 0 }' "$1"
}

# pause SECONDS: sleeps, cut short by a stop signal.
pause() {
  sleep "$1" &
  local sleeper=$!
  while kill -0 "$sleeper" 2>/dev/null && [ -z "$stop_signal" ]; do wait "$sleeper" || true; done
  kill "$sleeper" 2>/dev/null || true
}

attempt=0
n=$ranks
hosts=$hostfile
attempt_args=("${args[@]}")
while true; do
  before=""
  [ -z "$run_dir" ] || before=$(latest_checkpoint "$run_dir")
  launch "$n" "$hosts" "${attempt_args[@]}"
  [ -z "$stop_signal" ] || [ "$rc" -ne 138 ] || rc=75  # ranks that were still starting
  if [ "$rc" -eq 0 ] || [ -n "$stop_signal" ] || [ "$max_restarts" -eq 0 ]; then exit "$rc"; fi
  if ! cause=$(restart_cause "$rc" "$scratch/causes"); then
    [ "$rc" -eq 75 ] || echo "train.sh: not restarted: exit status $rc is an error that a restart" \
      "cannot mend (configuration, data, or the program)" >&2
    exit "$rc"
  fi
  after=$(latest_checkpoint "$run_dir")
  if [ "$attempt" -ge "$max_restarts" ]; then
    echo "error: train.sh: giving up after $attempt restart(s) (--max-restarts $max_restarts):" \
      "$cause; the last checkpoint: $(checkpoint_words "$after") in $run_dir (--resume auto" \
      "continues it)" >&2
    exit "$rc"
  fi
  if [ "$attempt" -ge 1 ] && [ "$after" = "$before" ]; then
    echo "error: train.sh: giving up: attempt $((attempt + 1)) failed before writing a" \
      "checkpoint, as restart $attempt's did not help: $cause; the last checkpoint:" \
      "$(checkpoint_words "$after") in $run_dir" >&2
    exit "$rc"
  fi
  attempt=$((attempt + 1))
  n=$ranks
  left_out=""
  if [ -n "$hostfile" ]; then
    left_out=$(answering_hosts)
    hosts="$scratch/hosts"
    slots=$(slots_of "$hosts")
    [ "$slots" -ge "$n" ] || n=$slots
    if [ "$n" -lt "$min_ranks" ]; then
      echo "error: train.sh: giving up: the machines that answer hold $n rank(s)" \
        "(${left_out:+not answering: }${left_out% }), fewer than --min-ranks $min_ranks; $cause;" \
        "the last checkpoint: $(checkpoint_words "$after") in $run_dir" >&2
      exit "$rc"
    fi
  fi
  wait_s=$(awk -v base="$restart_wait" -v k="$attempt" \
    'BEGIN { w = base * 2 ^ (k - 1); if (w > 60) w = 60; print w }')
  echo "train.sh: restart $attempt of $max_restarts in ${wait_s} s after $cause: $run_dir goes on" \
    "from $(checkpoint_words "$after") on $n rank(s)${left_out:+ (left out, not answering: ${left_out% })}" >&2
  pause "$wait_s"
  [ -z "$stop_signal" ] || exit 75  # asked to stop while waiting: the checkpoint is there
  # The same command on the same run directory, resumed from its newest checkpoint (one given by
  # --resume PATH stays while the run has none of its own).
  attempt_args=()
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[i]}" = --resume ] && [ -n "$after" ]; then i=$((i + 1)); continue; fi
    attempt_args+=("${args[i]}")
  done
  [ -z "$after" ] || attempt_args+=(--resume auto)
  export VIT_RESTART_ATTEMPT=$attempt VIT_RESTART_MAX=$max_restarts VIT_RESTART_CAUSE=$cause
  if [ "$attempt" -eq 1 ]; then flags+=(-x VIT_RESTART_ATTEMPT -x VIT_RESTART_MAX -x VIT_RESTART_CAUSE); fi
done
