# What a pip-installed LibTorch 2.x (PyPI's torch wheel) needs beside Debian's libraries. Included
# twice from the top CMakeLists.txt: with VIT_TORCH_QUIRKS_STAGE "before" ahead of
# find_package(Torch), and "after" once Torch, spdlog and OpenMP's inputs are known. Debian's
# LibTorch 1.13 needs none of it, and each step below checks for the case it handles.

if(VIT_TORCH_QUIRKS_STAGE STREQUAL "before")
  # Is the LibTorch about to be found a CUDA one (torch/lib/libtorch_cuda.so beside its CMake
  # files)? Only then does Caffe2's CUDA set-up run.
  set(_vit_cuda_torch FALSE)
  foreach(_vit_prefix IN LISTS CMAKE_PREFIX_PATH Torch_DIR)
    foreach(_vit_lib "${_vit_prefix}/../../lib" "${_vit_prefix}/../../../lib")
      get_filename_component(_vit_lib "${_vit_lib}" ABSOLUTE)
      if(EXISTS "${_vit_lib}/libtorch_cuda.so")
        set(_vit_cuda_torch TRUE)
      endif()
      # TorchConfig finds c10 and friends with find_library(... PATHS torch/lib), which searches
      # the system first: with Debian's libtorch-dev also installed, /usr/lib's libc10.so 1.13
      # would be linked beside LibTorch 2.x (a crash at start). The wheel's root as a prefix puts
      # torch/lib ahead of the system.
      if(EXISTS "${_vit_lib}/libtorch_cpu.so")
        get_filename_component(_vit_root "${_vit_lib}/.." ABSOLUTE)
        list(PREPEND CMAKE_PREFIX_PATH "${_vit_root}")
        # One CUDA runtime and one NVRTC: those of the wheel (nvidia/cu13/lib), which
        # libtorch_cuda loads, not the toolkit's in /usr/local/cuda (same sonames). FindCUDAToolkit
        # and Caffe2 take these cache entries as found; headers still come from the toolkit.
        get_filename_component(_vit_cu "${_vit_root}/../nvidia/cu13/lib" ABSOLUTE)
        if(EXISTS "${_vit_cu}/libcudart.so.13" AND NOT DEFINED CUDA_cudart_LIBRARY)
          set(CUDA_cudart_LIBRARY "${_vit_cu}/libcudart.so.13" CACHE FILEPATH "the wheel's")
        endif()
        if(EXISTS "${_vit_cu}/libnvrtc.so.13" AND NOT DEFINED CUDA_nvrtc_LIBRARY)
          set(CUDA_nvrtc_LIBRARY "${_vit_cu}/libnvrtc.so.13" CACHE FILEPATH "the wheel's")
          set(CUDA_NVRTC_LIB "${_vit_cu}/libnvrtc.so.13" CACHE FILEPATH "the wheel's")
        endif()
      endif()
      # The wheel links kineto (the profiler) into libtorch_cpu; TorchConfig looks for a separate
      # libkineto and warns. Point it at the library that holds it.
      if(EXISTS "${_vit_lib}/libtorch_cpu.so" AND NOT EXISTS "${_vit_lib}/libkineto.a"
         AND NOT DEFINED kineto_LIBRARY)
        set(kineto_LIBRARY "${_vit_lib}/libtorch_cpu.so" CACHE FILEPATH
            "kineto, inside libtorch_cpu in PyPI's torch wheel")
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES CMAKE_PREFIX_PATH)
  if(NOT _vit_cuda_torch)
    return()
  endif()
  # nvcc as the CUDA compiler, from the standard location when it is not on PATH.
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(_vit_nvcc nvcc HINTS /usr/local/cuda/bin)
    if(_vit_nvcc)
      set(CMAKE_CUDA_COMPILER "${_vit_nvcc}")
    endif()
  endif()
  # Caffe2 picks nvcc's architectures itself from TORCH_CUDA_ARCH_LIST, probing the GPU when that
  # is unset (there is none here), and warns whenever CMake's CMAKE_CUDA_ARCHITECTURES is defined,
  # which enabling CUDA always does. We compile no CUDA kernels of our own, so the list only has
  # to be valid: the GPU machines' H100/H200 (9.0) unless the user gives one; and CUDA is enabled
  # here, with CMake's own architecture setting removed, before Caffe2 enables it (a no-op then).
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "9.0")
  endif()
  enable_language(CUDA)
  unset(CMAKE_CUDA_ARCHITECTURES CACHE)
  unset(CMAKE_CUDA_ARCHITECTURES)
  return()
endif()

