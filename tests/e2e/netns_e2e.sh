#!/usr/bin/env bash
# Training across machines, and a machine that drops off the network, on hosts made of network
# namespaces of this machine (ip netns; a veth pair per host on one bridge): mpirun (through
# launch/train.sh --hostfile) starts a rank in each namespace with a remote-shell agent that runs
# `ip netns exec`, and the ranks talk TCP across the veths as between real machines.
#  1. Two hosts train: "2 rank(s) on 2 machine(s)", and metrics equal to the same job on one
#     machine (shared memory).
#  2. Host 2's link is cut in the middle of training: rank 0 names rank 1 as unreachable (asked
#     outside MPI, parallel/peer_probe), and the job ends with an error within dist.timeout_s
#     (train.sh's TCP keepalives let mpirun give the lost machine up), twice: with a timeout
#     longer than the keepalives (a warning names rank 1) and a shorter one (the error does).
#  3. The link is restored and the job resumed (--resume auto): its metrics equal the
#     uninterrupted job's.
#  4. Elastic: host 2's link cut under launch/train.sh --max-restarts 1 --min-ranks 1: host 2 does
#     not answer, so the job is restarted on host 1 alone from its last checkpoint and finishes;
#     every sample of each epoch trained exactly once (the samples each rank trained, step by
#     step, recorded by the tests' build), a "restart" line with world size 1.
# Needs root and ip netns (skipped, status 77, without them).
# Usage: netns_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip > /dev/null || skip "needs ip (iproute2)"
command -v unshare > /dev/null || skip "needs unshare (util-linux)"

# Names unique to this run (interface names: 15 characters at most) and a subnet from the pid.
tag="vt$(($$ % 100000))"
net_a=$(( ($$ / 250) % 250 + 1 )) net_b=$(( $$ % 250 + 1 ))
prefix="10.$net_a.$net_b"
bridge="$tag-br"
hosts=("$prefix.2" "$prefix.3")
netns_cleanup() {
  local i pid
  for i in 1 2; do
    for pid in $(ip netns pids "$tag-h$i" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$tag-h$i" 2>/dev/null || true
    ip link del "$tag-v$i" 2>/dev/null || true  # gone with its namespace, unless a process lingers
  done
  ip link del "$bridge" 2>/dev/null || true
}
# shellcheck disable=SC2317  # called by the trap
cleanup_all() { netns_cleanup; e2e_cleanup; }
trap cleanup_all EXIT

ip netns add "$tag-h1" 2>/dev/null || skip "ip netns does not work here"
ip link add "$bridge" type bridge || skip "no bridge devices here"
ip addr add "$prefix.1/24" dev "$bridge"
ip link set "$bridge" up
for i in 1 2; do
  [ "$i" -eq 1 ] || ip netns add "$tag-h$i"
  ip link add "$tag-v$i" type veth peer name eth0 netns "$tag-h$i"
  ip link set "$tag-v$i" master "$bridge" up
  ip netns exec "$tag-h$i" ip addr add "${hosts[$((i - 1))]}/24" dev eth0
  ip netns exec "$tag-h$i" ip link set eth0 up
  ip netns exec "$tag-h$i" ip link set lo up
done

# mpirun's remote-shell agent: `agent HOST COMMAND...` runs COMMAND in HOST's namespace, under a
# host name of its own (a UTS namespace: h1, h2), as on real machines; daemons that all called
# themselves by this machine's name sometimes failed to find each other at start-up.
cat > "$work/agent" <<EOF
#!/bin/sh
host=\$1; shift
case \$host in ${hosts[0]}) ns=$tag-h1 name=h1 ;; ${hosts[1]}) ns=$tag-h2 name=h2 ;; *) echo "agent: unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name && \$*"
EOF
chmod +x "$work/agent"
printf '%s slots=1\n' "${hosts[@]}" > "$work/hosts"
# The second daemon on one machine crashes in hwloc's shared topology without rtc_hwloc_vmhole.
export VIT_MPIRUN_FLAGS="--mca plm_rsh_agent $work/agent --mca oob_tcp_if_include $prefix.0/24
  --mca btl_tcp_if_include $prefix.0/24 --mca btl tcp,self --mca rtc_hwloc_vmhole none"

"$make_data" "$work/data" 1024 128
# 1024 images, 64 per rank and step: 8 steps per epoch on 2 ranks.
common=("$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0 --train.epochs 4
        --log.every_steps 1)
