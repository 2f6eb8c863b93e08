// VIT_MULTIVERSION: compile a hot function twice, for x86-64-v3 (AVX2 with FMA, every x86 CPU
// since 2013-2015) and for the baseline x86-64, and pick one at load time by what the CPU supports
// (GCC's function multi-versioning). Other compilers and architectures get the plain function.
// Not "avx2" alone: that clone has no FMA, so every a * b + c was a multiply and a separate add
// (half the arithmetic rate, a longer dependency chain in the attention kernel's dot products),
// while the AVX-512 clone had FMA. Alone it gained little (the attention kernel was bound by its
// spilled accumulators); with them in registers it is part of bench/RESULTS.md's 2026-12-05 gain.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VIT_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
// The same with an AVX-512 version too, for loops written 16 floats wide.
#define VIT_MULTIVERSION_WIDE __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define VIT_MULTIVERSION
#define VIT_MULTIVERSION_WIDE
#endif
