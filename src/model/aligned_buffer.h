#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>

namespace vit {

// An uninitialised float buffer on a 64-byte boundary, for aligned vector loads and stores; the
// attention kernels hold one per thread and reuse it across their tasks. An empty request still
// allocates one float, so get() is never null.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(int64_t floats)
      : data_(static_cast<float*>(::operator new(
            static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float), kAlignment))) {}
  ~AlignedBuffer() { ::operator delete(data_, kAlignment); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  float* get() const { return data_; }

 private:
  static constexpr std::align_val_t kAlignment{64};
  float* data_;
};

}  // namespace vit
