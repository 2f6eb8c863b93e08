#!/usr/bin/env bash
# vit-eval --export: the trained model as safetensors, read by the real `safetensors` package (a
# test-only copy from PyPI, kept in ~/.cache/vit-train/test-python) and loaded in one line into the
# independent PyTorch module of bench/reference/vit_ddp.py, built from the file's metadata: it
# scores the test set with vit-eval's loss and accuracy.
# Usage: export_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (PYTHON: a python with torch 2.x;
# VIT_EVAL_BIN: vit-eval)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

python=${PYTHON:?PYTHON must name a python with torch}
lib="${VIT_CACHE_DIR:-$HOME/.cache/vit-train}/test-python"
if ! PYTHONPATH="$lib" "$python" -c 'import safetensors.torch' 2>/dev/null; then
  "$python" -m pip install --disable-pip-version-check -q --target "$lib" safetensors \
    > "$work/pip.log" 2>&1 || { tail -3 "$work/pip.log"; echo "SKIP: cannot install safetensors"; exit 77; }
fi

"$make_data" "$work/data" 2048 256
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0 \
  --train.epochs 3 --run-dir "$work/run" > "$work/train.log" 2>&1 || { tail "$work/train.log"; fail "training failed"; }
"${VIT_EVAL_BIN:?}" --checkpoint "$work/run/checkpoints/final.pt" --export "$work/model.safetensors" \
  --json > "$work/eval.json" || fail "vit-eval --export failed"
[ -s "$work/model.safetensors" ] || fail "no model.safetensors"

# What a user writes, plus the comparison.
PYTHONPATH="$lib:$src/bench/reference" "$python" - "$work/model.safetensors" "$work/data" "$work/eval.json" <<'PY'
import json, sys, types
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
import vit_ddp

path, data, report = sys.argv[1:4]
with safe_open(path, "pt") as f:
    meta = f.metadata()
shape = tuple(int(x) for x in meta["image_shape"].split("x"))
m = types.SimpleNamespace(**{k.split(".")[1]: int(v) for k, v in meta.items() if k.startswith("model.")})
model = vit_ddp.VisionTransformer(m, shape)
model.load_state_dict(load_file(path))  # strict: every name and shape must match
model.eval()

images, labels = vit_ddp.load_split(data, "t10k", 0)
with torch.no_grad():
    logits = model(images.float().div_(255.0))
loss = F.cross_entropy(logits, labels).item()
correct = int((logits.argmax(dim=1) == labels).sum())
ours = json.load(open(report))
print(f"python: loss {loss:.6f}, {correct}/{len(labels)} correct; "
      f"vit-eval: loss {ours['loss']:.6f}, {ours['correct']}/{ours['images']} correct")
assert len(labels) == ours["images"]
assert abs(loss - ours["loss"]) <= 1e-4 * max(1.0, abs(loss)), "losses differ"
assert abs(correct - ours["correct"]) <= 1, "accuracies differ"  # a near-tie may flip one image
assert correct > 0.2 * len(labels), "the model did not learn: a weak comparison"
PY
echo "export: safetensors loaded in PyTorch scores as vit-eval; ok"
