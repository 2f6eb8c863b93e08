#!/usr/bin/env bash
# End-to-end: vit-predict on PNG files of a run's own test images. The PNGs are written from the
# test set's IDX file by Python's standard library (tests/e2e/idx_to_png.py), not by code under
# test. vit-predict's classes over those images give exactly vit-eval's confusion matrix of the
# same images; every probability vector sums to 1; the same image as 16-bit gray, RGB, RGBA,
# gray+alpha, palette, at double size, or inverted on a light background scores the same; --json
# parses; bad images and a bad model give one "error:" line each, naming the file, and exit 1.
# Usage: predict_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (vit-predict and vit-eval beside
# vit-train, or VIT_PREDICT_BIN and VIT_EVAL_BIN)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vit_predict=${VIT_PREDICT_BIN:-$(dirname "$vit_train")/vit-predict}
vit_eval=${VIT_EVAL_BIN:-$(dirname "$vit_train")/vit-eval}
[ -x "$vit_predict" ] || fail "$vit_predict is not built"
[ -x "$vit_eval" ] || fail "$vit_eval is not built"

# 2048 training images, 2 epochs of 32 steps: the model is right on most test images (about 70%)
# but not all, so equal predictions are not those of a perfect (or constant) model. 60 test images.
"$make_data" "$work/data" 2048 100
run="$work/run"
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0 \
  --data.test_limit 60 --train.epochs 2 --run-dir "$run" > "$work/train.out" 2>&1 \
  || { cat "$work/train.out"; fail "training run exited non-zero"; }
python3 "$src/tests/e2e/idx_to_png.py" "$work/data/t10k-images-idx3-ubyte.gz" "$work/png" 60

# A build without libpng refuses every image in one line; that is a failure unless the build was
# told so (VIT_PNG=OFF, passed here by ctest as VIT_PNG_SETTING).
set +e
"$vit_predict" --model "$run" "$work/png/test-0000.png" > "$work/probe.out" 2> "$work/probe.err"
rc=$?
set -e
if grep -q 'this build has no libpng' "$work/probe.err"; then
  [ "${VIT_PNG_SETTING:-AUTO}" = OFF ] \
    || fail "vit-predict was built without libpng although VIT_PNG is ${VIT_PNG_SETTING:-AUTO}"
  [ "$rc" -eq 1 ] || fail "VIT_PNG=OFF: exit $rc, not 1"
  echo "e2e predict: built with VIT_PNG=OFF: images were checked to be refused in one line"
  exit 77
fi
[ "$rc" -eq 0 ] || { cat "$work/probe.err"; fail "vit-predict on one test image exited $rc"; }

# --- the test images: vit-predict's classes give vit-eval's confusion matrix ------------------
"$vit_eval" --checkpoint "$run/checkpoints/final.pt" --json > "$work/eval.json" 2> "$work/eval.err" \
  || { cat "$work/eval.err"; fail "vit-eval exited non-zero"; }
"$vit_predict" --model "$run" --json "$work"/png/test-*.png > "$work/test.jsonl" \
  2> "$work/test.err" || { cat "$work/test.err"; fail "vit-predict exited non-zero"; }
[ ! -s "$work/test.err" ] || { cat "$work/test.err"; fail "vit-predict wrote to stderr"; }
python3 - "$work/test.jsonl" "$work/eval.json" "$work/data/t10k-labels-idx1-ubyte.gz" \
  "$run/checkpoints/final.pt" <<'EOF2' || fail "vit-predict disagrees with vit-eval"
import gzip, json, os, sys
lines = [json.loads(line) for line in open(sys.argv[1])]  # every line one JSON object
report = json.load(open(sys.argv[2]))
labels = list(gzip.open(sys.argv[3]).read()[8:8 + 60])
assert len(lines) == 60 and report["images"] == 60, (len(lines), report["images"])
confusion = [[0] * 10 for _ in range(10)]
for i, p in enumerate(lines):
    assert os.path.basename(p["file"]) == f"test-{i:04d}.png", p["file"]
    assert p["model"] == sys.argv[4], p["model"]
    probabilities = p["probabilities"]
    assert len(probabilities) == 10 and all(0 <= q <= 1 for q in probabilities), p
    assert abs(sum(probabilities) - 1) < 1e-9, f"{p['file']}: probabilities sum to {sum(probabilities)}"
    assert probabilities[p["predicted"]] == max(probabilities) == p["probability"], p
    assert (p["width"], p["height"], p["resized"], p["inverted"]) == (28, 28, False, False), p
    confusion[labels[i]][p["predicted"]] += 1
correct = sum(confusion[c][c] for c in range(10))
assert confusion == report["confusion"], f"vit-predict {confusion}\nvit-eval {report['confusion']}"
assert correct == report["correct"], (correct, report["correct"])
assert correct >= 12, f"the model got {correct} of 60 test images right: it learnt nothing"
print(f"e2e predict: {correct} of 60 right, the same confusion matrix as vit-eval")
EOF2

