#include "util/status_line.h"

namespace vit {
namespace {

// One stdout, one status line: shared by set_status_line and the sink (both lock this).
std::mutex& console_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::string& current_status() {
  static std::string status;
  return status;
}

constexpr const char* kEraseLine = "\r\033[K";

}  // namespace

void set_status_line(const std::string& text) {
  const std::lock_guard<std::mutex> lock(console_mutex());
  std::string& status = current_status();
  if (text.empty() && status.empty()) return;
  std::fputs(kEraseLine, stdout);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  status = text;
}

void StatusAwareStdoutSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  const std::lock_guard<std::mutex> lock(console_mutex());
  const std::string& status = current_status();
  if (!status.empty()) std::fputs(kEraseLine, stdout);
  std::fwrite(formatted.data(), 1, formatted.size(), stdout);
  if (!status.empty()) std::fputs(status.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace vit
