// The file format of checkpoints and model files: named integers, reals, texts and tensors, and
// nothing else (no code, no pickled objects), with a CRC-32 over every byte before it. A file is
// read whole, its size and checksum verified, and only then parsed, with every length checked
// against what is left: a damaged file is one CorruptFile error, never a crash or a half load.
//
// Layout (little-endian):
//   "vit-data"  u32 version (1)  u32 entries  u64 body bytes   body   u32 CRC-32 of all before
//   entry: u8 kind  u16 key bytes  key  value
//     kind 1 int64: 8 bytes   kind 2 double: 8 bytes   kind 3 text: u32 bytes, bytes
//     kind 4 tensor: u8 dtype  u8 dims (<= 8)  dims x u64 sizes  u64 data bytes  data (C order)
// A Python reader needs struct and zlib alone (see docs/checkpoints.md).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>

#include "util/error.h"

namespace vit {

// A file that is not a complete, intact file of this format.
class CorruptFile : public Error {
 public:
  using Error::Error;
};

class TensorFile {
 public:
  using Value = std::variant<int64_t, double, std::string, torch::Tensor>;

  void put(const std::string& key, int64_t value) { put_value(key, value); }
  void put(const std::string& key, double value) { put_value(key, value); }
  void put(const std::string& key, const std::string& value) { put_value(key, value); }
  // Stored as a contiguous CPU copy; only the dtypes of model, optimizer and RNG state.
  void put(const std::string& key, const torch::Tensor& value);

  bool has(const std::string& key) const { return entries_.count(key) != 0; }
  // The value of `key`; CorruptFile naming the key when it is missing or of another kind.
  int64_t get_int(const std::string& key) const;
  double get_real(const std::string& key) const;
  const std::string& get_text(const std::string& key) const;
  const torch::Tensor& get_tensor(const std::string& key) const;
  const std::map<std::string, Value>& entries() const { return entries_; }

  std::string encode() const;
  // Parses `bytes` (the whole file); CorruptFile (prefixed with `name`) when anything is off.
  static TensorFile decode(const std::string& bytes, const std::string& name);

  // Writes the file atomically (atomic_file.h). Throws vit::Error naming the path on failure
  // (disk full included), the previous file untouched. `written` runs with the complete
  // temporary file in place, before the rename (tests pause there).
  void save(const std::string& path, const std::function<void()>& written = {}) const;
  // Reads and verifies `path`. CorruptFile names the path and what is wrong: also a path that is
  // no regular file (a FIFO, a device, a loop of links), and a file whose 24-byte header does not
  // fit its size, refused before the rest is read.
  static TensorFile load(const std::string& path);

  // True when `bytes` start like a file of this format (whatever follows).
  static bool has_magic(const std::string& bytes);

 private:
  // The header at the start of `head` (the file's first bytes, `size` in all): magic, version and
  // declared size. Returns the entry count; CorruptFile when anything is off.
  static uint32_t check_header(const std::string& head, uint64_t size, const std::string& name);
  void put_value(const std::string& key, Value value);
  template <typename T>
  const T& get(const std::string& key, const char* kind) const;

  std::map<std::string, Value> entries_;
  std::string name_;  // the file read, for errors
};

}  // namespace vit