hosted() { timeout 240 "$src/launch/train.sh" -n 2 --hostfile "$work/hosts" "${common[@]}" "$@"; }

# --- 1. two machines train like one ---------------------------------------------------------
mpi 2 "$vit_train" --config "${common[@]}" --run-dir "$work/local" > "$work/local.log" 2>&1 \
  || { tail "$work/local.log"; fail "the job on one machine failed"; }
hosted --run-dir "$work/hosts2" > "$work/hosts2.log" 2>&1 \
  || { tail -20 "$work/hosts2.log"; fail "the job across two namespaces failed"; }
grep -q '2 rank(s) on 2 machine(s)' "$work/hosts2.log" \
  || { grep -i machine "$work/hosts2.log"; fail "the start-up table does not say 2 machines"; }
diff <(strip "$work/local/metrics.jsonl") <(strip "$work/hosts2/metrics.jsonl") \
  || fail "two machines trained differently from one"
echo "netns: 2 ranks on 2 hosts train as on one machine; ok"

# --- 2. a machine drops off the network -----------------------------------------------------
# cut NAME TIMEOUT: a job with dist.timeout_s = TIMEOUT whose second host loses its link after
# step 12; it must end (not 0) within TIMEOUT s, or within the 25 s that mpirun's keepalives from
# train.sh take when TIMEOUT is shorter, with rank 0 naming rank 1 as unreachable.
# A checkpoint every step, each held 100 ms (test-only delay): the run is still going when the
# link is cut (unslowed, its 32 steps take a second); checkpoints do not change the training.
cut() {
  local name=$1 timeout_s=$2 rc took
  VIT_TRAIN_BIN=$faulty_vit_train \
  VIT_TEST_CHECKPOINT_DELAY_MS=100 hosted --run-dir "$work/$name" --dist.timeout_s "$timeout_s" \
    --checkpoint.every_steps 1 > "$work/$name.log" 2>&1 &
  job=$!
  wait_for "$work/$name.log" ' step 12 '
  ip link set "$tag-v2" down
  local cut_at=$SECONDS
  for _ in $(seq 90); do kill -0 "$job" 2>/dev/null || break; sleep 1; done
  kill -0 "$job" 2>/dev/null && { tail -20 "$work/$name.log"; fail "$name: job still running 90 s after the cut"; }
  set +e; wait "$job"; rc=$?; set -e; job=""
  took=$((SECONDS - cut_at))
  [ "$rc" -ne 0 ] || fail "$name: the cut job ended with status 0"
  [ "$took" -le "$(( timeout_s > 25 ? timeout_s : 25 ))" ] \
    || fail "$name: the cut job took $took s to end (dist.timeout_s = $timeout_s s)"
  grep -Eq "rank 0: .*rank 1 \\(pid [0-9]+ on [^,]+, ${hosts[1]//./\\.}\\) is unreachable" \
    "$work/$name.log" || { tail -20 "$work/$name.log"; fail "$name: rank 0 did not name rank 1"; }
  grep -q 'lost communication with a remote daemon' "$work/$name.log" \
    || { tail -20 "$work/$name.log"; fail "$name: mpirun did not give the lost machine up"; }
  grep -E '^error: |\[warning\]' "$work/$name.log" || true
  echo "netns: $name: link cut at step 12+, job ended with status $rc $took s later; ok"
  # The link back; the cut-off host's daemon and rank notice the loss of mpirun on their own
  # (keepalives): gone before the next job starts, or killed.
  ip link set "$tag-v2" up
  for _ in $(seq 30); do [ -z "$(ip netns pids "$tag-h2")" ] && break; sleep 1; done
  for pid in $(ip netns pids "$tag-h2"); do kill -9 "$pid" 2>/dev/null || true; done
}
# mpirun's keepalives notice first: rank 0 has warned, naming rank 1.
cut cut40 40
# The watchdog first (after 6 s): rank 0's error names rank 1, and it waits for mpirun to give the
# machine up (exiting at once would leave mpirun waiting for the lost daemon for many minutes).
cut cut6 6
grep -Eq '^error: rank 0: the gradient all-reduce did not finish within dist.timeout_s = 6 s: rank 1 .* is unreachable .*ending the job \(when mpirun gives the lost machine up' \
  "$work/cut6.log" || fail "cut6: no watchdog error from rank 0"

