#!/usr/bin/env bash
# test.sh -- install, build (with the test suites) and run them with ctest.
#
# Usage: launch/test.sh [CTEST ARGS...]
#
# Extra arguments go to ctest, e.g. `launch/test.sh -L unit` or `launch/test.sh -R idx -V`.
# Labels: unit, mpi, slurm, e2e, gpu. Exits with ctest's status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

case "${1:-}" in
  -h|--help) sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac

"$ROOT/launch/setup.sh" --tests

cmd=(ctest --test-dir "$ROOT/build" --output-on-failure -j2 "$@")
echo "test: ${cmd[*]}"
rc=0
"${cmd[@]}" || rc=$?
exit "$rc"
