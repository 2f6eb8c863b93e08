#!/usr/bin/env bash
# launch/runs.sh on real run directories: a finished run (done, its epochs, ranks and last test
# accuracy as metrics.jsonl has them), one with a validation split (its best epoch by val_acc), one
# while it trains (running: it holds the lock) and after a stop signal (stopped); --json; a
# missing folder is one error line.
# Usage: runs_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
runs_sh="$src/launch/runs.sh"

"$make_data" "$work/data" 512 128
smoke=(--config "$src/configs/smoke.ini" --data.dir "$work/data")
"$vit_train" "${smoke[@]}" --run-dir "$work/runs/plain" > "$work/plain.out" 2>&1 \
  || { cat "$work/plain.out"; fail "plain run failed"; }
"$vit_train" "${smoke[@]}" --run-dir "$work/runs/group/val" --data.val_split 0.25 \
  --train.epochs 4 --checkpoint.keep_best true > "$work/val.out" 2>&1 \
  || { cat "$work/val.out"; fail "run with a validation split failed"; }
[ "$("$runs_sh" "$work/empty-does-not-exist" 2>&1)" = \
  "error: runs.sh: $work/empty-does-not-exist is not a directory (a run directory, or a folder of them)" ] \
  || fail "a missing folder is not one error line"
mkdir "$work/empty"
"$runs_sh" "$work/empty" | grep -q "^no runs in $work/empty" || fail "an empty folder is not said so"

# A run that is training (each checkpoint held up 2 s), then stopped by SIGTERM.
VIT_TEST_CHECKPOINT_DELAY_MS=2000 "$faulty_vit_train" "${smoke[@]}" --run-dir "$work/runs/live" \
  --checkpoint.every_steps 1 --log.level debug > "$work/live.out" 2>&1 &
job=$!
wait_for "$work/live.out" 'checkpoint .* written'
"$runs_sh" --json "$work/runs" > "$work/while.jsonl"
kill -TERM "$job"
set +e; wait "$job"; rc=$?; set -e
[ "$rc" -eq 75 ] || { cat "$work/live.out"; fail "the stopped run exited $rc, not 75"; }
"$runs_sh" --json "$work/runs" > "$work/after.jsonl"
"$runs_sh" "$work/runs" > "$work/table.txt"

python3 - "$work" <<'PY' || { cat "$work/table.txt"; fail "runs.sh disagrees with the runs"; }
import json, os, sys
work = sys.argv[1]
def rows(name):
    return {os.path.relpath(r["run"], work + "/runs"): r for r in map(json.loads, open(f"{work}/{name}"))}
def epochs(run, event="epoch"):
    return [l for l in map(json.loads, open(f"{work}/runs/{run}/metrics.jsonl")) if l["event"] == event]
during, after = rows("while.jsonl"), rows("after.jsonl")
assert sorted(after) == ["group/val", "live", "plain"], sorted(after)
assert during["live"]["state"] == "running", during["live"]
assert after["live"]["state"] == "stopped", after["live"]
plain = after["plain"]
assert plain["state"] == "done" and (plain["epochs_done"], plain["epochs"]) == (2, 2), plain
assert plain["world_size"] == 1 and plain["test_acc"] == epochs("plain")[-1]["test_acc"], plain
assert plain["best"] is None and plain["model"] == "8x2, 2 heads", plain
assert abs(plain["train_s"] - sum(e["epoch_s"] for e in epochs("plain"))) < 1e-6, plain
val = after["group/val"]
scores = [(v["val_acc"], -v["epoch"]) for v in epochs("group/val", "val")]
best_acc, best_epoch = max(scores)
assert val["best"] == {"metric": "val_acc", "value": best_acc, "epoch": -best_epoch}, val["best"]
table = open(f"{work}/table.txt").read().splitlines()
assert table[0].split()[:3] == ["run", "state", "epochs"], table[0]
assert any(l.split()[:3] == [f"{work}/runs/plain", "done", "2/2"] for l in table), table
assert any(f"val_acc {100 * best_acc:.2f}% (epoch {-best_epoch})" in l for l in table), table
PY
echo "ok"
