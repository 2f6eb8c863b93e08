#!/usr/bin/env bash
# TensorBoard event files, read by the real `tensorboard` package (a test-only venv from PyPI, kept
# in ~/.cache/vit-train/test-python/tensorboard-venv; Skipped when PyPI cannot be reached): a run
# killed after its newest checkpoint (so its files hold steps beyond it) and resumed with
# --resume auto (as a restart of launch/train.sh --max-restarts: a restart line); then every tag,
# step and value of RUN_DIR/tb/ must be those of metrics.jsonl under
# the tags of vit-train --metric-schema, no step twice, nothing else but the config's hparams. And a tb/ that cannot be made ends the run with one error line.
# Usage: tensorboard_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="${VIT_CACHE_DIR:-$HOME/.cache/vit-train}/test-python/tensorboard-venv"
if ! "$venv/bin/python" -c 'import tensorboard.backend.event_processing.event_accumulator' \
     2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" > "$work/venv.log" 2>&1 \
    || { tail -3 "$work/venv.log"; echo "SKIP: cannot make a venv (python3-venv)"; exit 77; }
  "$venv/bin/python" -m pip install --disable-pip-version-check -q tensorboard \
    > "$work/pip.log" 2>&1 || { tail -3 "$work/pip.log"; echo "SKIP: cannot install tensorboard"; exit 77; }
fi

"$make_data" "$work/data" 2048 256
# 2048 images, the last 256 held out for validation, 64 a step: 28 steps an epoch, 84 in all; a
# step line every step, a checkpoint every 8th held 2 s (test-only delay) so that the kill below
# comes while step 48's is being written.
run="$work/run"
args=(--config "$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0
      --train.epochs 3 --log.every_steps 1 --checkpoint.every_steps 8 --train.eval_every_steps 20
      --data.val_split 0.125
      --run-dir "$run")
VIT_TEST_CHECKPOINT_DELAY_MS=2000 "$faulty_vit_train" "${args[@]}" > "$work/first.log" 2>&1 &
job=$!
wait_for "$work/first.log" ' step 45 '
sleep 0.5
kill -9 "$job"
set +e; wait "$job" 2>/dev/null; set -e; job=""
[ -d "$run/tb" ] || fail "no tb/ in the run directory"
latest=$(sed -E 's/step-0*([0-9]+)\.pt/\1/' "$run/checkpoints/LATEST")
# Resumed as launch/train.sh --max-restarts resumes it: a restart line, with its tags, too.
VIT_RESTART_ATTEMPT=1 VIT_RESTART_MAX=1 VIT_RESTART_CAUSE="vit-train killed by signal 9" \
  "$vit_train" "${args[@]}" --resume auto > "$work/resume.log" 2>&1 \
  || { tail "$work/resume.log"; fail "resume failed"; }
grep -q "^{\"event\":\"restart\",\"step\":$latest," "$run/metrics.jsonl" \
  || fail "no restart line at step $latest"
grep -q "resumed from .*: step $latest," "$work/resume.log" || fail "did not resume from step $latest"
grep -q "tb/events.out.tfevents.*: dropped [1-9][0-9]* event(s) after step $latest" \
  "$work/resume.log" || { grep -i 'dropped\|resumed' "$work/resume.log"; fail "no event dropped"; }
check_metrics "$run/metrics.jsonl" --world 1 --epochs 3

"$venv/bin/python" - "$run" "$(metric_schema)" <<'PY'
import glob, json, math, os, sys
import numpy as np
import tensorboard
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

run, schema = sys.argv[1], sys.argv[2]
TAGS = {}  # event -> {key: tag}, as vit-train --metric-schema declares them
for field in map(json.loads, open(schema)):
    TAGS.setdefault(field["event"], {})
    if field["tag"]:
        TAGS[field["event"]][field["key"]] = field["tag"]
assert TAGS.get("step") and TAGS.get("epoch"), f"{schema}: no tags of step and epoch lines"
want = {}  # (tag, step) -> value, from metrics.jsonl
for line in open(os.path.join(run, "metrics.jsonl")):
    m = json.loads(line)
    for key, tag in TAGS[m["event"]].items():
        assert (tag, m["step"]) not in want, f"metrics.jsonl: {tag} at step {m['step']} twice"
        want[(tag, m["step"])] = m[key]

