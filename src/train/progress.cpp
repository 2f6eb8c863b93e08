#include "train/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "util/status_line.h"

namespace vit {
namespace {

constexpr double kRedrawS = 0.1;

int terminal_columns() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

}  // namespace

ProgressMode progress_mode(ProgressSetting setting, const char* vit_terminal,
                           bool stdout_is_tty, bool under_mpirun) {
  if (setting == ProgressSetting::kBar) return ProgressMode::kBar;
  if (setting == ProgressSetting::kLines) return ProgressMode::kLines;
  if (vit_terminal != nullptr && *vit_terminal != '\0') {
    return std::strcmp(vit_terminal, "1") == 0 ? ProgressMode::kBar : ProgressMode::kLines;
  }
  return stdout_is_tty && !under_mpirun ? ProgressMode::kBar : ProgressMode::kLines;
}

ProgressMode progress_mode(ProgressSetting setting) {
  return progress_mode(setting, std::getenv("VIT_TERMINAL"), isatty(STDOUT_FILENO) == 1,
                       std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
  char text[32];
  if (h > 0) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(s));
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", static_cast<long long>(m),
                  static_cast<long long>(s));
  }
  return text;
}

std::string progress_bar_text(int64_t epoch, int64_t epochs, int64_t done, int64_t total,
                              double eta_s, double loss, double images_per_s, int bar_width) {
  const double fraction =
      total > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0) : 0;
  const int width = std::max(bar_width, 0);
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<size_t>(width), ' ');
  std::fill_n(bar.begin(), filled, '=');
  if (filled < width) bar[static_cast<size_t>(filled)] = '>';
  char text[256];
  std::snprintf(text, sizeof text, "epoch %lld/%lld [%s] %lld/%lld %3.0f%% ETA %s loss %.4f %.0f img/s",
                static_cast<long long>(epoch), static_cast<long long>(epochs), bar.c_str(),
                static_cast<long long>(done), static_cast<long long>(total), 100.0 * fraction,
                format_duration(eta_s).c_str(), loss, images_per_s);
  return text;
}

EpochProgress::EpochProgress(ProgressMode mode, int64_t epoch, int64_t epochs,
                             int64_t total_steps, int64_t first_done)
    : mode_(mode), epoch_(epoch), epochs_(epochs), total_(total_steps), first_done_(first_done) {}

EpochProgress::~EpochProgress() {
  if (mode_ == ProgressMode::kBar) set_status_line("");
}

double EpochProgress::eta_s(int64_t done) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const int64_t here = done - first_done_;
  if (here <= 0) return -1;
  return elapsed / static_cast<double>(here) * static_cast<double>(total_ - done);
}

std::string EpochProgress::position(int64_t done) const {
  char text[96];
  std::snprintf(text, sizeof text, "(%lld/%lld, %.0f%%, ETA %s)", static_cast<long long>(done),
                static_cast<long long>(total_),
                total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 0.0,
                format_duration(eta_s(done)).c_str());
  return text;
}

void EpochProgress::update(int64_t done, double images_per_s,
                           const std::function<double()>& loss) {
  if (mode_ != ProgressMode::kBar) return;
  const auto now = Clock::now();
  if (done < total_ && std::chrono::duration<double>(now - last_draw_).count() < kRedrawS) return;
  last_draw_ = now;
  // The text without the bar is about 60 columns; the bar takes what the terminal leaves.
  const int bar_width = std::clamp(terminal_columns() - 70, 10, 40);
  set_status_line(progress_bar_text(epoch_, epochs_, done, total_, eta_s(done), loss(),
                                    images_per_s, bar_width));
}

}  // namespace vit
