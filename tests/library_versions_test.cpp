// The version report names the program and every library, each line from the unit that owns it.
#include "parallel/library_versions.h"

#include <gtest/gtest.h>
#include <torch/torch.h>  // TORCH_VERSION

#include <string>
#include <vector>

#include "model/linear.h"
#include "parallel/mpi_context.h"
#include "test_util.h"
#include "parallel/placement.h"

namespace vit {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

TEST(LibraryVersions, OneLinePerComponentStartingWithTheProgram) {
  const auto lines = testing::text_lines(version_report("vit-eval"));
  ASSERT_GE(lines.size(), 4u);
  EXPECT_TRUE(starts_with(lines[0], "vit-eval " VIT_VERSION " (revision ")) << lines[0];
  EXPECT_TRUE(starts_with(lines[1], "LibTorch " TORCH_VERSION " (")) << lines[1];
  EXPECT_EQ(lines[2], "MPI " + mpi_library_version());
  EXPECT_EQ(lines[3], "CPU linear layers: " + linear_library());
#ifdef VIT_WITH_CUDA
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_TRUE(starts_with(lines[4], "NCCL 2.")) << lines[4];
  EXPECT_EQ(lines[5], "CUDA runtime " + cuda_runtime_version());
#else
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[4], "NCCL, CUDA: not built in (LibTorch without CUDA)");
#endif
}

TEST(LibraryVersions, EachLibraryAnswersForItself) {
  // Before MPI_Init, as --version asks: a name and a version, no comma-separated details.
  const std::string mpi = mpi_library_version();
  EXPECT_FALSE(mpi.empty());
  EXPECT_EQ(mpi.find_first_of(",\n"), std::string::npos) << mpi;
#ifdef VIT_WITH_CUDA
  EXPECT_NE(cuda_runtime_version().find('.'), std::string::npos) << cuda_runtime_version();
#else
  EXPECT_EQ(cuda_runtime_version(), "");
#endif
}

}  // namespace
}  // namespace vit
