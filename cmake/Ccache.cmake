# Route compilations through ccache when it is installed. The sloppiness settings let ccache
# cache translation units that use the precompiled LibTorch header; base_dir makes hits portable
# between clones of the repository in different folders (CI builds a fresh clone).
find_program(VIT_CCACHE ccache)
if(VIT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" "CCACHE_NOHASHDIR=1" ${VIT_CCACHE})
  message(STATUS "vit-train: compiling through ${VIT_CCACHE}")
endif()
