#include "util/uptime.h"

#include <chrono>

namespace vit {
namespace {

const auto kStart = std::chrono::steady_clock::now();

}  // namespace

double uptime_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kStart).count();
}

}  // namespace vit
