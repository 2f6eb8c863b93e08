#!/usr/bin/env bash
# End-to-end: a run's checkpoints and final.pt are data only (format 2, src/store/tensor_file.h):
# a Python reader of a few lines (struct and zlib, no torch) verifies the checksum and finds the
# config texts, the model's float32 tensors and, in checkpoints, the Adam moments and the counters,
# and no other kind of entry; vit-eval and resume refuse a damaged file in one line, and resume
# --resume auto falls back past a damaged newest checkpoint to the one before.
# Usage: data_files_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (vit-eval beside vit-train, or
# VIT_EVAL_BIN)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
vit_eval=${VIT_EVAL_BIN:-$(dirname "$vit_train")/vit-eval}
[ -x "$vit_eval" ] || fail "$vit_eval is not built"

"$make_data" "$work/data" 1024 200
common=(--config "$src/configs/smoke.ini" --data.dir "$work/data" --data.train_limit 0
        --data.test_limit 0 --checkpoint.every_steps 4 --checkpoint.keep_last 10)
"$vit_train" "${common[@]}" --train.epochs 2 --run-dir "$work/run" > "$work/train.out" 2>&1 \
  || { cat "$work/train.out"; fail "training run exited non-zero"; }

python3 - "$work/run/checkpoints" <<'EOF2' || fail "the files do not read as documented"
import glob, os, struct, sys, zlib
def read(path):
    data = open(path, "rb").read()
    assert data[:8] == b"vit-data", path
    version, count, body = struct.unpack_from("<IIQ", data, 8)
    assert version == 1 and body == len(data) - 28, path
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4]), path
    pos, out = 24, {}
    for _ in range(count):
        kind, n = struct.unpack_from("<BH", data, pos); pos += 3
        key = data[pos:pos + n].decode(); pos += n
        if kind in (1, 2):
            out[key] = struct.unpack_from("<q" if kind == 1 else "<d", data, pos)[0]; pos += 8
        elif kind == 3:
            (n,) = struct.unpack_from("<I", data, pos); pos += 4
            out[key] = data[pos:pos + n].decode(); pos += n
        else:
            assert kind == 4, (path, key, kind)
            dtype, dims = struct.unpack_from("<BB", data, pos); pos += 2
            shape = struct.unpack_from(f"<{dims}Q", data, pos); pos += 8 * dims
            (n,) = struct.unpack_from("<Q", data, pos); pos += 8 + n
            out[key] = (dtype, shape)
    assert pos == len(data) - 4, path
    return out
final = read(os.path.join(sys.argv[1], "final.pt"))
assert final["kind"] == "model" and final["format"] == 2, final
assert final["config/model.hidden_d"] == "8", final["config/model.hidden_d"]
assert final["model/head.weight"] == (1, (10, 8)), final["model/head.weight"]
assert not any(k.startswith("optim/") for k in final)
steps = sorted(glob.glob(os.path.join(sys.argv[1], "step-*.pt")))
assert steps
ck = read(steps[-1])
assert ck["kind"] == "checkpoint" and ck["step"] > 0 and ck["optim/name"] == "adam", ck["kind"]
assert ck["optim/0/exp_avg"][0] == 1 and ck["rng"][0] == 7
print(f"{len(final)} entries in final.pt, {len(ck)} in {os.path.basename(steps[-1])}")
EOF2

# flip FILE OFFSET: inverts the bits of the byte at OFFSET (setting a fixed value would change
# nothing where the file already holds it: the configs hold the test's random temporary paths).
flip() {
  local byte
  byte=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
  printf "\\x$(printf '%02x' $((byte ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# A damaged final.pt: one line from vit-eval, exit 1.
cp "$work/run/checkpoints/final.pt" "$work/flipped.pt"
flip "$work/flipped.pt" 200
rc=0
"$vit_eval" --checkpoint "$work/flipped.pt" --data.dir "$work/data" > /dev/null 2> "$work/flip.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a damaged file: exit $rc"
[ "$(wc -l < "$work/flip.err")" -eq 1 ] && grep -q "^error: $work/flipped.pt: checksum mismatch" \
  "$work/flip.err" || { cat "$work/flip.err"; fail "a damaged file: not the one-line checksum error"; }

# --resume auto past a damaged newest checkpoint: the one before it, and the straight run's end.
cp -r "$work/run" "$work/resumed"
rm "$work/resumed/checkpoints/final.pt" "$work/resumed/metrics.jsonl"
newest=$(ls "$work/resumed/checkpoints"/step-*.pt | tail -n 1)
flip "$newest" 300
"$vit_train" "${common[@]}" --train.epochs 2 --run-dir "$work/resumed" --resume auto \
  > "$work/resume.out" 2>&1 || { tail -n 5 "$work/resume.out"; fail "resume past a damaged checkpoint"; }
grep -q "$newest: checksum mismatch" "$work/resume.out" || fail "the damaged checkpoint was not named"
[ "$(strip "$work/run/metrics.jsonl" | grep '"event":"epoch"' | tail -n 1)" = \
  "$(strip "$work/resumed/metrics.jsonl" | grep '"event":"epoch"' | tail -n 1)" ] \
  || fail "the resumed run's last epoch differs from the straight run's"
echo "data files: read by plain Python; damaged ones refused or passed over"
