#!/usr/bin/env bash
# libtorch-pip.sh -- PyPI's torch (a CUDA LibTorch 2.x) in the project's virtual environment.
#
# Usage: launch/libtorch-pip.sh      (called by `launch/setup.sh --libtorch pip`)
#
# Installs the torch pinned in launch/torch-pip.txt into $VIT_TORCH_VENV (default .venv-torch/ at
# the repository root), a virtual environment of its own: no other Python is touched. The wheels
# (about 2.6 GB with their nvidia-* dependencies) are kept in $VIT_CACHE_DIR/wheels (default
# ~/.cache/vit-train/wheels), so a second set-up, or a fresh clone on the same machine, installs
# from there and downloads nothing. Prints the folder that CMake's find_package(Torch) needs on
# its last line of stdout; messages go to stderr.
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/launch/torch-pip.txt"
VENV="${VIT_TORCH_VENV:-$ROOT/.venv-torch}"
WHEELS="${VIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vit-train}/wheels"
PIN="$(grep -E '^torch==' "$REQ" | head -n 1)"
[ -n "$PIN" ] || die "$REQ: no torch==VERSION line"
WANT="${PIN#torch==}"

# have_torch: the venv's torch is the pinned version (a local build tag like +cu130 allowed).
have_torch() {
  [ -x "$VENV/bin/python" ] || return 1
  local got
  got="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null)" || return 1
  [ "${got%%+*}" = "$WANT" ]
}

if ! have_torch; then
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" 2>/dev/null \
      || die "cannot create the virtual environment $VENV (install Debian's python3-venv)"
  fi
  mkdir -p "$WHEELS" || die "cannot create the wheel cache $WHEELS"
  pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
  log="$VENV/pip.log"
  if "${pip[@]}" install --no-index --find-links "$WHEELS" -r "$REQ" >"$log" 2>&1; then
    echo "setup: installed $PIN from the wheel cache $WHEELS" >&2
  else
    echo "setup: downloading $PIN and its CUDA libraries (about 2.6 GB) into $WHEELS" >&2
    start=$SECONDS
    # One line per file as it starts (name and size): progress that also reads well in a log.
    if ! "${pip[@]}" download --progress-bar off -r "$REQ" -d "$WHEELS" 2>&1 | tee "$log" \
         | sed -un 's/^ *Downloading \(.*\)$/setup:   \1/p' >&2; then
      die "pip download of $PIN failed: $(grep -iE 'error' "$log" | tail -n 1) (log: $log)"
    fi
    grep -q '^Successfully downloaded\|^Saved' "$log" \
      || die "pip download of $PIN failed: $(tail -n 1 "$log") (log: $log)"
    echo "setup: downloaded in $((SECONDS - start)) s; installing" >&2
    "${pip[@]}" install --no-index --find-links "$WHEELS" -r "$REQ" >"$log" 2>&1 \
      || die "pip install of $PIN failed: $(tail -n 1 "$log") (log: $log)"
  fi
  have_torch || die "$VENV: torch $WANT is not importable after the install (log: $log)"
fi
"$VENV/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null \
  || die "$VENV: torch.utils.cmake_prefix_path failed"
