// Errors: every failure the user can cause is a vit::Error whose message names the file, key or
// rank at fault. main() catches it once and prints it as a single "error: ..." line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace vit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
// Builds the message from stream pieces so call sites read like a sentence.
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace vit

// VIT_CHECK(cond, pieces...): throws vit::Error with the pieces joined when cond is false.
#define VIT_CHECK(cond, ...)                                    \
  do {                                                          \
    if (!(cond)) throw ::vit::Error(::vit::detail::concat(__VA_ARGS__)); \
  } while (0)

// VIT_FAIL(pieces...): throws unconditionally.
#define VIT_FAIL(...) throw ::vit::Error(::vit::detail::concat(__VA_ARGS__))