# --- after find_package(Torch) -----------------------------------------------------------------
# With CUDA enabled, newer CMake (4.x) refuses every later try_compile (FindOpenMP's) whose
# CUDA_ARCHITECTURES is empty; Caffe2 has chosen its flags by now, so "no flags of CMake's own".
get_property(_vit_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if("CUDA" IN_LIST _vit_languages AND NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES OFF)
endif()
# The wheel's lib folder (torch/lib) and site-packages, for the libraries torch itself loads.
set(VIT_TORCH_LIB_DIR "")
if(Torch_DIR)
  get_filename_component(VIT_TORCH_LIB_DIR "${Torch_DIR}/../../../lib" ABSOLUTE)
  get_filename_component(VIT_TORCH_SITE "${Torch_DIR}/../../../.." ABSOLUTE)
endif()

# 0. The run path names the wheel's folders first (CUDA runtime and libraries, NCCL, torch/lib),
#    so that a library both the wheel and the CUDA toolkit in /usr/local/cuda provide (libcudart,
#    libnvrtc: same sonames) resolves to the wheel's, the one libtorch_cuda itself loads.
if(VIT_TORCH_SITE AND EXISTS "${VIT_TORCH_SITE}/nvidia")
  foreach(_vit_dir "${VIT_TORCH_SITE}/nvidia/cu13/lib" "${VIT_TORCH_SITE}/nvidia/nccl/lib"
                   "${VIT_TORCH_LIB_DIR}")
    if(IS_DIRECTORY "${_vit_dir}")
      list(APPEND CMAKE_BUILD_RPATH "${_vit_dir}")
    endif()
  endforeach()
endif()

# 0b. PyPI's libtorch.so exports its own statically linked copy of libstdc++'s std::filesystem
#    (strong symbols; PyTorch issue 133437). It comes before libstdc++.so in the lookup order, so
#    our std::filesystem calls bound to it, and remove_all() jumped to address 0 (every test with
#    a temporary folder crashed). libstdc++ as the first needed library makes it win the lookup.
if(VIT_TORCH_LIB_DIR AND EXISTS "${VIT_TORCH_LIB_DIR}/libtorch_cpu.so"
   AND NOT VIT_TORCH_LIB_DIR MATCHES "^/usr/")
  # By its full path: a compiler driver that does not find libstdc++.so by name (a wrapped GCC
  # seen on a GPU machine) left libstdc++ out of the needed list altogether.
  find_library(VIT_LIBSTDCXX NAMES libstdc++.so.6 stdc++
               HINTS /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
  if(VIT_LIBSTDCXX)
    add_link_options("SHELL:-Wl,--push-state,--no-as-needed ${VIT_LIBSTDCXX} -Wl,--pop-state")
  else()
    add_link_options(-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state)
  endif()
endif()

# 1. LibTorch 2.x ships fmt 12's headers in its include folder, ahead of /usr/include; Debian's
#    spdlog is built against Debian's fmt 9 and does not compile with fmt 12. A folder that holds
#    only a link to Debian's fmt goes first in every target's include path. (Our code and the
#    LibTorch headers we include use fmt only through spdlog.)
set(_vit_torch_fmt "")
foreach(_dir IN LISTS TORCH_INCLUDE_DIRS)
  if(EXISTS "${_dir}/fmt/core.h")
    set(_vit_torch_fmt "${_dir}/fmt")
  endif()
endforeach()
if(_vit_torch_fmt AND TARGET fmt::fmt)
  get_target_property(_vit_fmt_include fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  list(GET _vit_fmt_include 0 _vit_fmt_include)
  # (Debian's LibTorch has no fmt of its own: its include folder is /usr/include, Debian's fmt.)
  get_filename_component(_vit_fmt_real "${_vit_fmt_include}/fmt" REALPATH)
  get_filename_component(_vit_torch_fmt_real "${_vit_torch_fmt}" REALPATH)
  if(EXISTS "${_vit_fmt_include}/fmt/core.h" AND NOT _vit_fmt_real STREQUAL _vit_torch_fmt_real)
    set(_vit_shim "${PROJECT_BINARY_DIR}/fmt-of-spdlog")
    file(MAKE_DIRECTORY "${_vit_shim}")
    file(CREATE_LINK "${_vit_fmt_include}/fmt" "${_vit_shim}/fmt" SYMBOLIC)
    include_directories(BEFORE SYSTEM "${_vit_shim}")
    message(STATUS "vit-train: fmt for spdlog from ${_vit_fmt_include}, not LibTorch's "
                   "${_vit_torch_fmt}")
  endif()
endif()

# 2. One OpenMP runtime: the wheel carries its own libgomp.so.1, which libtorch_cpu loads. Our
#    OpenMP code links that same file (same soname; CMake could not order the run path otherwise).
if(VIT_TORCH_LIB_DIR AND EXISTS "${VIT_TORCH_LIB_DIR}/libgomp.so.1")
  set(OpenMP_CXX_FLAGS "-fopenmp" CACHE STRING "" FORCE)
  set(OpenMP_CXX_LIB_NAMES "gomp" CACHE STRING "" FORCE)
  set(OpenMP_gomp_LIBRARY "${VIT_TORCH_LIB_DIR}/libgomp.so.1" CACHE FILEPATH "" FORCE)
endif()
