#!/usr/bin/env bash
# gpu-prepare.sh -- on the development machine, before a session's lent GPU is used: makes what the
# GPU machine cannot fetch (it reaches no network), checks that it fits what travels, and prints
# the one device call to make.
#
# Usage: launch/gpu-prepare.sh [--budget SECONDS]
#
#   --budget     the device time this session has left (the device tool's status, budget_left_s):
#                the printed call then ends in time (a machine's start takes about 30 s of it)
#
#   .gpu/debs    the Debian packages of the non-Torch dependencies (Open MPI, Boost.Program_options,
#                spdlog, fmt, GoogleTest, zlib, libpng, protobuf, libsodium; about 25 MiB), by
#                apt-get download; launch/gpu-env.sh unpacks them there
#   data/mnist   MNIST, verified (launch/get-data.sh mnist)
#   .gpu/commit  the commit of the tree that travels: the device machine's copy of .git may be older
# Both are ignored by git, so the call must carry them. Ignored paths travel up to 64 MiB in all:
# the script fails when they do not fit. Idempotent: what is complete is kept. Then prints the
# command, carry list and timeout for the device tool's run (launch/gpu-session.sh, whose whole
# run ends within 9 min 30 s).
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
budget=""
case "${1:-}" in
  -h|--help) sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
  --budget) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "gpu-prepare.sh: --budget needs a number of seconds"
            budget=$2 ;;
  "") ;;
  *) die "gpu-prepare.sh: unknown argument $1 (usage: launch/gpu-prepare.sh [--budget SECONDS])" ;;
esac
[ -z "$budget" ] || [ "$budget" -ge 240 ] \
  || die "gpu-prepare.sh: $budget s of device time left: a machine starts only with 240 s or more"
cd "$ROOT"

# The packages launch/setup.sh installs, less LibTorch (the GPU machine's python3 holds a CUDA
# one) and the build tools (it has cmake, ninja and a compiler), plus the libraries they load.
PACKAGES=(
  # Open MPI and what its libraries load
  openmpi-bin openmpi-common libopenmpi3 libopenmpi-dev libpmix2 libhwloc15
  libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0 libibverbs1 librdmacm1
  libpsm2-2 libpsm-infinipath1 libnl-3-200 libnl-route-3-200 libnuma1 libmunge2 libgfortran5
  libltdl7 libxnvctrl0 libpciaccess0
  # Boost.Program_options, spdlog + fmt, GoogleTest, zlib, libpng (vit-predict)
  libboost-program-options1.74.0 libboost-program-options1.74-dev libboost-program-options-dev
  libboost1.74-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev zlib1g-dev
  libpng-dev libpng16-16
  # protobuf and its compiler, of one version: the TensorBoard event files
  libprotobuf-dev libprotobuf32 libprotobuf-lite32 protobuf-compiler libprotoc32
  # libsodium: the peer probe's keyed MAC. pkg-config is not carried: its libsodium.pc names /usr,
  # so CMake looks for sodium.h and the library on its search path (gpu-env.sh's CMAKE_PREFIX_PATH)
  libsodium-dev libsodium23
)
CARRY_LIMIT_MIB=64

# --- .gpu/debs -----------------------------------------------------------------------------------
debs=.gpu/debs
mkdir -p "$debs"
missing=()
for p in "${PACKAGES[@]}"; do
  compgen -G "$debs/${p}_*.deb" > /dev/null || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "gpu-prepare: downloading ${#missing[@]} Debian package(s) into $debs"
  download() { (cd "$debs" && apt-get download "${missing[@]}") > .gpu/download.log 2>&1; }
  if ! download; then
    # A fresh machine has no package lists yet.
    APT_WHO=gpu-prepare
    # shellcheck source=launch/apt.sh
    source "$ROOT/launch/apt.sh"
    as_root apt-get update > .gpu/apt-update.log 2>&1 || die "apt-get update failed (log: .gpu/apt-update.log)"
    download || die "apt-get download failed: $(grep -m1 -E '^E:' .gpu/download.log || tail -n 1 .gpu/download.log) (log: .gpu/download.log)"
  fi
fi
for p in "${PACKAGES[@]}"; do
  compgen -G "$debs/${p}_*.deb" > /dev/null || die "$debs: no .deb of $p after the download"
done
echo "gpu-prepare: $debs: $(find "$debs" -name '*.deb' | wc -l) packages"

# --- data/mnist ----------------------------------------------------------------------------------
"$ROOT/launch/get-data.sh" mnist > .gpu/get-data.log 2>&1 \
  || die "launch/get-data.sh mnist failed: $(grep -m1 '^error:' .gpu/get-data.log || tail -n 1 .gpu/get-data.log) (log: .gpu/get-data.log)"
echo "gpu-prepare: data/mnist: verified"

# --- what travels --------------------------------------------------------------------------------
carry=(.gpu data/mnist)
bytes=$(du -sb "${carry[@]}" | awk '{ s += $1 } END { print s }')
mib=$(( (bytes + 1048575) / 1048576 ))
[ "$mib" -le "$CARRY_LIMIT_MIB" ] \
  || die "the carried paths (${carry[*]}) hold $mib MiB, over the $CARRY_LIMIT_MIB MiB that travel"
echo "gpu-prepare: carried: ${carry[*]} ($mib MiB of $CARRY_LIMIT_MIB)"
if [ -n "$(git status --porcelain 2> /dev/null)" ]; then
  echo "gpu-prepare: note: the working tree has uncommitted changes; they travel too, and the summary will say 'modified'"
fi

echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (modified)')" > .gpu/commit

# The whole call: 570 s, or what the device time left allows (30 s for the machine's start, 20 s of
# margin); below 4 minutes the device tool starts no machine.
deadline=570
if [ -n "$budget" ]; then
  [ $((budget - 50)) -ge "$deadline" ] || deadline=$((budget - 50))
fi
session="launch/gpu-session.sh \$OUT"
[ "$deadline" -eq 570 ] || session="$session --deadline $deadline"
cat <<EOF

The device call (the device tool's run), from the repository root:
  command:   $session
  carry:     [".gpu", "data/mnist"]
  timeout_s: $((deadline + 20))
It ends within $deadline s; read \$OUT/summary.md first (runs.tsv: the benchmark's rows; logs.tgz:
every log). Give the machine back right after, unless a follow-up call is ready.
EOF
