# apt.sh -- sourced by setup.sh and get-data.sh: run apt-get as root, waiting for the package lock.
#
# On a machine that is still installing something (an unattended upgrade, a second set-up), apt-get
# fails at once with "could not get lock". apt_get waits instead, with a visible message, for at
# most VIT_APT_LOCK_TIMEOUT seconds (default 600), then runs apt-get with DPkg::Lock::Timeout so
# that a lock taken in between is waited for too (apt-get update does not honour that option for
# its lists lock, hence our own wait before every call).
#
# Callers define die(); APT_WHO names them in messages ("setup", "data"); the waiting messages go
# to file descriptor APT_MSG_FD (default 2), so that they stay visible when apt's output is logged.

APT_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock
           /var/cache/apt/archives/lock)
# Tests watch lock files of their own instead (tests/e2e/apt_lock_e2e.sh).
# shellcheck disable=SC2206  # split on purpose: a list of paths without spaces
[ -z "${VIT_TEST_APT_LOCKS:-}" ] || APT_LOCKS=($VIT_TEST_APT_LOCKS)

# Run a command as root: directly when root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "not root and no sudo: cannot run '$*' (run as root, or install sudo)"
  fi
}

# apt_lock_holder: "PID COMMAND" of a process holding one of apt's locks, or nothing.
apt_lock_holder() {
  command -v lslocks >/dev/null 2>&1 || return 0
  local pattern
  pattern="$(printf '%s|' "${APT_LOCKS[@]}")"
  lslocks -n -o PID,COMMAND,PATH 2>/dev/null \
    | awk -v re="^(${pattern%|})\$" '$3 ~ re { print $1, $2; exit }'
}

# wait_for_apt_locks: returns when no process holds apt's locks; dies after the timeout.
wait_for_apt_locks() {
  local timeout="${VIT_APT_LOCK_TIMEOUT:-600}" waited=0 holder
  holder="$(apt_lock_holder)"
  [ -n "$holder" ] || return 0
  echo "${APT_WHO:-apt}: waiting for the package lock, held by process ${holder% *}" \
       "(${holder#* }), for up to $timeout s" >&"${APT_MSG_FD:-2}"
  while [ -n "$holder" ]; do
    [ "$waited" -lt "$timeout" ] \
      || die "the package lock is still held by process ${holder% *} (${holder#* }) after $timeout s; try again when it has finished (VIT_APT_LOCK_TIMEOUT sets the wait)"
    sleep 2
    waited=$((waited + 2))
    holder="$(apt_lock_holder)"
  done
  echo "${APT_WHO:-apt}: package lock free after $waited s" >&"${APT_MSG_FD:-2}"
}

# apt_get ARGS...: apt-get ARGS as root, non-interactive, after waiting for the lock.
apt_get() {
  wait_for_apt_locks
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get -o "DPkg::Lock::Timeout=${VIT_APT_LOCK_TIMEOUT:-600}" "$@"
}

# apt_install PKG...: refresh the package lists and install PKG (no recommends), quietly; on failure
# one error line with apt's last message (full log in a temporary file, named).
apt_install() {
  command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found: install the Debian package(s) $* and re-run"
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    die "not root and no sudo: install the Debian package(s) $* (apt-get install $*) and re-run"
  fi
  echo "${APT_WHO:-apt}: installing Debian package(s): $*" >&"${APT_MSG_FD:-2}"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/vit-apt.XXXXXX")"
  if ! { apt_get update -qq && apt_get install -y -qq --no-install-recommends "$@"; } >"$log" 2>&1; then
    die "apt-get install $* failed: $(grep -v '^[[:space:]]*$' "$log" | tail -n 1) (full log: $log)"
  fi
  rm -f "$log"
}
