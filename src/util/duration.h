// Seconds as a clock duration, safely: duration_cast of a double beyond the nanosecond count's
// range (292 years) is undefined, and in practice wrapped: dist.timeout_s = 1e12 became a deadline
// in the past, so the watchdog ended the job after its 5 s warning instead of never.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>

namespace vit {

// The longest duration seconds_to_duration gives: 100 years, beyond any deadline a job sets and
// within the clock's range with room to add it to now().
inline constexpr double kLongestDurationS = 100.0 * 365 * 24 * 3600;

// `seconds` as a steady_clock duration, clamped to [0, kLongestDurationS] (NaN gives 0).
inline std::chrono::steady_clock::duration seconds_to_duration(double seconds) {
  const double clamped = std::isnan(seconds) ? 0.0 : std::clamp(seconds, 0.0, kLongestDurationS);
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(clamped));
}

}  // namespace vit