# --- one image in other colour types, bit depths, sizes and polarity: the same scores ---------
# (--prepare resize: the double-size one is not a photo to prepare but the same pixels enlarged.)
"$vit_predict" --model "$run" --json --prepare resize "$work/png/test-0000.png" "$work"/png/variant-*.png \
  > "$work/variants.jsonl" 2> "$work/variants.err" \
  || { cat "$work/variants.err"; fail "vit-predict on the variants exited non-zero"; }
python3 - "$work/variants.jsonl" <<'EOF2' || fail "a variant of test image 0 scores differently"
import json, os, sys
first, *variants = [json.loads(line) for line in open(sys.argv[1])]
assert len(variants) == 7, len(variants)
for v in variants:
    kind = os.path.basename(v["file"])[len("variant-"):-len(".png")]
    assert v["predicted"] == first["predicted"], (kind, v["predicted"], first["predicted"])
    worst = max(abs(a - b) for a, b in zip(v["probabilities"], first["probabilities"]))
    assert worst < 1e-12, f"{kind}: probabilities differ by {worst}"
    assert v["resized"] == (kind == "double") and v["inverted"] == (kind == "inverted"), v
EOF2

# --- the text lines: the model file, then one line per image --------------------------------------
"$vit_predict" --model "$run/checkpoints/final.pt" "$work/png/test-0001.png" > "$work/text.out"
class=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readlines()[1])["predicted"])' \
  "$work/test.jsonl")
[ "$(sed -n 1p "$work/text.out")" = "model $run/checkpoints/final.pt" ] \
  || { cat "$work/text.out"; fail "the text output does not start with the model file"; }
grep -qE "^$work/png/test-0001.png: $class \(0\.[0-9]{4}\)  0:0\.[0-9]{4} .* 9:[01]\.[0-9]{4}$" \
  "$work/text.out" || { cat "$work/text.out"; fail "the text line is not 'FILE: $class (P)  0:p0 ...'"; }
"$vit_predict" --help > "$work/help.txt" || fail "--help exited non-zero"
grep -q -- "--invert" "$work/help.txt" || fail "--help does not list --invert"

# --- bad input: one "error:" line per bad file, naming it; the good images still printed -------
echo "not an image" > "$work/text.png"
: > "$work/empty.png"
head -c 120 "$work/png/test-0002.png" > "$work/cut.png"
set +e
"$vit_predict" --model "$run" --json "$work/png/test-0000.png" "$work/text.png" "$work/nowhere.png" \
  "$work/empty.png" "$work/cut.png" "$work/png/test-0001.png" > "$work/mixed.out" 2> "$work/mixed.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "exit $rc, not 1, with bad images among good ones"
[ "$(grep -c '^error:' "$work/mixed.err")" -eq 4 ] || { cat "$work/mixed.err"; fail "not 4 errors"; }
[ "$(wc -l < "$work/mixed.err")" -eq 4 ] || { cat "$work/mixed.err"; fail "more than the errors"; }
for bad in text nowhere empty cut; do
  grep -q "^error: $work/$bad.png: " "$work/mixed.err" \
    || { cat "$work/mixed.err"; fail "no error line naming $bad.png"; }
done
[ "$(wc -l < "$work/mixed.out")" -eq 2 ] || { cat "$work/mixed.out"; fail "the good images not printed"; }

# expect_error FRAGMENT ARGS...: exit 1, one "error:" line holding FRAGMENT, nothing on stdout.
expect_error() {
  local fragment=$1
  shift
  set +e
  "$vit_predict" "$@" > "$work/stdout" 2> "$work/stderr"
  local rc=$?
  set -e
  [ "$rc" -eq 1 ] || fail "exit $rc, not 1, for: $*"
  [ "$(grep -c '^error:' "$work/stderr")" -eq 1 ] || { cat "$work/stderr"; fail "not one error: $*"; }
  [ "$(wc -l < "$work/stderr")" -eq 1 ] || { cat "$work/stderr"; fail "more than the error: $*"; }
  grep -qF "error: $fragment" "$work/stderr" || { cat "$work/stderr"; fail "no '$fragment': $*"; }
  [ ! -s "$work/stdout" ] || [ "$(cat "$work/stdout")" = "model $run/checkpoints/final.pt" ] \
    || { cat "$work/stdout"; fail "a prediction despite the error: $*"; }
}
expect_error "$work/cut.png: truncated or damaged PNG image" --model "$run" "$work/cut.png"
expect_error "$work/text.png: not a PNG image" --model "$run" --json "$work/text.png"
head -c 2000 "$run/checkpoints/final.pt" > "$work/cut.pt"
expect_error "$work/cut.pt: " --model "$work/cut.pt" "$work/png/test-0000.png"
expect_error "$work/nowhere: no such file or directory" --model "$work/nowhere" \
  "$work/png/test-0000.png"
expect_error "--model: required" "$work/png/test-0000.png"
echo "e2e predict: variants, text, JSON and errors as expected"
