#!/usr/bin/env bash
# gpu-check.sh -- validate the GPU path in one short run on a GPU machine (about 4-5 minutes with
# a cold build on 16 cores), and write what it found into OUT_DIR. On a lent GPU, run it through
# launch/gpu-session.sh, which bounds it by the session's deadline and runs the benchmark after it.
#
# Usage: launch/gpu-check.sh OUT_DIR [--dry-run]
#
# Steps, each logged to OUT_DIR/<step>.log and summed up in OUT_DIR/summary.md:
#   env        cmake, a compiler, the libraries (launch/gpu-env.sh: the system's, or those carried
#              in .gpu/), PyTorch with CUDA (the python3 on PATH, or $PYTHON), a GPU
#   configure  CMake against that PyTorch's LibTorch (build-gpu/, or $VIT_GPU_BUILD)
#   build      only what the check runs
#   cpu-1      one epoch of the seed model (configs/mnist.ini) on the CPU, 1 rank: the reference
#   gpu-tests  ctest -L gpu with VIT_REQUIRE_GPU=1: a skipped GPU test fails the check
#   gpu-1      the same epoch on the GPU, 1 rank, NCCL, the step as one CUDA graph (auto)
#   gpu-eager  the same with train.cuda_graph off: same accuracy (within 1 point), its speed
#   gpu-2      2 ranks sharing the GPU: the MPI fallback with its warning; dist.backend nccl
#              refused before NCCL starts
#   eval       gpu-1's final.pt scored by vit-eval on the GPU (must equal its epoch line) and on
#              the CPU (within 0.1 point)
#   compare    test accuracies of cpu-1, gpu-1, gpu-2
# Without a GPU the check stops at the first GPU step with "no GPU" (exit 2). Without --dry-run it
# stops there before configuring; --dry-run runs every step that needs no GPU first (a CPU
# machine with the CUDA LibTorch checks the script this way). Data: data/mnist when it is there
# and verifies (carry it to a machine without a network), else a synthetic set (said so).
# Bounds: each training or scoring run is stopped after VIT_GPU_STEP_TIMEOUT s (default 150), a
# stalled collective after 60 s (dist.timeout_s), each GPU test after 90 s (tests/CMakeLists.txt).
# Whatever ends the check, the summary's last line says where it stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="" dry_run=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,30s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    --dry-run) dry_run=1 ;;
    -*) echo "error: gpu-check.sh: unknown option $arg" >&2; exit 1 ;;
    *) [ -z "$out" ] || { echo "error: gpu-check.sh: one OUT_DIR only" >&2; exit 1; }; out=$arg ;;
  esac
done
[ -n "$out" ] || { echo "usage: launch/gpu-check.sh OUT_DIR [--dry-run]" >&2; exit 1; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
summary="$out/summary.md"
build="${VIT_GPU_BUILD:-$ROOT/build-gpu}"
python="${PYTHON:-python3}"
started=$SECONDS
step_started=$SECONDS
failures=0

: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
# step NAME: starts a step (its log is $out/NAME.log).
step() { step_name=$1; step_started=$SECONDS; echo "gpu-check: $1 ..."; }
passed() { note "- $step_name: ok ($((SECONDS - step_started)) s)${1:+ -- $1}"; }
failed() {
  note "- $step_name: FAILED ($((SECONDS - step_started)) s) -- $1 (log: $step_name.log)"
  failures=$((failures + 1))
}
# stop CODE LINE: ends the check with LINE on stderr and in the summary.
ended=0
stop() {
  ended=1
  note ""
  note "stopped after $((SECONDS - started)) s: $2"
  echo "error: gpu-check: $2" >&2
  exit "$1"
}
# Whatever ends the check (a command that failed outside an if, a signal from a deadline), the
# summary's last line says where it stopped.
trap '[ "$ended" -eq 1 ] || { ended=1; note ""; note "stopped after $((SECONDS - started)) s: ended unexpectedly in step ${step_name:-start} (see ${step_name:-start}.log)"; echo "error: gpu-check: ended unexpectedly in step ${step_name:-start}" >&2; }' EXIT
trap 'stop 1 "stopped by a signal in step ${step_name:-start} (a deadline?)"' INT TERM
log() { echo "$out/$step_name.log"; }
# run_logged CMD...: runs CMD with its output in the step's log; its status is returned.
run_logged() { "$@" >> "$(log)" 2>&1; }

note "# GPU check"
note ""
# shellcheck source=launch/source-commit.sh
. "$ROOT/launch/source-commit.sh"
note "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(vit_source_commit "$ROOT"), host $(hostname)"
note ""

# --- env -----------------------------------------------------------------------------------------
step env
: > "$(log)"
for tool in cmake c++; do
  command -v "$tool" > /dev/null || stop 1 "no $tool on PATH"
done
# The libraries: the system's, or the Debian packages carried in .gpu/ (launch/gpu-env.sh; a
# session has set them up already, and this returns at once).
# shellcheck source=launch/gpu-env.sh
. "$ROOT/launch/gpu-env.sh" >> "$(log)" 2>&1 || stop 1 "$(grep -m1 '^error:' "$(log)" | sed 's/^error: //')"
echo "libraries: ${VIT_GPU_ENV:-}" >> "$(log)"
command -v mpirun > /dev/null \
  || stop 1 "no MPI: no mpirun on PATH (launch/setup.sh installs Open MPI; a machine without a network gets it from .gpu/, made by launch/gpu-prepare.sh)"
torch_info="$("$python" - 2>> "$(log)" <<'EOF'
import torch
cuda = torch.version.cuda or ""
gpus = torch.cuda.device_count() if cuda else 0
name = torch.cuda.get_device_name(0) if gpus else ""
print(torch.__version__, cuda or "none", gpus, torch.utils.cmake_prefix_path, name, sep="\t")
EOF
)" || stop 1 "no PyTorch: $python cannot import torch (set PYTHON to a python with torch 2.x + CUDA)"
IFS=$'\t' read -r torch_version torch_cuda gpus torch_cmake gpu_name <<< "$torch_info"
echo "torch $torch_version, CUDA $torch_cuda, $gpus GPU(s) $gpu_name" >> "$(log)"
[ "$torch_cuda" != none ] \
  || stop 1 "no CUDA torch: $python has torch $torch_version without CUDA (install a CUDA build of torch 2.x)"
