// VIT_MULTIVERSION: compile a hot function twice, for AVX2 and for the baseline x86-64, and pick
// one at load time by what the CPU supports (GCC's function multi-versioning). Other compilers
// and architectures get the plain function.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VIT_MULTIVERSION __attribute__((target_clones("avx2", "default")))
// The same with an AVX-512 version too, for loops written 16 floats wide.
#define VIT_MULTIVERSION_WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VIT_MULTIVERSION
#define VIT_MULTIVERSION_WIDE
#endif
