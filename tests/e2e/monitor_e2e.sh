#!/usr/bin/env bash
# End-to-end: a validation split held out of the training set (data.val_split), the best epoch's
# model kept (checkpoint.keep_best) and early stopping (train.early_stop), on the real vit-train.
# vit-eval scores best.pt exactly as the best epoch's line scored the test set; the run stops at
# the epoch the val lines call for; resumed, a run that stopped early trains no further unless
# its patience is raised; bad combinations are one error line.
# Usage: monitor_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (vit-eval beside vit-train, or
# VIT_EVAL_BIN)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vit_eval=${VIT_EVAL_BIN:-$(dirname "$vit_train")/vit-eval}
[ -x "$vit_eval" ] || fail "$vit_eval is not built"

# 1024 training images, the last 64 held out (0.0625): 960 to train on, 15 steps of 64 an epoch.
# 200 test images: every accuracy k/200 prints exactly in metrics.jsonl's 6 digits.
"$make_data" "$work/data" 1024 200
run="$work/run"
args=(--config "$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0
      --data.test_limit 200 --data.val_split 0.0625 --train.epochs 12 --optim.lr 0.02
      --checkpoint.keep_best true --train.early_stop 1 --run-dir "$run")
"$vit_train" "${args[@]}" > "$work/train.out" 2>&1 \
  || { cat "$work/train.out"; fail "training run exited non-zero"; }
check_metrics "$run/metrics.jsonl" --world 1
grep -q 'validation images .*64 (data.val_split' "$work/train.out" \
  || fail "the start-up table does not show the 64 validation images"
grep -q '^monitor = val_acc$' "$run/config.ini" || fail "train.monitor auto is not val_acc"

# The val lines say when the run had to stop: the first epoch whose val_acc is no better than the
# best before it (patience 1). It stops there, before its 12 epochs, after that epoch's line.
python3 - "$run/metrics.jsonl" "$work/train.out" <<'PY' || fail "val lines and early stop disagree"
import json, re, sys
lines = [json.loads(t) for t in open(sys.argv[1])]
val = [l for l in lines if l["event"] == "val"]
epochs = [l for l in lines if l["event"] == "epoch"]
assert [v["epoch"] for v in val] == [e["epoch"] for e in epochs], "a val line per epoch line"
assert all(v["val_images"] == 64 and v["step"] == 15 * v["epoch"] for v in val), val[0]
best, stop = None, None
for v in val:
    if best is None or v["val_acc"] > best["val_acc"]:
        best = v
    elif stop is None:
        stop = v["epoch"]
assert stop is not None and stop < 12, f"no early stop to test: {[v['val_acc'] for v in val]}"
assert len(epochs) == stop, f"{len(epochs)} epochs, the val lines call for {stop}"
out = open(sys.argv[2]).read()
assert f"early stop after epoch {stop}/12: val_acc has not improved" in out, "no early stop line"
assert f"best model: " in out and f"(epoch {best['epoch']}, val_acc" in out, "no best line"
open(sys.argv[1] + ".best", "w").write(str(best["epoch"]))
PY
best_epoch=$(cat "$run/metrics.jsonl.best")

# best.pt is the best epoch's model: vit-eval scores the test set as that epoch's line did.
"$vit_eval" --checkpoint "$run/checkpoints/best.pt" --json > "$work/best.json" 2> "$work/eval.err" \
  || { cat "$work/eval.err"; fail "vit-eval of best.pt failed"; }
python3 - "$work/best.json" "$run/metrics.jsonl" "$best_epoch" <<'PY' || fail "best.pt scores unlike its epoch"
import json, sys
report = json.load(open(sys.argv[1]))
line = [l for l in map(json.loads, open(sys.argv[2]))
        if l["event"] == "epoch" and l["epoch"] == int(sys.argv[3])][0]
assert report["images"] == 200, report["images"]
assert abs(report["accuracy"] - line["test_acc"]) < 1e-9, (report["accuracy"], line["test_acc"])
assert abs(report["loss"] - line["test_loss"]) <= 1e-5 * max(1, line["test_loss"]), report["loss"]
PY

# Resumed as it was: the patience is spent, nothing is trained, exit 0.
epochs_before=$(grep -c '"event":"epoch"' "$run/metrics.jsonl")
"$vit_train" "${args[@]}" --resume auto > "$work/again.out" 2>&1 \
  || { cat "$work/again.out"; fail "resume of an early-stopped run exited non-zero"; }
grep -q "early stop: the run stopped after epoch $epochs_before: val_acc has not improved" \
  "$work/again.out" || { cat "$work/again.out"; fail "the resumed run does not say it stopped"; }
[ "$(grep -c '"event":"epoch"' "$run/metrics.jsonl")" -eq "$epochs_before" ] \
  || fail "the resumed run trained more epochs"
# With train.early_stop 0 it goes on to its 12 epochs; the changed key is named.
"$vit_train" "${args[@]}" --resume auto --train.early_stop 0 > "$work/more.out" 2>&1 \
  || { cat "$work/more.out"; fail "resume with train.early_stop 0 exited non-zero"; }
grep -q 'train.early_stop 1 -> 0' "$work/more.out" || fail "the changed key is not named"
check_metrics "$run/metrics.jsonl" --world 1 --epochs 12

# Bad combinations: one error line naming the key, exit 1, nothing trained.
expect_error() {
  local fragment=$1; shift
  set +e
  "$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" "$@" \
    > "$work/stdout" 2> "$work/stderr"
  local rc=$?
  set -e
  [ "$rc" -eq 1 ] || fail "exit $rc, not 1, for: $*"
  [ "$(wc -l < "$work/stderr")" -eq 1 ] || { cat "$work/stderr"; fail "not one line for: $*"; }
  grep -q "^error: .*$fragment" "$work/stderr" || { cat "$work/stderr"; fail "no '$fragment'"; }
}
expect_error "train.monitor: val_loss needs a validation set" --run-dir "$work/bad1" \
  --train.monitor val_loss
expect_error "data.val_split: must be in \[0, 1)" --run-dir "$work/bad2" --data.val_split 1
expect_error "data.val_split: 0.9999 of 512 training images leaves none to train on" \
  --run-dir "$work/bad3" --data.val_split 0.9999
echo "ok"
