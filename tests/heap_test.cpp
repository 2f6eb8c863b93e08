#include "util/heap.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace vit {
namespace {

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
// Blocks malloc serves by mapping pages of their own, now.
size_t mapped_blocks() { return mallinfo2().hblks; }

// Allocates and touches `bytes`, then reports whether the block was mapped on its own.
bool mapped_on_its_own(size_t bytes) {
  const size_t before = mapped_blocks();
  void* volatile block = std::malloc(bytes);
  std::memset(block, 1, bytes);
  const bool mapped = mapped_blocks() > before;
  std::free(block);
  return mapped;
}

// In a child process each, so that neither probe's block moves glibc's own threshold for the
// other (freeing a mapped block raises it to that block's size).
constexpr size_t kBlock = 24u << 20;  // between the default threshold and keep_freed_memory's

TEST(HeapDeathTest, ByDefaultABlockOfAStepIsMappedOnItsOwn) {
  EXPECT_EXIT(std::exit(mapped_on_its_own(kBlock) ? 0 : 1), ::testing::ExitedWithCode(0), "");
}

TEST(HeapDeathTest, AfterKeepFreedMemoryItComesFromTheHeap) {
  EXPECT_EXIT(
      {
        if (!keep_freed_memory()) std::exit(2);
        std::exit(!mapped_on_its_own(kBlock) && !mapped_on_its_own(kBlock) ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// Frees 2,048 touched blocks of 64 KiB (under every mmap threshold: from the heap), newest first
// as a step's activations at its end, and reports whether the heap handed its top back.
bool heap_shrinks_after_a_step() {
  std::vector<void*> blocks;
  for (int i = 0; i < 2048; ++i) {
    blocks.push_back(std::malloc(64u << 10));
    std::memset(blocks.back(), 1, 64u << 10);
  }
  const size_t before = mallinfo2().arena;
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) std::free(*it);
  return mallinfo2().arena < before;
}

TEST(HeapDeathTest, ByDefaultTheHeapShrinksAfterAStep) {
  EXPECT_EXIT(std::exit(heap_shrinks_after_a_step() ? 0 : 1), ::testing::ExitedWithCode(0), "");
}

TEST(HeapDeathTest, AfterKeepFreedMemoryTheHeapKeepsItsPeak) {
  EXPECT_EXIT(
      {
        if (!keep_freed_memory()) std::exit(2);
        std::exit(!heap_shrinks_after_a_step() && !heap_shrinks_after_a_step() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Heap, TheUsersSettingWins) {
  ASSERT_EQ(std::getenv("MALLOC_MMAP_THRESHOLD_"), nullptr);
  ASSERT_EQ(setenv("MALLOC_TRIM_THRESHOLD_", "1000000", 1), 0);
  EXPECT_FALSE(keep_freed_memory());
  ASSERT_EQ(unsetenv("MALLOC_TRIM_THRESHOLD_"), 0);
}
#else
TEST(Heap, NotGlibcMalloc) { GTEST_SKIP() << "not glibc's malloc (or AddressSanitizer's)"; }
#endif

}  // namespace
}  // namespace vit
