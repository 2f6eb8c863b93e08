// idx_fuzz: the IDX readers (data/idx.h), raw and gzip-compressed, on arbitrary files.
//
// Input: one control byte, then the file's bytes. Control bit 0 clear: the bytes are the file as
// they are (zlib reads a file that starts with gzip's magic as gzip, else as raw data). Bit 0 set:
// the bytes are gzip-compressed first, so that mutations reach the IDX header and payload behind
// the gzip layer. Bit 1 set: the file is also read by read_small_file (util/input_file.h), the
// reader of LATEST and SOURCE, with a bound of 256 bytes. Both readers (images, labels of 10 classes) read the file; vit::Error is the
// expected answer to a bad file; anything else (a crash, a sanitizer report, another exception)
// is a finding, with one exception below.
//
// A header may promise up to kMaxIdxBytes (4 GiB) of data, and the reader allocates the tensor
// for it before reading, so a 9-byte file costs a 4 GiB allocation: nearly free without
// sanitizers (pages never touched), but about 0.6 s under AddressSanitizer, which would slow
// fuzzing to a crawl. LibTorch's CPU allocator is therefore capped at 64 MiB per allocation here
// and throws LibTorch's own out-of-memory error above it, as on a machine short of memory; that
// c10::Error is tolerated (read_idx lets it through instead of a vit::Error: see
// tests/fuzz/README.md).
//
// Inputs that once let a c10::Error escape (a zero dimension before two huge ones, whose strides
// overflowed): tests/fuzz/crashes/idx_fuzz-*, part of the seed corpus.
#include <c10/core/CPUAllocator.h>
#include <dlfcn.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "data/idx.h"
#include "fuzz_file.h"
#include "util/error.h"
#include "util/input_file.h"

namespace {

// gzip (header and trailer, windowBits 16 + 15) of `size` bytes at `data`.
std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::abort();
  }
  std::vector<uint8_t> out(deflateBound(&stream, size) + 32);
  stream.next_in = const_cast<Bytef*>(data);
  stream.avail_in = static_cast<uInt>(size);
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  if (deflate(&stream, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

const vit::fuzz::FuzzFile& file() {
  static const vit::fuzz::FuzzFile file("idx", ".idx");
  return file;
}

constexpr size_t kAllocationCap = size_t{64} << 20;
constexpr const char* kCapMessage = "can't allocate memory";

// LibTorch's CPU allocator with a cap: over it, the error LibTorch's own throws when the system
// refuses (DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes).
class CappedAllocator final : public c10::Allocator {
 public:
  explicit CappedAllocator(c10::Allocator* base) : base_(base) {}
  c10::DataPtr allocate(size_t n) const override {
    if (n > kAllocationCap) {
      // (No stack trace: TORCH_CHECK's costs milliseconds, and this is thrown often.)
      throw c10::Error(std::string("DefaultCPUAllocator: ") + kCapMessage + ": you tried to " +
                           "allocate " + std::to_string(n) + " bytes (idx_fuzz caps at " +
                           std::to_string(kAllocationCap) + ")",
                       "");
    }
    return base_->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return base_->raw_deleter(); }

 private:
  c10::Allocator* base_;
};

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Reads `path` with `read`, accepting a bad file's expected outcomes: vit::Error, or LibTorch's
// allocation failure (see above).
template <typename Read>
void read_expecting_errors(const std::string& path, Read&& read) {
  try {
    read();
  } catch (const vit::Error&) {
  } catch (const c10::Error& e) {
    if (std::strstr(e.what(), kCapMessage) != nullptr) return;
    throw;
  }
}

void read_both(const std::string& path) {
  read_expecting_errors(path, [&] { (void)vit::read_idx_images(path); });
  read_expecting_errors(path, [&] { (void)vit::read_idx_labels(path, 10); });
}

}  // namespace

// The reader asks zlib for 1 MiB buffers (gzbuffer), which AddressSanitizer maps and unmaps
// afresh for every file, poisoning 3 MiB of shadow each time: a third of the time of an input.
// The buffer size changes nothing zlib reads, only how much at a time; this harness's own
// gzbuffer, found before zlib's, passes 16 KiB instead.
extern "C" int gzbuffer(gzFile file, unsigned size) {
  using Real = int (*)(gzFile, unsigned);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "gzbuffer"));
  if (real == nullptr) std::abort();
  return real(file, std::min(size, 16u << 10));
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // One thread (labels.max() is a parallel reduction), and LibTorch's lazy set-up done before the
  // first input, so that it is not mistaken for that input's leak.
  torch::set_num_threads(1);
  static CappedAllocator capped(c10::GetCPUAllocator());
  c10::SetAllocator(c10::DeviceType::CPU, &capped);
  const uint8_t labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 9};
  file().write(labels, sizeof labels);
  read_both(file().path());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const bool compress = control & 1;
  ++data;
  --size;
  if (compress) {
    const auto packed = gzip(data, size);
    file().write(packed.data(), packed.size());
  } else {
    file().write(data, size);
  }
  read_both(file().path());
  if (control & 2) {
    // The small-file reader that LATEST and SOURCE go through: the file whole within its bound,
    // or a vit::Error; never more than the bound.
    constexpr uint64_t kBound = 256;
    try {
      const std::string text = vit::read_small_file(file().path(), kBound, "a small file");
      const std::string written(reinterpret_cast<const char*>(data), size);
      if (text.size() > kBound || (!compress && text != written)) {
        std::fprintf(stderr, "idx_fuzz: read_small_file returned %zu bytes\n", text.size());
        std::abort();
      }
    } catch (const vit::Error&) {
    }
  }
  return 0;
}
