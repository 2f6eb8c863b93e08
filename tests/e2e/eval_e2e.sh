#!/usr/bin/env bash
# End-to-end: vit-eval on the files of a real run. The checkpoint written at the end of an epoch
# scores exactly the test_acc of that epoch's metrics line, on 1 rank and on 2 under mpirun (which
# print one report); --json parses; --images writes a valid PNG; checkpoints/final.pt scores like
# the last epoch; bad input ends in one "error:" line naming the file or key, on 1 or 2 ranks.
# Usage: eval_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (vit-eval beside vit-train, or
# VIT_EVAL_BIN)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vit_eval=${VIT_EVAL_BIN:-$(dirname "$vit_train")/vit-eval}
[ -x "$vit_eval" ] || fail "$vit_eval is not built"

# 2048 training images, 64 per step: 32 steps per epoch, 3 epochs (the model learns something,
# so the comparison is not of a constant guess). 200 of the 250 test images (data.test_limit,
# which vit-eval must take from the checkpoint): every accuracy k/200 prints exactly in
# metrics.jsonl's 6 digits.
"$make_data" "$work/data" 2048 250
run="$work/run"
"$vit_train" --config "$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0 \
  --data.test_limit 200 --train.epochs 3 --run-dir "$run" > "$work/train.out" 2>&1 \
  || { cat "$work/train.out"; fail "training run exited non-zero"; }

# same_as_epoch REPORT.json EPOCH RANKS: the report's numbers are those of the epoch's line.
same_as_epoch() {
  python3 - "$1" "$run/metrics.jsonl" "$2" "$3" <<'EOF' || fail "$1 differs from epoch $2's line"
import json, sys
report = json.load(open(sys.argv[1]))  # one JSON object: a second rank's report would fail here
line = [m for m in map(json.loads, open(sys.argv[2]))
        if m["event"] == "epoch" and m["epoch"] == int(sys.argv[3])][-1]
problems = []
if abs(report["accuracy"] - line["test_acc"]) > 1e-9:
    problems.append(f"accuracy {report['accuracy']!r} vs test_acc {line['test_acc']!r}")
if abs(report["loss"] - line["test_loss"]) > 1e-5 * max(1.0, abs(line["test_loss"])):
    problems.append(f"loss {report['loss']!r} vs test_loss {line['test_loss']!r}")
if report["images"] != 200 or report["correct"] != round(line["test_acc"] * 200):
    problems.append(f"{report['correct']} of {report['images']} images")
if report["world_size"] != int(sys.argv[4]):
    problems.append(f"world_size {report['world_size']}")
if sum(map(sum, report["confusion"])) != 200 or len(report["classes"]) != 10:
    problems.append("confusion matrix or classes")
if sum(c["correct"] for c in report["classes"]) != report["correct"]:
    problems.append("per-class counts")
if problems:
    sys.exit(f"{sys.argv[1]}: " + "; ".join(problems))
EOF
}

