// Resource limits: a soft open-file limit below what a rank needs is raised when the hard limit
// allows, else one error names the limit; the address-space limit, the mapped size and the free
// memory are read from the system. Limits are changed in child processes (death tests) only.
#include "util/resource_limits.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "util/error.h"

namespace vit {
namespace {

// Runs `body` in a child process with the given soft and hard limit of `resource`; the child exits
// with 0 when body returns true, 2 when it returns false, 3 with the message on stderr when it
// throws.
template <typename Body>
void in_child_with_limit(int resource, rlim_t soft, rlim_t hard, Body body) {
  rlimit limit{soft, hard};
  if (::setrlimit(resource, &limit) != 0) _exit(4);
  try {
    _exit(body() ? 0 : 2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    _exit(3);
  }
}

class ResourceLimitsDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(ResourceLimitsDeathTest, ALowSoftOpenFileLimitIsRaisedTowardsTheHardOne) {
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  if (now.rlim_max != RLIM_INFINITY && now.rlim_max < 512) GTEST_SKIP() << "hard limit too low";
  EXPECT_EXIT(in_child_with_limit(RLIMIT_NOFILE, 20, now.rlim_max,
                                  [] {
                                    ensure_open_files(256, 512);
                                    rlimit after{};
                                    ::getrlimit(RLIMIT_NOFILE, &after);
                                    return after.rlim_cur == 512;
                                  }),
              ::testing::ExitedWithCode(0), "");
}

TEST_F(ResourceLimitsDeathTest, AHardOpenFileLimitBelowTheNeedIsOneErrorNamingIt) {
  EXPECT_EXIT(in_child_with_limit(RLIMIT_NOFILE, 20, 64,
                                  [] {
                                    ensure_open_files(256, 4096);
                                    return true;
                                  }),
              ::testing::ExitedWithCode(3),
              "the open-file limit \\(ulimit -n\\) is 64 \\(hard limit 64\\), below the 256 a "
              "rank needs");
}

TEST_F(ResourceLimitsDeathTest, EnoughOpenFilesIsLeftAlone) {
  EXPECT_EXIT(in_child_with_limit(RLIMIT_NOFILE, 1000, 1000,
                                  [] {
                                    ensure_open_files(256, 512);
                                    rlimit after{};
                                    ::getrlimit(RLIMIT_NOFILE, &after);
                                    return after.rlim_cur == 1000;
                                  }),
              ::testing::ExitedWithCode(0), "");
}

TEST_F(ResourceLimitsDeathTest, TheAddressSpaceLimitIsReadInBytes) {
  constexpr rlim_t kLimit = rlim_t{64} << 30;
  EXPECT_EXIT(in_child_with_limit(RLIMIT_AS, kLimit, kLimit,
                                  [] { return address_space_limit() == uint64_t{64} << 30; }),
              ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(in_child_with_limit(RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY,
                                  [] { return !address_space_limit().has_value(); }),
              ::testing::ExitedWithCode(0), "");
}

TEST(ResourceLimits, MappedAndAvailableMemoryAreRead) {
  EXPECT_GT(mapped_bytes(), uint64_t{1} << 20);  // this test program maps more than a MiB
  const auto available = available_memory();
  ASSERT_TRUE(available.has_value());
  EXPECT_GT(available->bytes, 0u);
  EXPECT_FALSE(available->source.empty());
}

TEST(ResourceLimits, BytesAreFormattedForMessages) {
  EXPECT_EQ(format_bytes(uint64_t{820} << 20), "820 MiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 29), "1.5 GiB");
}

}  // namespace
}  // namespace vit
