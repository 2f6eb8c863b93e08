# shellcheck shell=bash
# gpu-env.sh -- sourced by launch/gpu-session.sh, launch/gpu-check.sh and bench/gpu-compare.sh:
# makes Open MPI, Boost.Program_options, spdlog, fmt, GoogleTest, zlib, libpng, protobuf and
# libsodium available for a CUDA build on a GPU machine, which reaches no package registry.
#
#   . launch/gpu-env.sh      (from any folder; returns 1 with one line on stderr when it fails)
#
# The system's own libraries when it has every Debian package the build needs (launch/setup.sh
# installs them); else the .deb files that launch/gpu-prepare.sh put in .gpu/debs, unpacked (never
# into /) into $VIT_GPU_DEPS (default /opt/vit-gpu-deps), with PATH, LD_LIBRARY_PATH, Open MPI's
# relocation and CMake's search path pointing there. A GPU machine may have some of these but not
# all (seen: its own Open MPI, and a Boost without program_options): the carried set is used whole.
# VIT_GPU_SYSTEM_DEPS=1 or 0 decides instead of the package check.
#
# Once per environment: it exports VIT_GPU_ENV=system|carried, and a second source (in a child
# script) returns at once, so every step of a session sees the same libraries.

_vit_gpu_env() {
  local root debs lib want=${VIT_GPU_SYSTEM_DEPS:-} f
  [ -z "${VIT_GPU_ENV:-}" ] || return 0
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -z "$want" ]; then
    want=0
    if command -v mpirun > /dev/null && [ "$(dpkg-query -W -f='${Status}\n' \
        libboost-program-options-dev libspdlog-dev libgtest-dev libopenmpi-dev zlib1g-dev \
        libsodium-dev 2> /dev/null | grep -c ' installed$')" = 6 ]; then
      want=1
    fi
  fi
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  if [ "$want" = 1 ]; then
    export VIT_GPU_ENV=system
    return 0
  fi
  debs="$root/.gpu/debs"
  if ! compgen -G "$debs/*.deb" > /dev/null; then
    echo "error: gpu-env: this machine lacks Open MPI, Boost.Program_options, spdlog, GoogleTest or libsodium, and $debs holds no .deb files (make them with launch/gpu-prepare.sh and carry .gpu)" >&2
    return 1
  fi
  export VIT_GPU_DEPS=${VIT_GPU_DEPS:-/opt/vit-gpu-deps}
  # Unpacked again whenever the set of .deb files changed.
  if ! (cd "$debs" && ls -1 ./*.deb) | cmp -s - "$VIT_GPU_DEPS/.unpacked" 2> /dev/null; then
    if ! { rm -rf "$VIT_GPU_DEPS" && mkdir -p "$VIT_GPU_DEPS"; }; then
      echo "error: gpu-env: cannot create $VIT_GPU_DEPS" >&2
      return 1
    fi
    for f in "$debs"/*.deb; do
      dpkg-deb -x "$f" "$VIT_GPU_DEPS" || { echo "error: gpu-env: cannot unpack $f" >&2; return 1; }
    done
    # Debian names these through alternatives, which a bare unpack does not set up.
    for f in mpirun mpiexec mpicc mpicxx mpic++; do ln -sf "$f.openmpi" "$VIT_GPU_DEPS/usr/bin/$f"; done
    (cd "$debs" && ls -1 ./*.deb) > "$VIT_GPU_DEPS/.unpacked"
  fi
  lib=$VIT_GPU_DEPS/usr/lib/x86_64-linux-gnu
  export PATH=$VIT_GPU_DEPS/usr/bin:$PATH
  export LD_LIBRARY_PATH=$lib:$lib/openmpi/lib:$VIT_GPU_DEPS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export OPAL_PREFIX=$VIT_GPU_DEPS/usr             # Open MPI finds its own files under the prefix
  export OPAL_SYSCONFDIR=$VIT_GPU_DEPS/etc/openmpi
  export PMIX_INSTALL_PREFIX=$lib/pmix2            # likewise PMIx, which starts the ranks
  export OMPI_MCA_mtl=^psm,ofi                     # no InfiniBand or EFA drivers there
  export PMIX_MCA_pcompress_base_silence_warning=1
  export OMPI_MCA_plm_rsh_agent=false              # one machine: no ssh needed, and there is none
  export MPI_HOME=$lib/openmpi
  export CMAKE_PREFIX_PATH=$VIT_GPU_DEPS/usr${CMAKE_PREFIX_PATH:+;$CMAKE_PREFIX_PATH}
  command -v mpirun > /dev/null || { echo "error: gpu-env: no mpirun in $VIT_GPU_DEPS" >&2; return 1; }
  export VIT_GPU_ENV=carried
}
if _vit_gpu_env; then unset -f _vit_gpu_env; true; else unset -f _vit_gpu_env; false; fi
