#!/usr/bin/env bash
# vit-eval --export: the trained model as safetensors, read by the real `safetensors` package (a
# test-only copy from PyPI, kept in ~/.cache/vit-train/test-python) and loaded by README.md's
# snippet with src/python/vit_model.py (the module bench/reference/vit_ddp.py trains too), built
# from the file's metadata: it scores the test set with vit-eval's loss and accuracy.
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

# What a user writes: README.md's snippet under "Export to Python", run as it stands from the
# repository's root with model.safetensors there; `pixels` (the test images) given to it, its
# `classes` and `probabilities` compared with vit-eval's report.
snippet="$work/readme_snippet.py"
python3 - "$src/README.md" > "$snippet" <<'PY' || fail "README.md has no python block under Export to Python"
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("### Export to Python"):]
print(re.search(r"```python\n(.*?)```", section, re.S).group(1))
PY
grep -q 'vit_model.load("model.safetensors")' "$snippet" || fail "the README snippet does not load model.safetensors"
mkdir -p "$work/root"
ln -s "$src/src" "$work/root/src"
cp "$work/model.safetensors" "$work/root/"
(cd "$work/root" && PYTHONPATH="$lib:$src/bench/reference" "$python" - "$work/data" "$work/eval.json" "$snippet") <<'PY' || fail "the README snippet does not score as vit-eval"
import json, sys
import torch
import torch.nn.functional as F
from vit_ddp import load_split  # the test's IDX reader

data, report, snippet = sys.argv[1:4]
pixels, labels = load_split(data, "t10k", 0)  # uint8 (N, 1, 28, 28), as a user's would be
scope = {"pixels": pixels}
exec(open(snippet).read(), scope)
model, classes, probabilities = scope["model"], scope["classes"], scope["probabilities"]
assert not model.training, "load() leaves the model in training mode"
loss = F.nll_loss(probabilities.log(), labels).item()
correct = int((classes == labels).sum())
ours = json.load(open(report))
print(f"python: loss {loss:.6f}, {correct}/{len(labels)} correct; "
      f"vit-eval: loss {ours['loss']:.6f}, {ours['correct']}/{ours['images']} correct")
assert len(labels) == ours["images"]
assert abs(loss - ours["loss"]) <= 1e-4 * max(1.0, abs(loss)), "losses differ"
assert abs(correct - ours["correct"]) <= 1, "accuracies differ"  # a near-tie may flip one image
assert correct > 0.2 * len(labels), "the model did not learn: a weak comparison"
assert torch.allclose(probabilities.sum(1), torch.ones(len(labels))), "rows are no distributions"
PY
echo "export: the README's snippet loads the safetensors file and scores as vit-eval; ok"