# Every record of every file, in TensorBoard's file order: no (tag, step) twice, valid CRCs (the
# loader raises on a damaged record).
files = sorted(glob.glob(os.path.join(run, "tb", "*tfevents*")))
assert len(files) == 2, f"expected the first run's file and the resumed run's: {files}"
seen = {}
hparams = []  # the hparams plugin's session start infos, parsed by TensorBoard's own protos
for path in files:
    events = list(event_file_loader.LegacyEventFileLoader(path).Load())
    assert events and events[0].file_version == "brain.Event:2", f"{path}: no file_version first"
    for event in events:
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                assert value.tag == "_hparams_/session_start_info" and event.step == 0, value.tag
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                hparams.append((path, data.session_start_info.hparams))
                continue
            key = (value.tag, event.step)
            assert key not in seen, f"{value.tag} at step {event.step} twice ({path})"
            seen[key] = value.simple_value

# What TensorBoard's own accumulator makes of the folder: the same tags, steps and values.
acc = EventAccumulator(os.path.join(run, "tb"), size_guidance={"scalars": 0})
acc.Reload()
tags = sorted(acc.Tags()["scalars"])
expected_tags = sorted(t for kind in TAGS.values() for t in kind.values())
assert tags == expected_tags, f"tags {tags}, expected {expected_tags}"
got = {}
for tag in tags:
    steps = [e.step for e in acc.Scalars(tag)]
    assert steps == sorted(set(steps)), f"{tag}: steps repeat or go down: {steps}"
    for e in acc.Scalars(tag):
        got[(tag, e.step)] = e.value
assert got.keys() == want.keys(), (
    f"missing {sorted(want.keys() - got.keys())[:5]}, extra {sorted(got.keys() - want.keys())[:5]}")
assert seen.keys() == want.keys()
worst = 0.0
for key, value in want.items():
    for tb in (got[key], seen[key]):
        if value is None:  # JSON null: NaN or infinity
            assert not math.isfinite(tb), f"{key}: {tb}, metrics.jsonl null"
            continue
        # float32 of the 6-digit number metrics.jsonl holds: equal up to float32's rounding.
        tolerance = 2 * float(np.finfo(np.float32).eps) * max(abs(value), 1e-30)
        assert abs(tb - value) <= tolerance, f"{key}: tensorboard {tb}, metrics.jsonl {value}"
        if value:
            worst = max(worst, abs(tb - value) / abs(value))
# The config as hyperparameters, once (the first session's file; the resumed one adds none), typed:
# numbers, booleans, text; the keys of one rank alone (data.dir, log.*) left out.
assert len(hparams) == 1 and hparams[0][0] == files[0], [p for p, _ in hparams]
h = hparams[0][1]
assert h["model.hidden_d"].number_value == 8 and h["train.epochs"].number_value == 3, h
assert h["optim.name"].string_value == "adam" and h["dist.debug"].WhichOneof("kind") == "bool_value"
assert "data.dir" not in h and not any(k.startswith("log.") for k in h), sorted(h)
steps = sorted({s for _, s in want})
print(f"{len(h)} hparams; tensorboard {tensorboard.__version__}: {len(files)} files, {len(tags)} tags, "
      f"{len(want)} scalars at {len(steps)} steps ({steps[0]}..{steps[-1]}) equal metrics.jsonl "
      f"(largest relative difference {worst:.2g}); no step twice")
PY

# Where tb/ cannot be made (a file in its place): one error line naming it, exit status 1.
mkdir -p "$work/bad"
echo "not a folder" > "$work/bad/tb"
set +e
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --run-dir "$work/bad" \
  > /dev/null 2> "$work/bad.err"
rc=$?
set -e
if [ "$rc" -ne 1 ] || [ "$(wc -l < "$work/bad.err")" -ne 1 ] \
   || ! grep -q "^error: $work/bad/tb: cannot create directory: exists and is not a folder" \
          "$work/bad.err"; then
  cat "$work/bad.err"
  fail "unwritable tb/: exit $rc, not 1 with one error line naming it"
fi
echo "tensorboard: ok"
