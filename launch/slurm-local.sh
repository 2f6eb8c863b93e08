#!/usr/bin/env bash
# slurm-local.sh -- a real one-node SLURM cluster on this machine (munged, slurmctld, slurmd), for
# the slurm tests and for trying slurm/*.sbatch without a cluster. Debian, as root.
#
# Usage: launch/slurm-local.sh start|stop|status
#
#   start   installs what is missing (slurmctld slurmd slurm-client munge, and libpmix-dev for the
#           pmix MPI plugin of Debian's slurm), starts its own munged with its own key and socket,
#           writes slurm.conf (this host as the only node, its real CPUs and memory, partition
#           "local") and starts slurmctld and slurmd; returns once the node is idle (at most
#           about 40 s, else an error naming the log to read). Prints the SLURM_CONF to export;
#           where the system has no /etc/slurm/slurm.conf, links it to this cluster's config
#           until stop, so that sbatch works in any new shell without SLURM_CONF.
#   stop    cancels the jobs, stops the daemons it started and what they left running. Idempotent.
#   status  exit 0 and one line when the node answers, else exit 1.
#
# Environment:
#   VIT_SLURM_DIR   folder for everything (config, state, spool, logs, munge): /tmp/vit-slurm
#   VIT_SLURM_PORT  slurmctld port, slurmd uses the next one: 6917 (not 6817, so that a real
#                   slurm on the machine is left alone)
# The clients need the config:  export SLURM_CONF=$VIT_SLURM_DIR/etc/slurm.conf
set -euo pipefail

dir="${VIT_SLURM_DIR:-/tmp/vit-slurm}"
port="${VIT_SLURM_PORT:-6917}"
conf="$dir/etc/slurm.conf"
node="$(hostname -s)"
export SLURM_CONF="$conf"

die() { echo "error: slurm-local.sh: $*" >&2; exit 1; }
say() { echo "slurm-local: $*"; }

