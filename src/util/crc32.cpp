#include "util/crc32.h"

#include <zlib.h>

namespace vit {

uint32_t crc32_bytes(const void* data, size_t size, uint32_t crc) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), size));
}

}  // namespace vit
