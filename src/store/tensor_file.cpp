#include "store/tensor_file.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>

#include "util/atomic_file.h"
#include "util/crc32.h"
#include "util/input_file.h"

namespace vit {
namespace fs = std::filesystem;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the file format is little-endian");

namespace {

constexpr char kMagic[8] = {'v', 'i', 't', '-', 'd', 'a', 't', 'a'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;
constexpr size_t kMaxKeyBytes = 4096;
constexpr size_t kMaxTextBytes = 1 << 20;
constexpr int kMaxDims = 8;
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 36;  // 64 GiB: far beyond any model here

enum Kind : uint8_t { kInt = 1, kReal = 2, kText = 3, kTensor = 4 };

// The dtypes a file may hold, by their code in the file.
constexpr std::array<std::pair<uint8_t, torch::Dtype>, 7> kDtypes = {{
    {1, torch::kFloat32},
    {2, torch::kFloat64},
    {3, torch::kFloat16},
    {4, torch::kBFloat16},
    {5, torch::kInt64},
    {6, torch::kInt32},
    {7, torch::kUInt8},
}};

uint8_t dtype_code(torch::Dtype dtype) {
  for (const auto& [code, type] : kDtypes) {
    if (type == dtype) return code;
  }
  VIT_FAIL("tensor file: cannot store dtype ", dtype);
}

template <typename T>
void append(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// Reads the body with every length checked against what is left.
class Reader {
 public:
  Reader(const std::string& bytes, size_t begin, size_t end, const std::string& name)
      : bytes_(bytes), pos_(begin), end_(end), name_(name) {}

  template <typename T>
  T take() {
    T value;
    std::memcpy(&value, need(sizeof value), sizeof value);
    return value;
  }
  std::string take_bytes(uint64_t n) { return std::string(need(n), n); }
  const char* need(uint64_t n) {
    if (n > end_ - pos_) fail("an entry runs past the end of the data");
    const char* at = bytes_.data() + pos_;
    pos_ += n;
    return at;
  }
  bool done() const { return pos_ == end_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw CorruptFile(name_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
  }

 private:
  const std::string& bytes_;
  size_t pos_, end_;
  const std::string& name_;
};

torch::Tensor read_tensor(Reader& in) {
  const uint8_t code = in.take<uint8_t>();
  const auto* found = std::find_if(kDtypes.begin(), kDtypes.end(),
                                   [&](const auto& entry) { return entry.first == code; });
  if (found == kDtypes.end()) in.fail("unknown tensor dtype code " + std::to_string(code));
  const int dims = in.take<uint8_t>();
  if (dims > kMaxDims) in.fail("a tensor of " + std::to_string(dims) + " dimensions");
  std::vector<int64_t> sizes;
  uint64_t count = 1;
  for (int i = 0; i < dims; ++i) {
    const uint64_t size = in.take<uint64_t>();
    if (size > kMaxFileBytes || (size != 0 && count > kMaxFileBytes / size)) {
      in.fail("a tensor size beyond the file's");
    }
    count *= size;
    sizes.push_back(static_cast<int64_t>(size));
  }
  const uint64_t element = c10::elementSize(found->second);
  const uint64_t bytes = in.take<uint64_t>();
  if (bytes != count * element) in.fail("a tensor's data size does not match its shape");
  const char* data = in.need(bytes);
  auto tensor = torch::empty(sizes, torch::TensorOptions().dtype(found->second));
  if (bytes > 0) std::memcpy(tensor.data_ptr(), data, bytes);
  return tensor;
}

}  // namespace

void TensorFile::put_value(const std::string& key, Value value) {
  VIT_CHECK(!key.empty() && key.size() <= kMaxKeyBytes, "tensor file: bad key '", key, "'");
  if (const auto* text = std::get_if<std::string>(&value)) {
    VIT_CHECK(text->size() <= kMaxTextBytes, "tensor file: text of ", key, " too long");
  }
  entries_[key] = std::move(value);
}

void TensorFile::put(const std::string& key, const torch::Tensor& value) {
  VIT_CHECK(value.defined() && value.dim() <= kMaxDims, "tensor file: cannot store ", key);
  dtype_code(value.scalar_type());  // fails for a dtype the format lacks
  put_value(key, value.detach().to(torch::kCPU).contiguous().clone());
}

template <typename T>
const T& TensorFile::get(const std::string& key, const char* kind) const {
  const auto it = entries_.find(key);
  const std::string where = name_.empty() ? "" : name_ + ": ";
  if (it == entries_.end()) throw CorruptFile(where + "no entry '" + key + "'");
  const T* value = std::get_if<T>(&it->second);
  if (value == nullptr) throw CorruptFile(where + "entry '" + key + "' is not " + kind);
  return *value;
}

int64_t TensorFile::get_int(const std::string& key) const { return get<int64_t>(key, "an integer"); }
double TensorFile::get_real(const std::string& key) const { return get<double>(key, "a number"); }
const std::string& TensorFile::get_text(const std::string& key) const {
  return get<std::string>(key, "a text");
}
const torch::Tensor& TensorFile::get_tensor(const std::string& key) const {
  return get<torch::Tensor>(key, "a tensor");
}

std::string TensorFile::encode() const {
  std::string body;
  for (const auto& [key, value] : entries_) {
    const uint8_t kind = static_cast<uint8_t>(value.index() + 1);
    append(body, kind);
    append(body, static_cast<uint16_t>(key.size()));
    body += key;
    switch (kind) {
      case kInt: append(body, std::get<int64_t>(value)); break;
      case kReal: append(body, std::get<double>(value)); break;
      case kText: {
        const auto& text = std::get<std::string>(value);
        append(body, static_cast<uint32_t>(text.size()));
        body += text;
        break;
      }
      default: {
        const auto& tensor = std::get<torch::Tensor>(value);
        append(body, dtype_code(tensor.scalar_type()));
        append(body, static_cast<uint8_t>(tensor.dim()));
        for (const int64_t size : tensor.sizes()) append(body, static_cast<uint64_t>(size));
        const uint64_t bytes = tensor.numel() * tensor.element_size();
        append(body, bytes);
        body.append(static_cast<const char*>(tensor.data_ptr()), bytes);
      }
    }
  }
  std::string out(kMagic, sizeof kMagic);
  append(out, kVersion);
  append(out, static_cast<uint32_t>(entries_.size()));
  append(out, static_cast<uint64_t>(body.size()));
  out += body;
  append(out, crc32_bytes(out.data(), out.size()));
  return out;
}

bool TensorFile::has_magic(const std::string& bytes) {
  return bytes.size() >= sizeof kMagic && bytes.compare(0, sizeof kMagic, kMagic, sizeof kMagic) == 0;
}

uint32_t TensorFile::check_header(const std::string& head, uint64_t size, const std::string& name) {
  if (!has_magic(head)) throw CorruptFile(name + ": not a vit-train data file");
  if (head.size() < kHeaderBytes || size < kHeaderBytes + 4) {
    throw CorruptFile(name + ": truncated (header)");
  }
  Reader header(head, sizeof kMagic, kHeaderBytes, name);
  const auto version = header.take<uint32_t>();
  const auto entries = header.take<uint32_t>();
  const auto body = header.take<uint64_t>();
  if (version != kVersion) {
    throw CorruptFile(name + ": data file version " + std::to_string(version) +
                      ", this program reads version " + std::to_string(kVersion));
  }
  if (body != size - kHeaderBytes - 4) {
    throw CorruptFile(name + ": " + std::to_string(size) + " bytes, the header says " +
                      std::to_string(body + kHeaderBytes + 4) + " (truncated or extended)");
  }
  return entries;
}

TensorFile TensorFile::decode(const std::string& bytes, const std::string& name) {
  const uint32_t entries = check_header(bytes, bytes.size(), name);
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  if (crc32_bytes(bytes.data(), bytes.size() - 4) != stored_crc) {
    throw CorruptFile(name + ": checksum mismatch (the file is damaged)");
  }
  // Intact as written; parsed defensively all the same (a file crafted with a valid checksum).
  TensorFile file;
  file.name_ = name;
  Reader in(bytes, kHeaderBytes, bytes.size() - 4, name);
  for (uint32_t i = 0; i < entries; ++i) {
    const uint8_t kind = in.take<uint8_t>();
    const uint16_t key_bytes = in.take<uint16_t>();
    if (key_bytes == 0 || key_bytes > kMaxKeyBytes) in.fail("a bad key length");
    std::string key = in.take_bytes(key_bytes);
    if (file.has(key)) in.fail("entry '" + key + "' twice");
    Value value;
    switch (kind) {
      case kInt: value = in.take<int64_t>(); break;
      case kReal: value = in.take<double>(); break;
      case kText: {
        const uint32_t size = in.take<uint32_t>();
        if (size > kMaxTextBytes) in.fail("a text of " + std::to_string(size) + " bytes");
        value = in.take_bytes(size);
        break;
      }
      case kTensor: value = read_tensor(in); break;
      default: in.fail("unknown entry kind " + std::to_string(kind));
    }
    file.entries_.emplace(std::move(key), std::move(value));
  }
  if (!in.done()) in.fail("data after the last entry");
  return file;
}

void TensorFile::save(const std::string& path, const std::function<void()>& written) const {
  const std::string bytes = encode();
  replace_file_atomically(path, [&](const std::string& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    VIT_CHECK(out, temp, ": cannot open for writing");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    VIT_CHECK(out, path, ": write failed (disk full?)");
    out.close();
    VIT_CHECK(out, path, ": write failed (disk full?)");
    if (written) written();
  });
}

TensorFile TensorFile::load(const std::string& path) {
  // Special files (a FIFO, /dev/zero) and files beyond the format's limit are refused before a
  // byte is read; such a file is not an intact file of this format.
  std::unique_ptr<InputFile> file;
  try {
    file = std::make_unique<InputFile>(path, kMaxFileBytes, "a vit-train data file");
  } catch (const Error& e) {
    throw CorruptFile(e.what());
  }
  // The header first: the magic, the version and the size it declares must fit the file before
  // the rest is read, so a large file of anything else costs 24 bytes, not its size in memory.
  const uint64_t size = file->size();
  std::string bytes(std::min<uint64_t>(size, kHeaderBytes), '\0');
  file->read_exact(bytes.data(), bytes.size());
  check_header(bytes, size, path);
  bytes += file->read_rest();
  return decode(bytes, path);
}

}  // namespace vit
