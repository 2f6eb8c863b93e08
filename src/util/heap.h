// The C library's heap in a training process: keep freed blocks for reuse instead of handing them
// back to the kernel.
//
// glibc's malloc serves a block above its mmap threshold (128 KiB at first) with freshly mapped
// pages and unmaps them at free(); it raises the threshold only once a larger mapped block has
// been freed. A training step allocates and frees the same tensors every step (activations, the
// attention weights: 2.5 MiB per layer of the seed model on 128 images), so until something
// raises the threshold (in practice the first evaluation) every step pays page faults and the
// kernel's zeroing of those pages. Measured on the 2-core development machine, seed model, one
// thread: the first epoch ran about 5% slower than the second; with the thresholds fixed, both
// run at the second's speed, with the same peak memory.
//
// Nor is the heap's top trimmed: a step's activations are freed together at the end of its
// backward pass, often as one free region at the top of the heap, which glibc hands back to the
// kernel once it exceeds the trim threshold (the next step faults every page in again). With a
// threshold of 64 MiB, mnist-small (about 180 MiB of activations a step) ran 8-12% slower when
// the order of its allocations left that region on top (measured, 2026-12-05); never trimming
// keeps the process at its peak, which each step reaches anyway.
#pragma once

namespace vit {

// Sets glibc's mmap threshold to its largest value (32 MiB on 64-bit systems) and turns off
// trimming, unless MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ in the environment
// say otherwise. Returns whether it changed them; other C libraries: nothing, false.
bool keep_freed_memory();

}  // namespace vit
