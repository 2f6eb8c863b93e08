// Branch-free float functions for the model's CPU kernels, written so that the loops calling
// them vectorise (no library calls, no branches, selects instead of ifs).
#pragma once

#include <cstdint>
#include <cstring>

namespace vit {

// exp(x) for x <= 0 (softmax arguments after subtracting the row maximum, -x^2/2 in GELU), x =
// n ln2 + r with |r| <= ln2/2 (about), exp(r) by a degree-6 polynomial (relative error about
// 2e-7), 2^n put into the float's exponent bits. Not for files built with -fassociative-math,
// which folds the rounding (a + c) - c below into a, and the result is wrong.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  // Round to nearest by adding and removing 1.5 * 2^23 (no library call, so it vectorises).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // n in [-126, 0] for x in [-87, 0]; a NaN x (a diverging run) leaves n NaN, which must not
  // reach the integer conversion (undefined): -127 gives 2^n = 0, and p * 0 stays NaN.
  const float n_safe = n > -127.0f ? (n < 127.0f ? n : 127.0f) : -127.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n_safe) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

}  // namespace vit
