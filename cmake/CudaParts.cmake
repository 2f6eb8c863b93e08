# CUDA-only parts of vit_core (the NCCL back end), included at the end of src/CMakeLists.txt.
# With a CUDA LibTorch they are compiled into vit_core. Without one (Debian's CPU LibTorch) but
# with the CUDA toolkit and nccl.h installed, they are still compiled, into an object library
# that nothing links (vit_cuda_syntax, part of `all`), so a CPU-only build and CI catch syntax
# and type errors in code that only GPU machines run.
set(VIT_CUDA_SOURCES parallel/nccl_communicator.cpp train/graph_step.cpp)  # relative to src/
list(TRANSFORM VIT_CUDA_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/src/)
list(APPEND CMAKE_MODULE_PATH ${PROJECT_SOURCE_DIR}/cmake)

if(VIT_WITH_CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_package(NCCL REQUIRED)
  target_sources(vit_core PRIVATE ${VIT_CUDA_SOURCES})
  target_link_libraries(vit_core PUBLIC NCCL::NCCL CUDA::cudart)
  target_compile_definitions(vit_core PUBLIC VIT_WITH_CUDA=1)
  message(STATUS "vit-train: NCCL ${NCCL_VERSION} from ${NCCL_LIBRARY}")
  return()
endif()

find_package(CUDAToolkit QUIET)
find_package(NCCL QUIET)  # only nccl.h is needed here; libnccl may be absent
if(NOT CUDAToolkit_FOUND OR NOT NCCL_INCLUDE_DIR)
  message(STATUS "vit-train: CUDA toolkit or nccl.h not found: syntax check of the CUDA sources "
                 "skipped")
  return()
endif()

# A full compile rather than -fsyntax-only: with no object file written, Ninja would rerun the
# check on every build; an object file makes it incremental (depfile) and cacheable (ccache).
# Sources of vit_core with a VIT_WITH_CUDA branch are compiled here a second time, with it.
set(VIT_CUDA_BRANCH_SOURCES parallel/placement.cpp parallel/library_versions.cpp train/step.cpp
    train/peak_memory.cpp)
list(TRANSFORM VIT_CUDA_BRANCH_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/src/)
add_library(vit_cuda_syntax OBJECT ${VIT_CUDA_SOURCES} ${VIT_CUDA_BRANCH_SOURCES})
add_dependencies(vit_cuda_syntax vit_revision)
target_include_directories(vit_cuda_syntax PRIVATE ${PROJECT_BINARY_DIR}/generated)
# vit_core's usage requirements: its include dirs (src/, LibTorch, spdlog, Boost, MPI), C++17 and
# TORCH_CXX_FLAGS. Object libraries link nothing; this only copies the flags.
target_link_libraries(vit_cuda_syntax PRIVATE vit_core)
target_compile_definitions(vit_cuda_syntax PRIVATE VIT_WITH_CUDA=1)
target_compile_options(vit_cuda_syntax PRIVATE -Wall -Wextra)
target_include_directories(vit_cuda_syntax SYSTEM PRIVATE ${NCCL_INCLUDE_DIR}
                           ${CUDAToolkit_INCLUDE_DIRS})
# The CPU LibTorch lacks the generated c10/cuda/impl/cuda_cmake_macros.h: use the stand-in.
find_file(VIT_C10_CUDA_MACROS c10/cuda/impl/cuda_cmake_macros.h PATHS ${TORCH_INCLUDE_DIRS}
          NO_DEFAULT_PATH)
if(NOT VIT_C10_CUDA_MACROS)
  target_include_directories(vit_cuda_syntax BEFORE PRIVATE ${PROJECT_SOURCE_DIR}/cmake/stub)
endif()
# The GPU tests' CUDA halves too, so that they are not compiled for the first time on a GPU
# machine.
find_package(GTest QUIET)
if(VIT_BUILD_TESTS AND TARGET GTest::gtest AND EXISTS ${PROJECT_SOURCE_DIR}/tests/nccl_communicator_test.cpp)
  target_sources(vit_cuda_syntax PRIVATE ${PROJECT_SOURCE_DIR}/tests/nccl_communicator_test.cpp
                 ${PROJECT_SOURCE_DIR}/tests/trainer_gpu_test.cpp
                 ${PROJECT_SOURCE_DIR}/tests/mpi_communicator_gpu_test.cpp
                 ${PROJECT_SOURCE_DIR}/tests/test_util.cpp)
  target_include_directories(vit_cuda_syntax PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(vit_cuda_syntax PRIVATE GTest::gtest)
endif()
message(STATUS "vit-train: CUDA sources syntax-checked only (LibTorch has no CUDA)")
