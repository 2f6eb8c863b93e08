#include "util/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "util/error.h"

namespace vit {

namespace {

std::string holder_text() {
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  char since[32] = "";
  const std::time_t now = std::time(nullptr);
  std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return "pid " + std::to_string(::getpid()) + " on host " + host + " since " + since;
}

}  // namespace

DirLock::DirLock(const std::string& dir) : path_(dir + "/.lock") {
  // O_NOFOLLOW: a link planted as .lock would have us truncate and overwrite its target.
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int error = errno;
    VIT_CHECK(error != ELOOP, path_,
              ": is a symbolic link; the run directory's lock is only a regular file (remove it)");
    VIT_FAIL(path_, ": cannot open the run directory's lock: ", std::strerror(error));
  }
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    VIT_FAIL(path_, ": is not a regular file; the run directory's lock is only a regular file");
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[256] = {};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown";
    if (!who.empty() && who.back() == '\n') who.pop_back();
    VIT_CHECK(error != EWOULDBLOCK, dir, ": in use by another vit-train job (", who,
              "); wait for it to end, or choose another --run-dir");
    VIT_FAIL(path_, ": cannot lock: ", std::strerror(error));
  }
  const std::string text = holder_text() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) < 0) {
    // The lock holds all the same; only the message a second job prints is poorer.
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace vit