# check_png FILE: a valid PNG: signature, IHDR of an RGB image at least one 84x84 tile large,
# every chunk's CRC, and IDAT data that inflates to exactly height rows of 1 + 3 * width bytes.
check_png() {
  python3 - "$1" <<'EOF' || fail "$1 is not a valid PNG"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, chunks = 8, []
while pos < len(data):
    (length,) = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
    (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(kind + body) == crc, f"CRC of {kind}"
    chunks.append((kind, body))
    pos += 12 + length
assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", "chunk order"
width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
assert width >= 84 and height >= 84 and depth == 8 and colour == 2, (width, height, depth, colour)
pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
assert len(pixels) == height * (1 + 3 * width), "image data size"
EOF
}

# The checkpoint written at the end of epoch 2 (not the last: that one is checked as final.pt).
step=$(python3 -c 'import json, sys
print([m["step"] for m in map(json.loads, open(sys.argv[1])) if m.get("epoch") == 2
       and m["event"] == "epoch"][0])' "$run/metrics.jsonl")
checkpoint=$(printf '%s/checkpoints/step-%08d.pt' "$run" "$step")
[ -s "$checkpoint" ] || fail "no checkpoint $checkpoint at the end of epoch 2"

"$vit_eval" --checkpoint "$checkpoint" --json > "$work/one.json" 2> "$work/one.err" \
  || { cat "$work/one.err"; fail "vit-eval exited non-zero"; }
[ ! -s "$work/one.err" ] || { cat "$work/one.err"; fail "vit-eval wrote to stderr"; }
same_as_epoch "$work/one.json" 2 1

mpi 2 "$vit_eval" --checkpoint "$checkpoint" --json > "$work/two.json" 2> "$work/two.err" \
  || { cat "$work/two.err"; fail "vit-eval on 2 ranks exited non-zero"; }
same_as_epoch "$work/two.json" 2 2
# All but the loss (summed in another order) and the world size equal 1 rank's report.
python3 - "$work/one.json" "$work/two.json" <<'EOF' || fail "2 ranks report other numbers than 1"
import json, sys
one, two = (json.load(open(f)) for f in sys.argv[1:])
for key in ("loss", "world_size"):
    one.pop(key), two.pop(key)
sys.exit(None if one == two else f"1 rank: {one}\n2 ranks: {two}")
EOF

# The run directory stands for its final.pt: the same report, the file named.
"$vit_eval" --checkpoint "$run" --json > "$work/dir.json" 2> "$work/dir.err" \
  || { cat "$work/dir.err"; fail "vit-eval --checkpoint RUN_DIR exited non-zero"; }
same_as_epoch "$work/dir.json" "$(grep -c '"event":"epoch"' "$run/metrics.jsonl")" 1
grep -q 'checkpoints/final.pt' "$work/dir.json" || { cat "$work/dir.json"; fail "RUN_DIR: not final.pt"; }

# final.pt, text report with the PNG grid: the numbers of the last epoch's line. A build without
# libpng says so in --help; that is a failure unless the build was told so (VIT_PNG=OFF, passed
# here by ctest as VIT_PNG_SETTING): launch/setup.sh installs libpng-dev.
"$vit_eval" --version | grep -q '^vit-eval .*(revision ' || fail "vit-eval --version lacks its line"
"$(dirname "$vit_eval")/vit-predict" --version | grep -q '^MPI ' || fail "vit-predict --version lacks MPI"
"$vit_eval" --help > "$work/help.txt" || fail "--help exited non-zero"
png=1
! grep -q 'built without libpng' "$work/help.txt" || png=0
if [ "$png" = 0 ] && [ "${VIT_PNG_SETTING:-AUTO}" != OFF ]; then
  fail "vit-eval was built without libpng although VIT_PNG is ${VIT_PNG_SETTING:-AUTO} (install libpng-dev: launch/setup.sh does)"
fi
images=()
[ "$png" = 0 ] || images=(--images "$work/wrong.png")
"$vit_eval" --checkpoint "$run/checkpoints/final.pt" "${images[@]}" \
  > "$work/final.txt" 2>&1 || { cat "$work/final.txt"; fail "vit-eval on final.pt failed"; }
correct=$(python3 -c 'import json, sys
print(round([m for m in map(json.loads, open(sys.argv[1]))
             if m["event"] == "epoch"][-1]["test_acc"] * 200))' "$run/metrics.jsonl")
grep -q "^accuracy .* ($correct of 200)$" "$work/final.txt" \
  || { cat "$work/final.txt"; fail "final.pt: not $correct of 200"; }
for text in "confusion matrix" "class  images  correct  accuracy"; do
  grep -qF "$text" "$work/final.txt" || { cat "$work/final.txt"; fail "report lacks '$text'"; }
done
if [ "$png" = 1 ]; then
  grep -qF "drawn in $work/wrong.png" "$work/final.txt" || fail "report does not name the PNG"
  [ "$correct" -lt 200 ] || fail "no misclassified image to draw"
  check_png "$work/wrong.png"
else
  # VIT_PNG=OFF: --images is refused in one line instead.
  set +e
  "$vit_eval" --checkpoint "$run/checkpoints/final.pt" --images "$work/wrong.png" \
    > /dev/null 2> "$work/nopng.err"
  rc=$?
  set -e
  [ "$rc" -eq 1 ] && grep -q '^error: --images: this vit-eval was built without libpng' \
    "$work/nopng.err" || { cat "$work/nopng.err"; fail "VIT_PNG=OFF: --images not refused clearly"; }
  echo "e2e eval: built with VIT_PNG=OFF: the PNG grid was checked to be refused, not drawn"
fi

# Bad input: exit status 1 and a single "error:" line naming the file or key, on 1 and 2 ranks.
expect_error() {
  local fragment=$1 ranks=$2
  shift 2
  set +e
  if [ "$ranks" -eq 1 ]; then
    "$vit_eval" "$@" > "$work/stdout" 2> "$work/stderr"
  else
    mpi "$ranks" "$vit_eval" "$@" > "$work/stdout" 2> "$work/stderr"
  fi
  local rc=$?
  set -e
  [ "$rc" -eq 1 ] || fail "exit $rc, not 1 (124: a hang) for: $*"
  [ "$(grep -c '^error:' "$work/stderr")" -eq 1 ] || { cat "$work/stderr"; fail "not one error: $*"; }
  grep -q "^error: .*$fragment" "$work/stderr" || { cat "$work/stderr"; fail "no '$fragment'"; }
  [ ! -s "$work/stdout" ] || { cat "$work/stdout"; fail "a report despite the error: $*"; }
}
expect_error "nowhere.pt: no such file" 1 --checkpoint "$work/nowhere.pt"
expect_error "nowhere.pt: no such file" 2 --checkpoint "$work/nowhere.pt"
expect_error "another shape: model.hidden_d (checkpoint 8, config 16)" 1 \
  --checkpoint "$checkpoint" --model.hidden_d 16
expect_error "another shape: model.hidden_d (checkpoint 8, config 16)" 2 \
  --checkpoint "$checkpoint" --model.hidden_d 16
expect_error "data.dir: $work/none is not a directory" 2 --checkpoint "$checkpoint" \
  --data.dir "$work/none"
head -c 2000 "$checkpoint" > "$work/cut.pt"
expect_error "cut.pt: 2000 bytes, the header says" 2 --checkpoint "$work/cut.pt"
expect_error "--checkpoint: required" 1 --json

grep -q -- '--data.dir' "$work/help.txt" || fail "--help does not list --data.dir"

# --export needs no data (from another folder, the run's data.dir not there): the file, one line
# saying what it holds, no score, exit 0. With the data, the score follows on stdout.
(cd "$work/run" && "$vit_eval" --checkpoint checkpoints/final.pt --data.dir "$work/none" \
  --export "$work/alone.safetensors" > "$work/alone.out" 2> "$work/alone.err") \
  || { cat "$work/alone.err"; fail "--export without data failed"; }
[ -s "$work/alone.safetensors" ] || fail "--export without data wrote no file"
[ ! -s "$work/alone.out" ] || { cat "$work/alone.out"; fail "--export without data scored something"; }
grep -q "^vit-eval: exported $work/alone.safetensors: [0-9]* tensors, 1,978 parameters, images 1x28x28" \
  "$work/alone.err" || { cat "$work/alone.err"; fail "--export does not say what it wrote"; }
grep -q "^vit-eval: not scored: no test set in $work/none" "$work/alone.err" \
  || { cat "$work/alone.err"; fail "--export without data does not say it did not score"; }
"$vit_eval" --checkpoint "$run/checkpoints/final.pt" --export "$work/scored.safetensors" > "$work/scored.out" \
  2> "$work/scored.err" || { cat "$work/scored.err"; fail "--export with data failed"; }
grep -q "^accuracy" "$work/scored.out" || { cat "$work/scored.out"; fail "--export with data: no score"; }
cmp -s "$work/alone.safetensors" "$work/scored.safetensors" || fail "the two exports differ"
echo "e2e eval: ok ($step steps: $(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["accuracy"])' "$work/one.json"); final $correct of 200)"
