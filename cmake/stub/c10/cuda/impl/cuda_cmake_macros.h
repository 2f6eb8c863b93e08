// Stand-in for the header that a CUDA build of LibTorch generates from
// c10/cuda/impl/cuda_cmake_macros.h.in. Debian's CPU-only libtorch-dev ships the c10/cuda headers
// without it; cmake/CudaParts.cmake puts this folder on the include path ONLY for the syntax check
// of the CUDA sources on machines without a CUDA LibTorch. Real GPU builds use LibTorch's own.
#pragma once

// The one macro the real header defines (LibTorch is built as shared libraries); c10/cuda/
// CUDAMacros.h reads it to choose between dllexport and dllimport, which matters on Windows only.
#define C10_CUDA_BUILD_SHARED_LIBS
