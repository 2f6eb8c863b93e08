#include "util/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "util/error.h"

namespace vit {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

InputFile::InputFile(const std::string& path, uint64_t max_bytes, const std::string& what)
    : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    const int error = errno;
    VIT_CHECK(error != ENOENT, path, ": no such file (", what, ")");
    VIT_CHECK(error != ELOOP, path, ": a loop of symbolic links, not ", what);
    VIT_FAIL(path, ": cannot open ", what, ": ", std::strerror(error));
  }
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
    const char* kind = kind_of(info.st_mode);
    ::close(fd_);
    fd_ = -1;
    VIT_FAIL(path, ": is ", kind, ", not ", what, " (only a regular file is read)");
  }
  size_ = static_cast<uint64_t>(info.st_size);
  if (size_ > max_bytes) {
    ::close(fd_);
    fd_ = -1;
    VIT_FAIL(path, ": ", size_, " bytes, more than ", what, " can have (", max_bytes, ")");
  }
  // Reads of a regular file never block; blocking mode again for those who fdopen it.
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

int InputFile::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void InputFile::read_exact(char* out, uint64_t n) {
  VIT_CHECK(fd_ >= 0, path_, ": read after release");
  uint64_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd_, out + done, static_cast<size_t>(n - done));
    if (got < 0 && errno == EINTR) continue;
    VIT_CHECK(got >= 0, path_, ": read failed: ", std::strerror(errno));
    VIT_CHECK(got > 0, path_, ": shorter than its ", size_, " bytes (changed while read?)");
    done += static_cast<uint64_t>(got);
  }
  position_ += n;
}

std::string InputFile::read_rest() {
  const uint64_t n = size_ > position_ ? size_ - position_ : 0;
  std::string bytes;
  try {
    bytes.resize(n);
  } catch (const std::bad_alloc&) {
    VIT_FAIL(path_, ": ", size_, " bytes: not enough memory to read it");
  }
  read_exact(bytes.data(), n);
  return bytes;
}

std::string read_small_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  InputFile file(path, max_bytes, what);
  return file.read_rest();
}

}  // namespace vit