if command -v nvidia-smi > /dev/null; then nvidia-smi >> "$(log)" 2>&1 || true; fi
mpirun --version 2>&1 | head -n 1 >> "$(log)"
no_gpu_line="no GPU: torch $torch_version (CUDA $torch_cuda) sees no CUDA device (nvidia-smi, CUDA_VISIBLE_DEVICES, the driver)"
if [ "$gpus" -gt 0 ]; then
  passed "torch $torch_version, CUDA $torch_cuda, $gpus GPU(s): $gpu_name; $(mpirun --version 2>&1 | head -n 1)"
elif [ "$dry_run" -eq 1 ]; then
  passed "torch $torch_version, CUDA $torch_cuda; no GPU (dry run: the steps before the first GPU step run)"
else
  stop 2 "$no_gpu_line"
fi

# --- configure, build ----------------------------------------------------------------------------
step configure
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
# The carried packages' CMake files by name: a machine with other versions in /usr (Boost 1.83
# headers without program_options, say) would otherwise win the search.
pinned=()
if [ "${VIT_GPU_ENV:-}" = carried ]; then
  for dir in "$VIT_GPU_DEPS"/usr/lib/x86_64-linux-gnu/cmake/{Boost-*,boost_program_options-*,boost_headers-*,GTest,fmt,spdlog}; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir"); name=${name%%-[0-9]*}
    pinned+=("-D${name}_DIR=$dir")
  done
  echo "pinned: ${pinned[*]}" >> "$(log)"
fi
run_logged cmake -S "$ROOT" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${pinned[@]}" \
  -DVIT_BUILD_TESTS=ON "-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH:+$CMAKE_PREFIX_PATH;}$torch_cmake" \
  || stop 1 "configure failed (see configure.log)"
grep -Eq 'CUDA parts: (ON|TRUE|1)$' "$(log)" \
  || stop 1 "configure: the build is not a CUDA build (LibTorch at $torch_cmake has no CUDA?)"
passed "$build against $torch_cmake"

step build
targets=(vit-train vit-eval make-test-data trainer_gpu_test nccl_communicator_test mpi_communicator_gpu_test)
run_logged cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" \
  || stop 1 "build failed (see build.log)"
"$build/vit-train" --version >> "$(log)" 2>&1 || stop 1 "the built vit-train does not start (see build.log)"
passed "$(grep -m1 '^NCCL' "$(log)" || echo "")"

# --- data ----------------------------------------------------------------------------------------
data="$ROOT/data/mnist"
data_note="MNIST (data/mnist)"
: > "$out/data.log"
# Only verified here, never fetched: a GPU machine may reach no network.
if [ ! -d "$data" ] || ! VIT_OFFLINE=1 "$ROOT/launch/get-data.sh" mnist > "$out/data.log" 2>&1; then
  data="$out/data"
  data_note="synthetic digits (data/mnist missing or not verified: see data.log)"
  "$build/tests/make-test-data" "$data" 20000 2000 >> "$out/data.log" 2>&1 \
    || stop 1 "cannot make test data (see data.log)"
