#!/usr/bin/env bash
# The CUDA build links one NCCL and one CUDA runtime, the ones LibTorch itself loads: ldd of each
# program finds exactly one libnccl and one libcudart, both the files that libtorch_cuda.so
# resolves, and no library "not found". Registered only for builds with the CUDA parts.
# Usage: cuda_linkage_e2e.sh TORCH_CUDA_LIBRARY PROGRAM...
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
torch_cuda=$1
shift
[ -f "$torch_cuda" ] || fail "no $torch_cuda"
# resolved FILE LIBNAME: the real paths ldd resolves for LIBNAME (libnccl.so.2, libcudart.so.13...).
resolved() {
  ldd "$1" | awk -v want="$2" '$1 ~ "^" want "\\.so" { print $3 }' | xargs -r -n1 realpath | sort -u
}
torch_nccl=$(resolved "$torch_cuda" libnccl)
torch_cudart=$(resolved "$torch_cuda" libcudart)
[ "$(wc -l <<<"$torch_nccl")" -eq 1 ] && [ -n "$torch_nccl" ] || fail "libtorch_cuda: NCCL '$torch_nccl'"
[ "$(wc -l <<<"$torch_cudart")" -eq 1 ] && [ -n "$torch_cudart" ] || fail "libtorch_cuda: cudart '$torch_cudart'"
for program in "$@"; do
  name=$(basename "$program")
  ! ldd "$program" | grep -q 'not found' || { ldd "$program" | grep 'not found'; fail "$name: libraries not found"; }
  nccl=$(resolved "$program" libnccl)
  cudart=$(resolved "$program" libcudart)
  [ "$nccl" = "$torch_nccl" ] || fail "$name: NCCL '$nccl', LibTorch's is '$torch_nccl'"
  [ "$cudart" = "$torch_cudart" ] || fail "$name: CUDA runtime '$cudart', LibTorch's is '$torch_cudart'"
  echo "$name: one NCCL ($nccl), one CUDA runtime ($cudart), as LibTorch's"
done
