#!/usr/bin/env bash
# test.sh -- install, build (with the test suites) and run them with ctest.
#
# Usage: launch/test.sh [CTEST ARGS...]
#
# Extra arguments go to ctest, e.g. `launch/test.sh -L unit` or `launch/test.sh -R idx -V`.
# Labels: unit, mpi, slurm, e2e, gpu. Exits with ctest's status.
# VIT_LIBTORCH=pip: the same against PyPI's LibTorch 2.x, in build-pip/ (see launch/setup.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

case "${1:-}" in
  -h|--help) sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac

"$ROOT/launch/setup.sh" --tests

build="$ROOT/build"
[ "${VIT_LIBTORCH:-debian}" != pip ] || build="$ROOT/build-pip"
cmd=(ctest --test-dir "$build" --output-on-failure -j2 "$@")
echo "test: ${cmd[*]}"
rc=0
"${cmd[@]}" || rc=$?
exit "$rc"
