#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer) in
# build-fuzz/ and run each for a bounded time; any finding fails.
#
# Usage: launch/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
#
# Targets (tests/fuzz/): idx_fuzz (IDX reader, raw and gzip), tensor_file_fuzz (checkpoint and
# model files), config_fuzz (command line and INI file). Installs clang and the libFuzzer runtime
# when missing, configures build-fuzz/ once (a rebuild is incremental), writes the seed corpora
# (tests/fuzz/make_corpus.sh; the corpora grow in build-fuzz/corpus/<target>/), then runs the
# targets, VIT_FUZZ_JOBS at a time (default: the number of cores). Writes a summary (executions,
# coverage, corpus) to build-fuzz/fuzz-summary.md and stdout; logs in build-fuzz/logs/.
# Exits 1 when a target crashed, leaked, hit a sanitizer error or a timeout (the input that did it
# is named, and kept in build-fuzz/artifacts/<target>/), 2 on a usage or build error.
set -euo pipefail

die() { echo "error: $*" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-fuzz"
TARGETS=(idx_fuzz tensor_file_fuzz config_fuzz)

case "${1:-}" in
  -h|--help) sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
esac
[ $# -le 1 ] || die "usage: launch/fuzz.sh [SECONDS_PER_TARGET]"
SECONDS_PER_TARGET="${1:-60}"
[[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]] \
  || die "fuzz.sh: SECONDS_PER_TARGET must be a positive whole number, got '$SECONDS_PER_TARGET'"
CORES="$(nproc)"  # (before OMP_NUM_THREADS=1 below, which nproc obeys)
JOBS="${VIT_FUZZ_JOBS:-$CORES}"
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "fuzz.sh: VIT_FUZZ_JOBS must be a positive number"
start_all=$SECONDS

# --- (a) packages: apt only when something is missing --------------------------------------------
# clang and its runtimes (libclang-rt-dev: libFuzzer, ASan, UBSan), and what the parsers link.
PACKAGES=(clang libclang-rt-dev cmake ninja-build libtorch-dev libboost-program-options-dev
          libspdlog-dev zlib1g-dev ccache)
missing=()
for p in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  APT_WHO=fuzz
  # shellcheck source=launch/apt.sh
  source "$ROOT/launch/apt.sh"
  apt_install "${missing[@]}"
fi

# --- (b) configure (first time only) and build ---------------------------------------------------
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
mkdir -p "$BUILD"
LOG="$BUILD/fuzz-build.log"
: >"$LOG"
build_fail() {
  echo "error: $1 failed; last lines of ${LOG#"$ROOT"/}:" >&2
  tail -n 40 "$LOG" | sed 's/^/  | /' >&2
  exit 2
}
start=$SECONDS
if [ ! -f "$BUILD/CMakeCache.txt" ] || [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -G Ninja -DVIT_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$LOG" 2>&1 || build_fail "cmake configure (fuzz)"
fi
cmake --build "$BUILD" -j"$CORES" >>"$LOG" 2>&1 || build_fail "fuzz build"
if grep -q '^ninja: no work to do\.' "$LOG"; then
  echo "fuzz: build up to date (${BUILD#"$ROOT"/}/)"
else
  echo "fuzz: built the fuzz targets in $((SECONDS - start)) s (log: ${LOG#"$ROOT"/})"
fi

# --- (c) seed corpora --------------------------------------------------------------------------
bash "$ROOT/tests/fuzz/make_corpus.sh" "$BUILD"

# --- (d) fuzzing ---------------------------------------------------------------------------------
mkdir -p "$BUILD/logs"
# One thread per target (labels.max() is a LibTorch reduction); UBSan reports with a stack.
export OMP_NUM_THREADS=1
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# The targets' temporary files (tests/fuzz/fuzz_file.h), removed here after a run that crashed.
TEMP_DIR="${VIT_FUZZ_TMPDIR:-}"
[ -n "$TEMP_DIR" ] || { [ -w /dev/shm ] && TEMP_DIR=/dev/shm; } || TEMP_DIR=/tmp

run_target() {
  local target="$1" artifacts="$BUILD/artifacts/$1" pid rc=0
  rm -rf "$artifacts"
  mkdir -p "$artifacts"
  # Absolute paths: config_fuzz works in a folder of its own while parsing.
  "$BUILD/tests/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$BUILD/corpus/$target" >"$BUILD/logs/$target.log" 2>&1 &
  pid=$!
  wait "$pid" || rc=$?
  rm -rf "$TEMP_DIR"/vit-fuzz-*-"$pid".*
  return "$rc"
}

echo "fuzz: ${#TARGETS[@]} targets, $SECONDS_PER_TARGET s each, $JOBS at a time (logs: ${BUILD#"$ROOT"/}/logs/)"
declare -A rc_of pid_of
running=0
for target in "${TARGETS[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$target" &
  pid_of[$target]=$!
  running=$((running + 1))
done
for target in "${TARGETS[@]}"; do
  rc=0
  wait "${pid_of[$target]}" || rc=$?
  rc_of[$target]=$rc
done

# --- (e) summary ---------------------------------------------------------------------------------
# field NAME LINE: the value after "NAME: " in a libFuzzer status line.
field() { sed -n "s/.* $1: *\([^ ]*\).*/\1/p" <<<"$2"; }
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

SUMMARY="$BUILD/fuzz-summary.md"
failed=()
{
  echo "# Fuzzing summary"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $SECONDS_PER_TARGET s per target, $JOBS at a time, $CORES cores, $(clang --version | head -n 1)"
  echo
  echo "| target | result | exec/s | executions | cov | ft | corpus files | corpus (libFuzzer) | new units | peak RSS MB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for target in "${TARGETS[@]}"; do
    log="$BUILD/logs/$target.log"
    last="$(grep -E '^#[0-9]+[[:space:]]+(INITED|NEW|REDUCE|pulse|DONE|RELOAD)' "$log" | tail -n 1 || true)"
    findings="$(find "$BUILD/artifacts/$target" -type f \( -name 'crash-*' -o -name 'leak-*' \
                  -o -name 'timeout-*' -o -name 'oom-*' \) | sort)"
    result=ok
    if [ "${rc_of[$target]}" -ne 0 ] || [ -n "$findings" ] \
       || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:' "$log"; then
      result="FAILED (exit ${rc_of[$target]})"
      failed+=("$target")
    fi
    echo "| $target | $result | $(final_stat average_exec_per_sec "$log") | $(final_stat number_of_executed_units "$log") | $(field cov "$last") | $(field ft "$last") | $(find "$BUILD/corpus/$target" -type f | wc -l) | $(field corp "$last") | $(final_stat new_units_added "$log") | $(final_stat peak_rss_mb "$log") |"
  done
} >"$SUMMARY"
cat "$SUMMARY"

for target in "${failed[@]}"; do
  log="$BUILD/logs/$target.log"
  echo
  echo "fuzz: $target FAILED; the report (${log#"$ROOT"/}):"
  grep -E 'ERROR:|SUMMARY:|runtime error:|terminate called|what\(\):|^    #[0-9]+ ' "$log" \
    | head -n 40 | sed 's/^/  | /'
  inputs="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")"
  [ -n "$inputs" ] || inputs="$(find "$BUILD/artifacts/$target" -type f | sort)"
  for input in $inputs; do
    echo "fuzz: $target: input that fails: $input"
    echo "fuzz:   reproduce: ${BUILD#"$ROOT"/}/tests/fuzz/$target $input"
  done
  [ -n "$inputs" ] || echo "fuzz: $target: no input saved (a failure outside any one input; see the log)"
done
echo
echo "fuzz: $((SECONDS - start_all)) s in all; summary in ${SUMMARY#"$ROOT"/}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings"
