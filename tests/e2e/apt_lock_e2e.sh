#!/usr/bin/env bash
# End-to-end: launch/apt.sh (used by setup.sh and get-data.sh) waits for a package lock that another
# process holds, saying which process, and goes on when it is free; it gives up with one error line
# after VIT_APT_LOCK_TIMEOUT seconds. The test holds a lock of its own (an fcntl lock, as dpkg
# takes them) on a file that VIT_TEST_APT_LOCKS makes apt.sh watch instead of dpkg's.
# Usage: apt_lock_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v lslocks > /dev/null || fail "lslocks (util-linux) not found"
lock="$work/lock-frontend"
: > "$lock"
export VIT_TEST_APT_LOCKS="$work/unused-lock $lock"
# hold SECONDS: an fcntl write lock on $lock for SECONDS, in the background; waits until it is held.
hold() {
  python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "w"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[1] + ".held", "w").close()
time.sleep(float(sys.argv[2]))' "$lock" "$1" &
  job=$!
  for _ in $(seq 100); do [ -e "$lock.held" ] && break; sleep 0.05; done
  rm -f "$lock.held"
}
# run_apt: `apt-get --version` through apt.sh's apt_get, as setup.sh does it.
run_apt() {
  bash -c 'die() { echo "error: $*" >&2; exit 1; }; APT_WHO=test; source "$1"; apt_get --version' \
    _ "$src/launch/apt.sh"
}

# Free: no message, apt-get runs.
run_apt > "$work/free.out" 2> "$work/free.err" || { cat "$work/free.err"; fail "free: apt_get failed"; }
grep -q '^apt ' "$work/free.out" || fail "free: apt-get did not run"
[ ! -s "$work/free.err" ] || { cat "$work/free.err"; fail "free: unexpected messages"; }

# Held for 3 s: a message naming the holder, then apt-get runs after the lock is free.
hold 3
start=$SECONDS
run_apt > "$work/held.out" 2> "$work/held.err" || { cat "$work/held.err"; fail "held: apt_get failed"; }
grep -q "^test: waiting for the package lock, held by process $job (python3), for up to 600 s" \
  "$work/held.err" || { cat "$work/held.err"; fail "held: no message naming the holder"; }
grep -q '^test: package lock free after [0-9]* s' "$work/held.err" || fail "held: no 'free' message"
grep -q '^apt ' "$work/held.out" || fail "held: apt-get did not run after the wait"
[ $((SECONDS - start)) -ge 1 ] || fail "held: did not wait"
wait "$job"

# Held for longer than VIT_APT_LOCK_TIMEOUT: one error line, exit 1, apt-get not run.
hold 20
rc=0
VIT_APT_LOCK_TIMEOUT=2 run_apt > "$work/stuck.out" 2> "$work/stuck.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$work/stuck.err"; fail "stuck: exit $rc, expected 1"; }
[ "$(grep -c '^error: ' "$work/stuck.err")" -eq 1 ] || { cat "$work/stuck.err"; fail "stuck: not one error line"; }
grep -q "^error: the package lock is still held by process $job (python3) after 2 s" "$work/stuck.err" \
  || { cat "$work/stuck.err"; fail "stuck: the error does not name the holder and the time"; }
[ ! -s "$work/stuck.out" ] || fail "stuck: apt-get ran although the lock was held"
kill "$job" && { wait "$job" 2>/dev/null || true; }
job=""
echo "apt lock: waits, names the holder, gives up after the timeout"
