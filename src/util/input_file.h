// Inputs the programs read: a regular file (a link is followed to one), of a bounded size, opened
// without blocking. A FIFO in place of a file would block a reader forever, and /dev/zero would
// feed it without end; both are refused at once with a line that names the file, before a byte
// is read. The size bound is the caller's: one line for LATEST and SOURCE, megabytes for an
// image, the format's own limit for a checkpoint.
#pragma once

#include <cstdint>
#include <string>

namespace vit {

class InputFile {
 public:
  // Opens `path` (O_NONBLOCK, so that a FIFO opens at once and is then refused). Throws
  // vit::Error naming `path` when it is missing, not a regular file, or larger than `max_bytes`;
  // `what` names the kind of file in that message ("a checkpoint", "the LATEST file").
  InputFile(const std::string& path, uint64_t max_bytes, const std::string& what);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // The open descriptor, blocking again; this object still closes it. release(): the caller
  // owns it now (for fdopen or gzdopen).
  int fd() const { return fd_; }
  int release();

  // Reads `n` bytes at the current position; throws naming the file when fewer come (the file
  // shrank or failed). read_rest(): from the current position to the size found at open.
  void read_exact(char* out, uint64_t n);
  std::string read_rest();

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t position_ = 0;
};

// The whole of a small text file (LATEST, SOURCE, a config file), at most `max_bytes`.
std::string read_small_file(const std::string& path, uint64_t max_bytes, const std::string& what);

}  // namespace vit
