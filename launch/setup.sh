#!/usr/bin/env bash
# setup.sh -- install what vit-train needs on Debian and build it (Release, Ninja) in build/.
#
# Usage: launch/setup.sh [--no-build] [--tests] [--libtorch debian|pip]
#
#   --no-build  only install the Debian packages and select OpenBLAS; do not build
#   --tests     also install what the tests need (SLURM, munge) and make sure the build has the
#               test suites (VIT_BUILD_TESTS=ON); used by test.sh
#   --libtorch  which LibTorch to build against (default: $VIT_LIBTORCH, else debian):
#               debian  Debian's libtorch-dev 1.13 (CPU), in build/
#               pip     PyPI's torch 2.x with CUDA (launch/torch-pip.txt pins it), installed into
#                       .venv-torch/ by launch/libtorch-pip.sh, in build-pip/; the CUDA parts (NCCL
#                       back end) are compiled and linked; they run where a GPU is
#
# Idempotent and quiet: a second run calls no apt, only checks the build, and prints one line.
# apt runs only when a package is missing (as root, or through sudo). The build log goes to
# build/setup-build.log and is shown only when a step fails. CCACHE_DIR defaults to
# ~/.cache/ccache so that fresh clones (CI) on the same machine reuse earlier compilations.
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# libprotobuf-dev and protobuf-compiler: the TensorBoard event files (their CRC-32C is Boost's).
# libsodium-dev (found through pkg-config): the peer probe's keyed MAC (src/parallel/peer_probe).
# libdnnl-dev: oneDNN's matrix products for the linear layers on the CPU (src/model/linear.h).
PACKAGES=(libtorch-dev libopenmpi-dev openmpi-bin libboost-program-options-dev libspdlog-dev
          libgtest-dev zlib1g-dev libpng-dev libprotobuf-dev protobuf-compiler libsodium-dev
          libdnnl-dev cmake g++ ninja-build ccache libopenblas0-pthread pkg-config gnuplot-nox)

do_build=1
want_tests=0
libtorch="${VIT_LIBTORCH:-debian}"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) do_build=0 ;;
    --tests) want_tests=1 ;;
    --libtorch) [ $# -ge 2 ] || die "setup.sh: --libtorch needs debian or pip"; libtorch=$2; shift ;;
    --libtorch=*) libtorch=${1#*=} ;;
    -h|--help) sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "setup.sh: unknown argument '$1' (usage: $0 [--no-build] [--tests] [--libtorch debian|pip])" ;;
  esac
  shift
done
case "$libtorch" in
  debian) BUILD="$ROOT/build" ;;
  pip) BUILD="$ROOT/build-pip"
       PACKAGES+=(python3 python3-venv python3-pip) ;;
  *) die "setup.sh: --libtorch (or VIT_LIBTORCH) must be debian or pip, got '$libtorch'" ;;
esac
LOG="$BUILD/setup-build.log"

# as_root and apt_install (which waits for the package lock): launch/apt.sh.
APT_WHO=setup
exec 3>&2
APT_MSG_FD=3
# shellcheck source=launch/apt.sh
source "$ROOT/launch/apt.sh"

# The slurm tests start a real local SLURM (launch/slurm-local.sh) from these; the e2e tests
# check metrics.jsonl and vit-eval's JSON with python3, and read the TensorBoard event files with
# the tensorboard package from PyPI, in a venv of their own; valgrind's CPU without AVX-512 runs
# the attention kernel's AVX2 version.
TEST_PACKAGES=(slurmctld slurmd slurm-client munge python3 python3-venv valgrind)
[ "$want_tests" = 0 ] || PACKAGES+=("${TEST_PACKAGES[@]}")

# --- (a) Debian packages: apt only when something is missing --------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"

# --- (b) OpenBLAS (pthread) as the system BLAS/LAPACK: LibTorch's CPU matmuls go through it ---
select_openblas() {
  local name="$1" value want
  value="$(update-alternatives --query "$name" 2>/dev/null | sed -n 's/^Value: //p')"
  case "$value" in */openblas-pthread/*) return 0 ;; esac
  want="$(update-alternatives --list "$name" 2>/dev/null | grep -m1 '/openblas-pthread/' || true)"
  if [ -z "$want" ]; then
    echo "setup: warning: no openblas-pthread alternative for $name (now: ${value:-none})" >&2
    return 0
  fi
  as_root update-alternatives --set "$name" "$want" >/dev/null
  echo "setup: selected $want for $name (was: ${value:-none})"
}
if command -v update-alternatives >/dev/null 2>&1; then
  while read -r name _; do
    select_openblas "$name"
  done < <(update-alternatives --get-selections 2>/dev/null \
             | awk '$1 ~ /^(libblas|liblapack)\.so\.3-/')
fi

# --- (b2) PyPI's LibTorch, for --libtorch pip -------------------------------------------------
torch_args=()
if [ "$libtorch" = pip ]; then
  torch_prefix="$("$ROOT/launch/libtorch-pip.sh" | tail -n 1)" || exit 1
  torch_args=(-DCMAKE_PREFIX_PATH="$torch_prefix")
fi

[ "$do_build" = 1 ] || exit 0

# --- (c) configure (first time only) and build ----------------------------------------------
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
if command -v ccache >/dev/null 2>&1; then
  ccache -M 5G >/dev/null 2>&1 || echo "setup: warning: could not set the ccache size in $CCACHE_DIR" >&2
fi

# fail STEP: print the tail of the build log and stop.
fail() {
  echo "error: $1 failed; last lines of ${LOG#"$ROOT"/}:" >&2
  tail -n 40 "$LOG" | sed 's/^/  | /' >&2
  exit 1
}

mkdir -p "$BUILD"
: >"$LOG"
start=$SECONDS
configured=0
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  tests_arg=()
  [ "$want_tests" = 0 ] || tests_arg=(-DVIT_BUILD_TESTS=ON)
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${tests_arg[@]}" "${torch_args[@]}" \
    >>"$LOG" 2>&1 || fail "cmake configure"
  configured=1
elif [ "$want_tests" = 1 ] && grep -q '^VIT_BUILD_TESTS:BOOL=OFF$' "$BUILD/CMakeCache.txt"; then
  echo "setup: build/ had VIT_BUILD_TESTS=OFF; turning the test suites on"
  cmake -S "$ROOT" -B "$BUILD" -DVIT_BUILD_TESTS=ON >>"$LOG" 2>&1 || fail "cmake configure"
  configured=1
elif [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  # An earlier configure stopped half-way: redo it with the cached settings.
  cmake -S "$ROOT" -B "$BUILD" >>"$LOG" 2>&1 || fail "cmake configure"
  configured=1
fi
cmake --build "$BUILD" -j"$(nproc)" >>"$LOG" 2>&1 || fail "build"

if grep -q '^ninja: no work to do\.' "$LOG"; then
  if [ "$configured" = 1 ]; then
    echo "setup: configured ${BUILD#"$ROOT"/}/; build up to date (${BUILD#"$ROOT"/}/vit-train)"
  else
    echo "setup: build up to date (${BUILD#"$ROOT"/}/vit-train)"
  fi
else
  echo "setup: built ${BUILD#"$ROOT"/}/vit-train in $((SECONDS - start)) s (log: ${LOG#"$ROOT"/})"
fi
