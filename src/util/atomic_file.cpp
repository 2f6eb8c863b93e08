#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/error.h"

namespace vit {
namespace fs = std::filesystem;

namespace {

// Flushes a file or directory to stable storage (the rename of a file is only durable once its
// directory is synced too).
void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  VIT_CHECK(fd >= 0, path, ": cannot open to sync: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  VIT_CHECK(rc == 0, path, ": fsync failed: ", std::strerror(saved));
}

}  // namespace

void check_output_path(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(path, ec);
  if (ec || status.type() == fs::file_type::not_found || status.type() == fs::file_type::regular) {
    return;
  }
  const char* what = status.type() == fs::file_type::directory ? "a folder"
                     : status.type() == fs::file_type::symlink ? "a symbolic link"
                     : status.type() == fs::file_type::character ||
                             status.type() == fs::file_type::block
                         ? "a device"
                         : "not a regular file";
  VIT_FAIL(path, ": exists and is ", what, "; an output is only written as a new or regular file");
}

int create_new_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) return fd;
  const int error = errno;
  std::error_code ec;
  VIT_CHECK(!fs::is_symlink(fs::symlink_status(path, ec)), path,
            ": is a symbolic link; an output is only written as a new or regular file");
  VIT_CHECK(error != EEXIST, path, ": exists already; an output is only written as a new file");
  VIT_FAIL(path, ": cannot create: ", std::strerror(error));
}

void replace_file_atomically(const std::string& path,
                             const std::function<void(const std::string&)>& write) {
  check_output_path(path);
  const fs::path target(path);
  const std::string temp = (target.parent_path() / ("." + target.filename().string() + ".tmp." +
                                                    std::to_string(::getpid())))
                               .string();
  std::error_code stale;
  fs::remove(temp, stale);  // a file or link left by a killed writer (remove never follows links)
  try {
    ::close(create_new_file(temp));
  } catch (const Error& e) {
    VIT_FAIL(path, ": cannot write (", e.what(), ")");
  }
  try {
    write(temp);
    fsync_path(temp);
    std::error_code ec;
    fs::rename(temp, target, ec);
    VIT_CHECK(!ec, path, ": cannot rename ", temp, " into place: ", ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  fsync_path(dir.string());
}

void write_text_atomically(const std::string& path, const std::string& content) {
  replace_file_atomically(path, [&](const std::string& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    VIT_CHECK(out, temp, ": cannot open for writing");
    out << content;
    out.flush();
    VIT_CHECK(out, temp, ": write failed");
  });
}

}  // namespace vit
