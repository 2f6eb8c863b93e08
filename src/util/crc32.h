// CRC-32 (zlib's crc32_z, the polynomial of zip and PNG) over bytes, continuable: the files'
// trailers, the model checksum and the ranks' input agreement all use this one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vit {

// The CRC-32 of `size` bytes at `data`, continuing `crc` (0: a fresh one).
uint32_t crc32_bytes(const void* data, size_t size, uint32_t crc = 0);

}  // namespace vit
