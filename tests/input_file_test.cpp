// util/input_file: only a regular file of a bounded size is read, and nothing blocks on the way to
// that answer (a FIFO would wait for a writer forever, /dev/zero never ends).
#include "util/input_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"
#include "util/error.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::string& path, uint64_t max_bytes = 100) {
  try {
    read_small_file(path, max_bytes, "a LATEST file");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(InputFile, ReadsARegularFileAndOneThroughALink) {
  testing::TempDir dir;
  std::ofstream(dir.file("LATEST")) << "step-00000032.pt\n";
  fs::create_symlink(dir.file("LATEST"), dir.file("link"));
  EXPECT_EQ(read_small_file(dir.file("LATEST"), 100, "a LATEST file"), "step-00000032.pt\n");
  EXPECT_EQ(read_small_file(dir.file("link"), 100, "a LATEST file"), "step-00000032.pt\n");
  InputFile file(dir.file("LATEST"), 100, "a LATEST file");
  EXPECT_EQ(file.size(), 17u);
  char head[4];
  file.read_exact(head, 4);
  EXPECT_EQ(std::string(head, 4), "step");
  EXPECT_EQ(file.read_rest(), "-00000032.pt\n");
}

TEST(InputFile, SpecialFilesAreRefusedWithoutBlocking) {
  testing::TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", dir.file("zero"));
  fs::create_directory(dir.file("folder"));
  fs::create_symlink(dir.file("loop-a"), dir.file("loop-b"));
  fs::create_symlink(dir.file("loop-b"), dir.file("loop-a"));
  EXPECT_EQ(error_of(dir.file("fifo")), dir.file("fifo") +
            ": is a FIFO, not a LATEST file (only a regular file is read)");
  EXPECT_EQ(error_of(dir.file("zero")), dir.file("zero") +
            ": is a device, not a LATEST file (only a regular file is read)");
  EXPECT_EQ(error_of(dir.file("folder")), dir.file("folder") +
            ": is a folder, not a LATEST file (only a regular file is read)");
  EXPECT_EQ(error_of(dir.file("loop-a")),
            dir.file("loop-a") + ": a loop of symbolic links, not a LATEST file");
  EXPECT_EQ(error_of(dir.file("missing")), dir.file("missing") + ": no such file (a LATEST file)");
}

TEST(InputFile, TheSizeIsBoundedBeforeAnythingIsRead) {
  testing::TempDir dir;
  std::ofstream(dir.file("big")) << std::string(101, 'x');
  EXPECT_EQ(error_of(dir.file("big")),
            dir.file("big") + ": 101 bytes, more than a LATEST file can have (100)");
  EXPECT_EQ(read_small_file(dir.file("big"), 101, "a LATEST file").size(), 101u);
}

}  // namespace
}  // namespace vit