fi
note "- data: $data_note"

# A stalled collective ends a run within a minute, and a run that hangs anywhere else within
# VIT_GPU_STEP_TIMEOUT seconds (default 150): the lease is short.
train_args=(--data.dir "$data" --train.epochs 1 --log.progress lines --log.console_every_s 10
            --dist.timeout_s 60)
step_timeout=${VIT_GPU_STEP_TIMEOUT:-150}
# train NP RUN_DIR ARGS...: one run of launch/train.sh within the step timeout, logged.
train() {
  local np=$1 dir=$2
  shift 2
  run_logged timeout -k 10 "$step_timeout" "$ROOT/launch/train.sh" -n "$np" "$ROOT/configs/mnist.ini" \
    "${train_args[@]}" --run-dir "$dir" "$@"
}
export VIT_TRAIN_BIN="$build/vit-train"
# epoch_acc RUN_DIR / epoch_speed RUN_DIR: the test accuracy / images/s of the run's last epoch
# line; nothing (and status 0) when there is none: a lookup never ends the check.
epoch_field() {
  python3 -c 'import json, sys
lines = [m for m in map(json.loads, open(sys.argv[1])) if m.get("event") == "epoch"]
print(lines[-1][sys.argv[2]] if lines else "")' "$1/metrics.jsonl" "$2" 2>> "$(log)" || true
}
epoch_acc() { epoch_field "$1" test_acc; }
epoch_speed() { epoch_field "$1" images_per_s; }

# --- CPU reference -------------------------------------------------------------------------------
step cpu-1
cpu_acc=""
if train 1 "$out/runs/cpu-1" --dist.device cpu; then
  cpu_acc=$(epoch_acc "$out/runs/cpu-1")
  if [ -n "$cpu_acc" ]; then passed "test accuracy $cpu_acc"; else failed "no epoch line"; fi
else
  failed "1-rank CPU run failed: $(grep -m1 '^error:' "$(log)" || tail -n 1 "$(log)")"
fi

[ "$gpus" -gt 0 ] || stop 2 "$no_gpu_line; dry run: every step before it passed"

# --- GPU tests -----------------------------------------------------------------------------------
step gpu-tests
# A test that crashes prints the code addresses on its stack (tests/mpi_main.cpp).
if VIT_REQUIRE_GPU=1 VIT_TEST_SEGV_TRACE=1 run_logged ctest --test-dir "$build" -L gpu --output-on-failure; then
  if grep -Eq '\*\*\*Skipped|Not Run' "$(log)"; then
    failed "a GPU test was skipped: $(grep -E '\*\*\*Skipped|Not Run' "$(log)" | head -n 3 | tr -s ' ' | tr '\n' ';')"
  else
    passed "$(grep -E 'tests passed' "$(log)")"
  fi
else
  failed "$(grep -E 'tests passed|tests failed' "$(log)" | head -n 1): $(grep -E '\*\*\*Failed|\*\*\*Timeout' "$(log)" | tr -s ' ' | cut -d' ' -f4 | tr '\n' ' ')"
fi

# --- GPU training --------------------------------------------------------------------------------
step gpu-1
gpu_acc="" speed=""
if train 1 "$out/runs/gpu-1" --dist.device cuda --dist.backend nccl; then
  gpu_acc=$(epoch_acc "$out/runs/gpu-1")
  speed=$(epoch_speed "$out/runs/gpu-1")
  if ! grep -q 'step captured after' "$out/runs/gpu-1/train.log"; then
    failed "trained, but the step was not captured as a CUDA graph: $(grep -m1 'train.cuda_graph' "$out/runs/gpu-1/train.log")"
  elif grep -q '| gradients .*nccl' "$out/runs/gpu-1/train.log"; then
    passed "test accuracy $gpu_acc, $speed images/s, gradients through NCCL, steps as a CUDA graph"
  else
    failed "trained, but not with NCCL: $(grep '| gradients' "$out/runs/gpu-1/train.log")"
  fi
else
  failed "1-rank GPU run (NCCL) failed: $(grep -m1 '^error:' "$(log)" || tail -n 1 "$(log)")"
fi

