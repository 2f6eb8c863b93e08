// An exclusive lock on a folder for the life of an object (flock on <folder>/.lock), so that two
// jobs never write into one run directory at once. The holder writes "pid <pid> on host <host>
// since <time>" into the lock file; a second job's error quotes it. The kernel drops the lock when
// the holder exits, however it ends (kill -9 included): a stale .lock file never blocks anyone.
#pragma once

#include <string>

namespace vit {

class DirLock {
 public:
  // Takes the lock, or throws vit::Error naming the folder and the holder.
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace vit
