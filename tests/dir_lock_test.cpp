// util/dir_lock: one holder per folder, its name in the lock, and a lock file that is only ever a
// regular file of the folder (a link there would have us truncate and overwrite its target).
#include "util/dir_lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"
#include "util/error.h"
#include "util/input_file.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) { return read_small_file(path, 4096, "a file"); }

TEST(DirLock, NamesItsHolder) {
  testing::TempDir dir;
  DirLock lock(dir.path().string());
  EXPECT_EQ(lock.path(), dir.path().string() + "/.lock");
  EXPECT_EQ(read_text(lock.path()).rfind("pid ", 0), 0u) << read_text(lock.path());
}

TEST(DirLock, ALinkedLockFileIsRefusedAndItsTargetLeftAlone) {
  testing::TempDir dir, elsewhere;
  const std::string victim = elsewhere.file("notes.txt");
  std::ofstream(victim) << "a user's file";
  fs::create_symlink(victim, dir.file(".lock"));
  try {
    DirLock lock(dir.path().string());
    ADD_FAILURE() << "a linked lock was taken";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file(".lock") +
                  ": is a symbolic link; the run directory's lock is only a regular file (remove it)");
  }
  EXPECT_EQ(read_text(victim), "a user's file");
}

TEST(DirLock, ALockThatIsAFifoIsRefusedWithoutWaiting) {
  testing::TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file(".lock").c_str(), 0600), 0);
  EXPECT_THROW(DirLock lock(dir.path().string()), Error);
}

}  // namespace
}  // namespace vit
