// FuzzFile: one temporary file per fuzzing process (<temp dir>/vit-fuzz-<tag>-<pid><suffix>),
// rewritten for every input and removed at exit, for the parsers that read a path rather than
// bytes. The folder: $VIT_FUZZ_TMPDIR, else /dev/shm (memory: rewriting a file on a disk's file
// system costs far more than parsing it), else /tmp.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace vit::fuzz {

inline const std::string& temp_dir() {
  static const std::string dir = [] {
    const char* chosen = std::getenv("VIT_FUZZ_TMPDIR");
    if (chosen != nullptr && *chosen != '\0') return std::string(chosen);
    return std::string(::access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp");
  }();
  return dir;
}

class FuzzFile {
 public:
  FuzzFile(const std::string& tag, const std::string& suffix)
      : path_(temp_dir() + "/vit-fuzz-" + tag + "-" + std::to_string(::getpid()) + suffix) {}
  ~FuzzFile() { ::unlink(path_.c_str()); }
  FuzzFile(const FuzzFile&) = delete;
  FuzzFile& operator=(const FuzzFile&) = delete;

  const std::string& path() const { return path_; }

  // Replaces the file's content. A failure here is the machine's, not the parser's: abort loudly.
  void write(const void* data, size_t size) const {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("open");
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n <= 0) die("write");
      p += n;
      size -= static_cast<size_t>(n);
    }
    if (::close(fd) != 0) die("close");
  }

 private:
  [[noreturn]] void die(const char* what) const {
    std::perror((path_ + ": " + what).c_str());
    std::abort();
  }

  std::string path_;
};

}  // namespace vit::fuzz
