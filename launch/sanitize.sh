#!/usr/bin/env bash
# sanitize.sh -- the unit and MPI tests once more, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (GCC), in build-asan/. Our code is instrumented; LibTorch, Open MPI
# and the other libraries are not. Any sanitizer report fails the test it happened in.
#
# Usage: launch/sanitize.sh [CTEST ARGS...]   (default: -L "unit|mpi" -LE "slurm|gpu" -E "mnist_real|mpi.netns")
# Leak checking is off: Open MPI and LibTorch keep allocations for the life of the process.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
  -h|--help) sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac

"$ROOT/launch/setup.sh" --tests > /dev/null  # the packages (and build/, which CI has anyway)
build="$ROOT/build-asan"
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
# halt_on_error: a report ends the test (status 1) instead of scrolling by. Set before the build:
# it runs the test programs to list their tests.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
mkdir -p "$build"
# (ccache through cmake/Ccache.cmake, as for the other builds)
cmake -S "$ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIT_BUILD_TESTS=ON \
  "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" \
  > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)"
args=("$@")
# (not e2e.mnist_real: 3 epochs of real MNIST within a time budget that ASan's slowdown breaks;
# not mpi.netns: Open MPI's daemons, not our code, are what it exercises beyond the unit tests)
[ ${#args[@]} -gt 0 ] || args=(-L "unit|mpi" -LE "slurm|gpu" -E "mnist_real|mpi.netns")
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 "${args[@]}"