# pid_of NAME: the pid in NAME's pid file when that process is alive, else nothing.
pid_of() {
  local file="$dir/run/$1.pid" pid
  [ -s "$file" ] || return 0
  pid="$(cat "$file")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds; 1 on time-out.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

node_idle() { [ "$(timeout 10 sinfo -h -n "$node" -o %t 2>/dev/null)" = idle ]; }
ctld_up() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
no_jobs_running() { [ -z "$(timeout 10 squeue -h -t R,CG,CF -o %i)" ]; }

# stop_pids PID...: SIGTERM to all (each daemon takes about 2 s to end), up to 10 s, then SIGKILL.
all_gone() { local p; for p in "$@"; do ! kill -0 "$p" 2>/dev/null || return 1; done; }
stop_pids() {
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  wait_for 10 all_gone "$@" || { say "killing what ignores SIGTERM: $*"; kill -KILL "$@" 2>/dev/null || true; }
}

install_missing() {
  local missing=() cmd pkg
  for pair in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null || missing+=("$pkg")
  done
  # Debian's srun --mpi=pmix plugin dlopens pmix2/lib/libpmix.so, the unversioned name that only
  # libpmix-dev has (libopenmpi-dev brings it too).
  dpkg -s libpmix-dev >/dev/null 2>&1 || missing+=(libpmix-dev)
  [ ${#missing[@]} -gt 0 ] || return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Where an init runs, the packages start their own services (a system munged on its default
  # socket; slurmd and slurmctld fail for want of /etc/slurm/slurm.conf). Ours use their own
  # socket, ports and files, so the two do not meet.
  timeout 300 apt-get install -y --no-install-recommends "${missing[@]}" >"$dir/log/apt.log" 2>&1 \
    || { timeout 120 apt-get update >>"$dir/log/apt.log" 2>&1 \
         && timeout 300 apt-get install -y --no-install-recommends "${missing[@]}" \
              >>"$dir/log/apt.log" 2>&1; } \
    || die "apt-get install ${missing[*]} failed, see $dir/log/apt.log"
}

start_munge() {
  [ -z "$(pid_of munged)" ] || return 0
  local key="$dir/munge/munge.key"
  if [ ! -s "$key" ]; then
    dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    chmod 400 "$key"
  fi
  rm -f "$dir/munge/munge.socket" "$dir/munge/munge.socket.lock"
  munged --socket="$dir/munge/munge.socket" --key-file="$key" --pid-file="$dir/run/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
    || die "munged did not start, see $dir/log/munged.log"
  wait_for 10 bash -c "munge -n -S '$dir/munge/munge.socket' | unmunge -S '$dir/munge/munge.socket'" \
    || die "munged does not answer on $dir/munge/munge.socket, see $dir/log/munged.log"
}

write_conf() {
  local hw
  # The node line as slurmd itself sees this machine: CPUs, sockets, cores, threads, RealMemory.
  hw="$(slurmd -C | head -n 1)"
  [[ "$hw" == NodeName=* ]] || die "slurmd -C printed no node line: $hw"
  hw="${hw#NodeName=* }"
  cat >"$conf" <<EOF
# Written by launch/slurm-local.sh: a one-node test cluster, everything under $dir.
ClusterName=vitlocal
SlurmctldHost=$node
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups (containers, CI): processes tracked by parentage, tasks not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# srun picks the MPI plugin per step (--mpi=pmix in slurm/*.sbatch).
MpiDefault=none
# A node that comes back is usable at once; jobs can be requeued (scontrol requeue).
ReturnToService=2
JobRequeue=1
PreemptType=preempt/none
PreemptMode=OFF
# Short timeouts so that tests fail fast, and quick scheduling of new and requeued jobs.
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=60
BatchStartTimeout=20
InactiveLimit=0
KillWait=10
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2,sched_min_interval=100000
NodeName=$node $hw State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

# A new shell has no SLURM_CONF, and sbatch then reads /etc/slurm/slurm.conf, or fails with a DNS
# error looking for a controller. Where the system has no slurm.conf of its own, that name is
# linked to this cluster's while it runs (stop removes the link; an existing file is left alone).
system_conf=/etc/slurm/slurm.conf
link_system_conf() {
  [ ! -e "$system_conf" ] && [ ! -L "$system_conf" ] || return 0
  mkdir -p "$(dirname "$system_conf")" && ln -s "$conf" "$system_conf" \
    && say "linked $system_conf to $conf: new shells need no SLURM_CONF until stop"
}
unlink_system_conf() {
  [ "$(readlink "$system_conf" 2>/dev/null)" != "$conf" ] || rm -f "$system_conf"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "start needs root (SlurmUser=root, munged and slurmd as root)"
  mkdir -p "$dir"/{etc,state,spool,run,log,munge}
  # munged: every folder above its socket must be searchable by all.
  chmod 711 "$dir" "$dir/munge"
  local up="$dir"
  while up="$(dirname "$up")" && [ "$up" != / ]; do
    [ "$(( 0$(stat -c %a "$up") & 1 ))" -eq 1 ] \
      || die "munged needs $up to be searchable by all (chmod o+x $up), or another VIT_SLURM_DIR"
  done
  if [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of slurmd)" ] && node_idle; then
    say "already running ($conf)"
    link_system_conf
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  stop quiet
  install_missing
  start_munge
  write_conf
  # -c: a fresh cluster, no jobs from an earlier start.
  slurmctld -c -f "$conf" || die "slurmctld did not start, see $dir/log/slurmctld.log"
  wait_for 20 ctld_up || die "slurmctld does not answer within 20 s, see $dir/log/slurmctld.log"
  slurmd -f "$conf" -N "$node" || die "slurmd did not start, see $dir/log/slurmd.log"
  wait_for 20 node_idle || {
    sinfo -N -l >&2 || true
    die "node $node not idle within 20 s, see $dir/log/slurmd.log and slurmctld.log"
  }
  say "node $node idle: $(sinfo -h -n "$node" -o '%c CPUs, %m MB, partition %P')"
  link_system_conf
  echo "export SLURM_CONF=$conf"
}

# Job processes that outlive slurmd: slurmstepd and its children carry our SLURM_CONF.
leftover_steps() {
  local p
  for p in $(pgrep -x slurmstepd || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$conf"; then
      echo "$p"
    fi
  done
}

stop() {
  local quiet=${1:-} pid p stray pids
  [ -d "$dir/run" ] || { [ -n "$quiet" ] || say "not running"; return 0; }
  if [ -n "$(pid_of slurmctld)" ]; then
    timeout 15 scancel --full --quiet --partition=local 2>/dev/null || true
    timeout 15 scancel --quiet --partition=local 2>/dev/null || true
    wait_for 15 no_jobs_running || say "jobs still ending, stopping anyway"
  fi
  pids=()
  for name in slurmd slurmctld munged; do
    pid="$(pid_of "$name")"
    [ -z "$pid" ] || pids+=("$pid")
  done
  stop_pids "${pids[@]}"
  rm -f "$dir"/run/{slurmd,slurmctld,munged}.pid
  stray="$(leftover_steps)"
  for p in $stray; do
    pkill -KILL -P "$p" 2>/dev/null || true
    kill -KILL "$p" 2>/dev/null || true
  done
  unlink_system_conf
  [ -n "$quiet" ] || say "stopped (files kept in $dir)"
}

status() {
  if [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of slurmd)" ] && ctld_up; then
    say "up: $(sinfo -h -n "$node" -o 'node %N %t, %c CPUs, partition %P'); export SLURM_CONF=$conf"
  else
    say "down (slurmctld pid: $(pid_of slurmctld), slurmd pid: $(pid_of slurmd))"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  -h|--help) sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" ;;
  *) die "usage: slurm-local.sh start|stop|status" ;;
esac