step gpu-eager
if train 1 "$out/runs/gpu-eager" --dist.device cuda --dist.backend nccl --train.cuda_graph off; then
  eager_acc=$(epoch_acc "$out/runs/gpu-eager")
  eager_speed=$(epoch_speed "$out/runs/gpu-eager")
  if [ -n "$gpu_acc" ] && [ -n "$eager_acc" ] && python3 -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 0.01)' \
      "$gpu_acc" "$eager_acc"; then
    passed "test accuracy $eager_acc (graph: $gpu_acc), $eager_speed images/s (graph: ${speed:-n/a})"
  else
    failed "eager steps: test accuracy ${eager_acc:-missing}, the graph's ${gpu_acc:-missing}"
  fi
else
  failed "1-rank GPU run with train.cuda_graph off failed: $(grep -m1 '^error:' "$(log)" || tail -n 1 "$(log)")"
fi

step gpu-2
shared_acc=""
if train 2 "$out/runs/gpu-2" --dist.device cuda; then
  shared_acc=$(epoch_acc "$out/runs/gpu-2")
  if ! grep -q 'share the GPU' "$(log)"; then
    failed "2 ranks on one GPU trained without the warning that they share it"
  elif ! grep -q '| gradients .*mpi' "$out/runs/gpu-2/train.log"; then
    failed "2 ranks on one GPU did not fall back to MPI"
  else
    refused=0
    timeout -k 10 "$step_timeout" "$ROOT/launch/train.sh" -n 2 "$ROOT/configs/mnist.ini" \
      "${train_args[@]}" --run-dir "$out/runs/gpu-2-nccl" --dist.device cuda --dist.backend nccl \
      > "$out/gpu-2-nccl.log" 2>&1 || refused=$?
    if [ "$refused" -eq 1 ] && grep -q '^error: dist.backend nccl: .*NCCL needs one rank per GPU' \
        "$out/gpu-2-nccl.log"; then
      passed "test accuracy $shared_acc through MPI with the warning; nccl refused in one line"
    else
      failed "2 ranks, one GPU, dist.backend nccl: exit $refused, not the one-line refusal (gpu-2-nccl.log)"
    fi
  fi
else
  failed "2 ranks sharing the GPU failed: $(grep -m1 '^error:' "$(log)" || tail -n 1 "$(log)")"
fi

# --- vit-eval ------------------------------------------------------------------------------------
step eval
model="$out/runs/gpu-1/checkpoints/final.pt"
verdict=""
if [ -s "$model" ] && [ -n "$gpu_acc" ]; then
  eval_ok=1
  for device in cuda cpu; do
    timeout -k 10 "$step_timeout" "$build/vit-eval" --checkpoint "$model" --data.dir "$data" --dist.device "$device" --json \
      > "$out/eval-$device.json" 2>> "$(log)" || eval_ok=0
  done
  if [ "$eval_ok" -eq 1 ] && verdict=$(python3 - "$out/eval-cuda.json" "$out/eval-cpu.json" "$gpu_acc" 2>&1 <<'EOF'
import json, sys
gpu, cpu = (json.load(open(f))["accuracy"] for f in sys.argv[1:3])
epoch = float(sys.argv[3])
print(f"GPU {gpu}, CPU {cpu}, epoch line {epoch}")
if abs(gpu - epoch) > 1e-6: sys.exit(f"vit-eval on the GPU: {gpu}, the epoch line: {epoch}")
if abs(gpu - cpu) > 0.001: sys.exit(f"vit-eval: GPU {gpu} and CPU {cpu} differ by more than 0.1 point")
EOF
  ); then
    passed "$verdict"
  else
    failed "vit-eval: ${verdict:-a run failed}"
  fi
else
  failed "no final.pt or no test accuracy from gpu-1"
fi

# --- compare -------------------------------------------------------------------------------------
step compare
verdict=""  # (not the eval step's)
if [ -n "$cpu_acc" ] && [ -n "$gpu_acc" ] && verdict=$(python3 - "$cpu_acc" "$gpu_acc" "${shared_acc:-nan}" 2>&1 <<'EOF'
import sys
cpu, gpu, shared = map(float, sys.argv[1:])
print(f"one epoch: CPU {cpu:.4f}, GPU {gpu:.4f}, 2 ranks on the GPU {shared:.4f}")
# Same seed, data order and steps; float sums in another order drift apart over an epoch.
if abs(cpu - gpu) > 0.05: sys.exit(f"GPU {gpu} and CPU {cpu} differ by more than 5 points")
EOF
); then
  passed "$verdict"
else
  failed "${verdict:-an accuracy is missing}"
fi

note ""
if [ "$failures" -gt 0 ]; then
  stop 1 "$failures step(s) failed ($((SECONDS - started)) s in all)"
fi
ended=1
note "all steps passed in $((SECONDS - started)) s"
