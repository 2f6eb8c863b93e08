// tensor_file_fuzz: TensorFile::decode (store/tensor_file.h), the reader of checkpoints and model
// files, on arbitrary bytes.
//
// Input: one control byte, then the file's bytes. A file's CRC-32 (its last 4 bytes) and body
// length (header bytes 16..23) are checked before its entries are parsed, so mutated files would
// almost never get past them; the control byte repairs them first, to fuzz the entry parser too:
//   bit 0: write the CRC-32 of all but the last 4 bytes into the last 4 (little-endian);
//   bit 1: write the file's real body length into the header (before the CRC, as a writer would);
//   bit 2: also write the bytes to a file and read it with TensorFile::load, which checks the
//          header and the declared size against the file's before reading: it must agree with
//          decode.
// CorruptFile (a vit::Error) is the expected answer to a bad file. A file that decodes must
// encode and decode back to the same entries (the format's round trip); a difference aborts.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz_file.h"
#include "store/tensor_file.h"
#include "util/error.h"

namespace {

constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;  // magic, version, entries, body bytes

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "tensor_file_fuzz: round trip: %s\n", what.c_str());
  std::abort();
}

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const auto ac = a.contiguous();
  const auto bc = b.contiguous();
  const size_t bytes = static_cast<size_t>(ac.numel()) * ac.element_size();
  return bytes == 0 || std::memcmp(ac.data_ptr(), bc.data_ptr(), bytes) == 0;
}

// decode(encode(file)) holds the same keys with the same kinds and bit-identical values.
void check_round_trip(const vit::TensorFile& file) {
  vit::TensorFile again;
  try {
    again = vit::TensorFile::decode(file.encode(), "re-encoded");
  } catch (const vit::Error& e) {
    fail(e.what());
  }
  const auto& a = file.entries();
  const auto& b = again.entries();
  if (a.size() != b.size()) fail("entry count changed");
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first) fail("key '" + ia->first + "' became '" + ib->first + "'");
    if (ia->second.index() != ib->second.index()) fail("kind of '" + ia->first + "' changed");
    bool same = true;
    if (const auto* i = std::get_if<int64_t>(&ia->second)) {
      same = *i == std::get<int64_t>(ib->second);
    } else if (const auto* d = std::get_if<double>(&ia->second)) {
      same = std::memcmp(d, &std::get<double>(ib->second), sizeof *d) == 0;
    } else if (const auto* t = std::get_if<std::string>(&ia->second)) {
      same = *t == std::get<std::string>(ib->second);
    } else {
      same = same_bytes(std::get<torch::Tensor>(ia->second), std::get<torch::Tensor>(ib->second));
    }
    if (!same) fail("value of '" + ia->first + "' changed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  (void)torch::empty({1}, torch::kFloat32);  // LibTorch's lazy set-up, before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((control & 2) && bytes.size() >= kHeaderBytes + 4) {
    const uint64_t body = bytes.size() - kHeaderBytes - 4;
    std::memcpy(bytes.data() + 16, &body, sizeof body);
  }
  if ((control & 1) && bytes.size() >= 4) {
    const uint32_t crc = static_cast<uint32_t>(crc32_z(
        crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size() - 4));
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, sizeof crc);
  }
  bool decoded = false;
  size_t entries = 0;
  try {
    const auto file = vit::TensorFile::decode(bytes, "fuzz");
    check_round_trip(file);
    decoded = true;
    entries = file.entries().size();
  } catch (const vit::Error&) {
  }
  if (control & 4) {
    // The same bytes as a file on disk: TensorFile::load checks the header against the file's
    // size before it reads the body, and must answer as decode did.
    static const vit::fuzz::FuzzFile on_disk("tensor_file", ".pt");
    on_disk.write(bytes.data(), bytes.size());
    bool loaded = false;
    try {
      const auto file = vit::TensorFile::load(on_disk.path());
      loaded = true;
      if (file.entries().size() != entries) fail("load and decode disagree on the entries");
    } catch (const vit::Error&) {
    }
    if (loaded != decoded) fail(loaded ? "load accepts what decode refuses" : "load refuses what decode accepts");
  }
  return 0;
}