# --- 3. the job resumed ----------------------------------------------------------------------
hosted --run-dir "$work/cut6" --dist.timeout_s 6 --resume auto > "$work/resume.log" 2>&1 \
  || { tail -20 "$work/resume.log"; fail "the resumed job failed"; }
# The resume line itself (the start-up table's "resumed from | (fresh start)" row matches a fresh
# start too), from a checkpoint written before the cut (the metrics comparison below would pass
# for a fresh run over the same steps as well).
grep -Eq 'resumed from .*/cut6/checkpoints/step-[0-9]{8}\.pt: step [1-9][0-9]*,' "$work/resume.log" \
  || { grep 'resume' "$work/resume.log"; fail "the job did not resume from a checkpoint of the cut run"; }
diff <(strip "$work/local/metrics.jsonl") <(strip "$work/cut6/metrics.jsonl") \
  || fail "cut and resumed, the job trained differently from an uninterrupted one"
echo "netns: resumed after the link came back, metrics equal the uninterrupted job's; ok"

# --- 4. elastic: the job goes on without the lost machine ----------------------------------------
# Host 2 may still hold the cut jobs' processes: gone by now, or killed.
for pid in $(ip netns pids "$tag-h2"); do kill -9 "$pid" 2>/dev/null || true; done
VIT_TRAIN_BIN=$faulty_vit_train VIT_TEST_CHECKPOINT_DELAY_MS=100 VIT_TEST_SAMPLE_TRACE=$work/trace \
  hosted --run-dir "$work/elastic" --dist.timeout_s 6 --checkpoint.every_steps 1 \
  --max-restarts 1 --min-ranks 1 --restart-wait 0.2 > "$work/elastic.log" 2>&1 &
job=$!
wait_for "$work/elastic.log" ' step 12 '
ip link set "$tag-v2" down
cut_at=$SECONDS
for _ in $(seq 120); do kill -0 "$job" 2>/dev/null || break; sleep 1; done
kill -0 "$job" 2>/dev/null && { tail -20 "$work/elastic.log"; fail "elastic: job still running 120 s after the cut"; }
set +e; wait "$job"; rc=$?; set -e; job=""
ip link set "$tag-v2" up
[ "$rc" -eq 0 ] || { tail -30 "$work/elastic.log"; fail "elastic: the job exited $rc, not 0"; }
grep -Eq "^train\.sh: restart 1 of 1 in 0\.2 s after .*: .*/elastic goes on from step-[0-9]{8}\.pt \(step [0-9]+\) on 1 rank\(s\) \(left out, not answering: ${hosts[1]//./\\.}\)$" \
  "$work/elastic.log" || { grep -n 'restart\|error' "$work/elastic.log"; fail "elastic: no restart line leaving host 2 out"; }
resumed=$(sed -n 's/.*"event":"restart","step":\([0-9]*\),.*"world_size":1,.*/\1/p' "$work/elastic/metrics.jsonl")
[ -n "$resumed" ] || { grep restart "$work/elastic/metrics.jsonl"; fail "elastic: no restart line of world size 1"; }
grep -q '"event":"epoch","epoch":4,' "$work/elastic/metrics.jsonl" || fail "elastic: the job did not finish"
check_metrics "$work/elastic/metrics.jsonl" --epochs 4
# Each epoch's samples: on 2 ranks up to the step resumed from, on 1 rank after it; together the
# 1024 images, each once.
python3 - "$work/trace" "$resumed" 1024 4 <<'PY' || fail "elastic: not every sample trained exactly once"
import collections, glob, sys
prefix, resumed, images, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
trained = collections.defaultdict(list)
for path in glob.glob(prefix + ".*"):
    for line in open(path):
        epoch, step, world, rank, *indices = map(int, line.split())
        if (world == 2 and step <= resumed) or (world == 1 and step > resumed):
            trained[epoch] += indices
for epoch in range(1, epochs + 1):
    if sorted(trained[epoch]) != list(range(images)):
        count = collections.Counter(trained[epoch])
        sys.exit(f"epoch {epoch}: {len(trained[epoch])} samples trained, "
                 f"{sum(1 for i in range(images) if count[i] != 1)} of {images} not exactly once")
PY
echo "netns: elastic: host 2 cut, restarted on host 1 alone from step $resumed $((SECONDS - cut_at)) s after the cut; every sample once; ok"
