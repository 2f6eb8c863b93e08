// util/atomic_file: the target is replaced whole or not at all; no temporary file is left.
#include "util/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>
#include <vector>

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

// Outputs replace regular files only: a folder, a FIFO or a link (to a device, say) in the
// target's place is refused with one line, and left as it was. (vit-eval --images used to rename
// over whatever was there: as root it replaced a device node.)
TEST(AtomicFile, OnlyARegularFileIsReplaced) {
  testing::TempDir dir;
  fs::create_directory(dir.file("folder"));
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  fs::create_symlink("/dev/null", dir.file("link"));
  for (const auto& [name, what] : std::vector<std::pair<std::string, std::string>>{
           {"folder", "a folder"}, {"fifo", "not a regular file"}, {"link", "a symbolic link"}}) {
    try {
      write_text_atomically(dir.file(name), "x");
      ADD_FAILURE() << name << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), dir.file(name) + ": exists and is " + what +
                                           "; an output is only written as a new or regular file");
    }
  }
  EXPECT_TRUE(fs::is_directory(dir.file("folder")));
  EXPECT_TRUE(fs::is_fifo(dir.file("fifo")));
  EXPECT_TRUE(fs::is_symlink(dir.file("link")));
  EXPECT_EQ(entries(dir), 3u);  // and no temporary file
  write_text_atomically(dir.file("plain"), "a");
  write_text_atomically(dir.file("plain"), "b");
  EXPECT_EQ(read_text(dir.file("plain")), "b");
}

// A link planted where the temporary file goes (its name is predictable: the pid) must not
// redirect the write: the victim keeps its content, the target gets the new one.
TEST(AtomicFile, ALinkAtTheTemporaryNameIsNotFollowed) {
  testing::TempDir dir;
  const std::string victim = dir.file("victim");
  write_text_atomically(victim, "precious");
  const std::string temp = dir.file(".LATEST.tmp." + std::to_string(::getpid()));
  fs::create_symlink(victim, temp);
  write_text_atomically(dir.file("LATEST"), "step-5.pt\n");
  EXPECT_EQ(read_text(victim), "precious");
  EXPECT_EQ(read_text(dir.file("LATEST")), "step-5.pt\n");
  EXPECT_FALSE(fs::exists(fs::symlink_status(temp)));
}

TEST(AtomicFile, ANewFileIsNeverOneThatIsThereOrALink) {
  testing::TempDir dir;
  write_text_atomically(dir.file("there"), "x");
  fs::create_symlink(dir.file("there"), dir.file("link"));
  fs::create_symlink(dir.file("nowhere"), dir.file("dangling"));
  for (const auto& [name, why] : std::vector<std::pair<std::string, std::string>>{
           {"there", "exists already"}, {"link", "is a symbolic link"}, {"dangling", "is a symbolic link"}}) {
    try {
      ::close(create_new_file(dir.file(name)));
      ADD_FAILURE() << name << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir.file(name) + ": " + why), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(dir.file("nowhere")));  // the dangling link's target was not created
  EXPECT_EQ(read_text(dir.file("there")), "x");
  const int fd = create_new_file(dir.file("fresh"));
  EXPECT_GE(fd, 0);
  ::close(fd);
  EXPECT_TRUE(fs::is_regular_file(dir.file("fresh")));
}

}  // namespace
}  // namespace vit
