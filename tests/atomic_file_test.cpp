// util/atomic_file: the target is replaced whole or not at all; no temporary file is left.
#include "util/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t entries(const testing::TempDir& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()));
}

TEST(AtomicFile, ReplacesTheContentAndLeavesNoTemporaryFile) {
  testing::TempDir dir;
  const std::string path = dir.file("LATEST");
  write_text_atomically(path, "old\n");
  write_text_atomically(path, "new\n");
  EXPECT_EQ(read_text(path), "new\n");
  EXPECT_EQ(entries(dir), 1u);
}

TEST(AtomicFile, AFailedWriteLeavesTheOldFileAndNoTemporaryFile) {
  testing::TempDir dir;
  const std::string path = dir.file("config.ini");
  write_text_atomically(path, "good\n");
  EXPECT_THROW(replace_file_atomically(path,
                                       [](const std::string& temp) {
                                         std::ofstream(temp) << "half";
                                         throw std::runtime_error("disk full");
                                       }),
               std::runtime_error);
  EXPECT_EQ(read_text(path), "good\n");
  EXPECT_EQ(entries(dir), 1u);
}

TEST(AtomicFile, AMissingFolderIsAnErrorNamingThePath) {
  testing::TempDir dir;
  const std::string path = dir.file("nowhere/file.txt");
  try {
    write_text_atomically(path, "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vit
