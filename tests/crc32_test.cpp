// CRC-32 over bytes: the check value of the zip/PNG polynomial, and continuation over pieces.
#include "util/crc32.h"

#include <gtest/gtest.h>

#include <string>

namespace vit {
namespace {

TEST(Crc32, TheCheckValueOfThePolynomial) {
  const std::string digits = "123456789";
  EXPECT_EQ(crc32_bytes(digits.data(), digits.size()), 0xCBF43926u);
  EXPECT_EQ(crc32_bytes(nullptr, 0), 0u);
}

TEST(Crc32, ContinuesOverPieces) {
  const std::string text = "a checkpoint's bytes, in three pieces";
  const uint32_t whole = crc32_bytes(text.data(), text.size());
  uint32_t crc = crc32_bytes(text.data(), 5);
  crc = crc32_bytes(text.data() + 5, 11, crc);
  crc = crc32_bytes(text.data() + 16, text.size() - 16, crc);
  EXPECT_EQ(crc, whole);
  EXPECT_NE(crc32_bytes(text.data(), text.size() - 1), whole);
}

}  // namespace
}  // namespace vit
