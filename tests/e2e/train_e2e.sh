#!/usr/bin/env bash
# End-to-end: the real vit-train on a small synthetic data set. Checks the run directory contract
# (config.ini, metrics.jsonl, train.log, checkpoints/final.pt), that config.ini reproduces the run,
# and that bad input ends in one "error:" line naming the key or file and a non-zero exit.
# Usage: train_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 512 128
run="$work/run"
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$run" \
  > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; fail "smoke run exited non-zero"; }
for f in config.ini metrics.jsonl train.log checkpoints/final.pt; do
  [ -s "$run/$f" ] || fail "run directory lacks $f"
done
epochs=$(grep -c '"event":"epoch"' "$run/metrics.jsonl")
[ "$epochs" -eq "$(sed -n 's/^epochs = //p' "$run/config.ini")" ] || fail "$epochs epoch lines"
# Every line with the fields vit-train --metric-schema declares for its kind, in order.
check_metrics "$run/metrics.jsonl" --world 1 --epochs 2
grep -q 'final test accuracy' "$run/train.log" || fail "train.log lacks the final accuracy"
# Step lines every log.every_steps (4) steps: 16 steps give 4; steps never go down.
[ "$(grep -c '"event":"step"' "$run/metrics.jsonl")" -eq 4 ] || fail "not 4 step lines"
sed -E 's/.*"step":([0-9]+).*/\1/' "$run/metrics.jsonl" | awk 'NR > 1 && $1 < last { bad = 1 }
  { last = $1 } END { exit bad }' || fail "steps go down in metrics.jsonl"

# log.every_steps auto: about 50 step lines per epoch, here every step of the 8-step epochs; the
# console gets them by time: with log.console_every_s 3600, only the run's first.
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$work/auto" \
  --log.every_steps auto --log.console_every_s 3600 --log.progress lines > "$work/auto.txt" 2>&1 \
  || { cat "$work/auto.txt"; fail "log.every_steps auto run exited non-zero"; }
[ "$(grep -c '"event":"step"' "$work/auto/metrics.jsonl")" -eq 16 ] || fail "auto: not 16 step lines"
[ "$(grep -c ' step [0-9]* (' "$work/auto.txt")" -eq 1 ] \
  || { cat "$work/auto.txt"; fail "auto: not exactly one console step line in an hour's window"; }

# Pruning through the config, on real checkpoints: one every step of the 16, the newest 2 kept
# and every 5th for good.
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$work/pruned" \
  --checkpoint.every_steps 1 --checkpoint.keep_last 2 --checkpoint.keep_every 5 > /dev/null 2>&1 \
  || fail "checkpointing run failed"
kept=$(cd "$work/pruned/checkpoints" && echo *)
[ "$kept" = "LATEST final.pt step-00000005.pt step-00000010.pt step-00000015.pt step-00000016.pt" ] \
  || fail "checkpoints kept: $kept"
[ "$(cat "$work/pruned/checkpoints/LATEST")" = step-00000016.pt ] || fail "LATEST is not step 16"

# The saved config.ini reproduces the run exactly (same seed, same machine).
"$vit_train" --config "$run/config.ini" --run-dir "$work/rerun" > /dev/null 2>&1 \
  || fail "rerun from config.ini failed"
[ "$(strip "$run/metrics.jsonl")" = "$(strip "$work/rerun/metrics.jsonl")" ] \
  || fail "rerun from config.ini gave different losses"

# Bad input: exit status 1, a single line on stderr that starts with "error:" and names the culprit.
expect_error() {
  local fragment=$1; shift
  set +e
  "$vit_train" "$@" > "$work/stdout" 2> "$work/stderr"
  local rc=$?
  set -e
  [ "$rc" -eq 1 ] || fail "exit $rc, not 1, for: $*"
  [ "$(wc -l < "$work/stderr")" -eq 1 ] || { cat "$work/stderr"; fail "not one line for: $*"; }
  grep -q "^error: .*$fragment" "$work/stderr" || { cat "$work/stderr"; fail "no '$fragment'"; }
}
expect_error "model.n_heads" --config "$src/configs/smoke.ini" --data.dir "$work/data" \
  --run-dir "$work/bad" --model.n_heads 3
expect_error "nowhere.ini" --config "$work/nowhere.ini"
# A GPU chosen by index is understood, and one the machine lacks is named (without a GPU: "rank 0
# on host H sees no usable GPU"; with fewer than 100: "would train on GPU 99").
expect_error "dist.device cuda:99: .*GPU" --config "$src/configs/smoke.ini" --data.dir \
  "$work/data" --run-dir "$work/bad-gpu" --dist.device cuda:99
printf '[model]\nhiden_d = 8\n' > "$work/typo.ini"
expect_error "typo.ini.*model.hiden_d" --config "$work/typo.ini"
mkdir -p "$work/broken"
cp "$work/data"/*.gz "$work/broken/"
head -c 1000 "$work/data/t10k-images-idx3-ubyte.gz" > "$work/broken/t10k-images-idx3-ubyte.gz"
expect_error "t10k-images-idx3-ubyte.gz" --config "$src/configs/smoke.ini" \
  --data.dir "$work/broken" --run-dir "$work/bad2"

# Two jobs on one run directory: the second stops at once, naming the first; the first goes on.
VIT_TEST_CHECKPOINT_DELAY_MS=300 "$faulty_vit_train" --config "$src/configs/smoke.ini" \
  --data.dir "$work/data" --run-dir "$work/locked" --checkpoint.every_steps 1 --log.level debug \
  > "$work/locked.out" 2>&1 &
job=$!
wait_for "$work/locked.out" 'checkpoint .* written'
expect_error "locked: in use by another vit-train job (pid $job on host " \
  --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$work/locked" --resume auto
[ "$(wc -l < "$work/stderr")" -eq 1 ] || { cat "$work/stderr"; fail "the lock error is not one line"; }
kill -TERM "$job"
set +e; wait "$job"; rc=$?; set -e; job=""
[ "$rc" -eq 75 ] || { tail -n 3 "$work/locked.out"; fail "the first job: exit $rc, not 75"; }

"$vit_train" --help > "$work/help.txt" || fail "--help exited non-zero"
grep -q -- '--model.hidden_d' "$work/help.txt" || fail "--help does not list the keys"
"$vit_train" --version | grep -q '^vit-train .*(revision ' || fail "--version lacks the revision"
"$vit_train" --version | grep -q '^LibTorch ' || fail "--version lacks LibTorch"
echo "e2e train: ok"

# Overrides stack: the last of a repeated key wins (smoke.ini says 2 epochs), and the start-up
# table says where each value came from.
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$work/stacked" \
  --train.epochs 1 --train.epochs 3 > "$work/stacked.txt" 2>&1 \
  || { cat "$work/stacked.txt"; fail "repeated override refused"; }
[ "$(grep -c '"event":"epoch"' "$work/stacked/metrics.jsonl")" -eq 3 ] || fail "not the last value's 3 epochs"
grep -Eq '^\| train\.epochs +\| 3  \(command line\)' "$work/stacked.txt" || fail "table: epochs not from the command line"
grep -Eq '^\| train\.batch_size +\| 64  \(file\)' "$work/stacked.txt" || fail "table: batch_size not from the file"
grep -Eq '^\| model defaults +\| .*mlp_ratio=4' "$work/stacked.txt" || fail "table: mlp_ratio not among the model's defaults"
echo "e2e train: repeated override, last wins; origins in the table; ok"
