#include "train/progress.h"

#include <gtest/gtest.h>

namespace vit {
namespace {

TEST(ProgressMode, ExplicitSettingsWin) {
  EXPECT_EQ(progress_mode(ProgressSetting::kBar, "0", false, true), ProgressMode::kBar);
  EXPECT_EQ(progress_mode(ProgressSetting::kLines, "1", true, false), ProgressMode::kLines);
}

TEST(ProgressMode, AutoFollowsTheTerminal) {
  EXPECT_EQ(progress_mode(ProgressSetting::kAuto, nullptr, true, false), ProgressMode::kBar);
  EXPECT_EQ(progress_mode(ProgressSetting::kAuto, nullptr, false, false), ProgressMode::kLines);
}

TEST(ProgressMode, AutoUnderMpirunNeedsTheLauncherToSay) {
  // Open MPI gives ranks a pseudo-terminal even when the job's output goes to a file.
  EXPECT_EQ(progress_mode(ProgressSetting::kAuto, nullptr, true, true), ProgressMode::kLines);
  EXPECT_EQ(progress_mode(ProgressSetting::kAuto, "1", true, true), ProgressMode::kBar);
  EXPECT_EQ(progress_mode(ProgressSetting::kAuto, "0", true, false), ProgressMode::kLines);
  EXPECT_EQ(progress_mode(ProgressSetting::kAuto, "", true, false), ProgressMode::kBar);
}

TEST(FormatDuration, MinutesAndHours) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(59.6), "1:00");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(ProgressBarText, ShowsDoneTotalEtaLossAndSpeed) {
  const std::string text = progress_bar_text(2, 5, 120, 480, 12, 0.41234, 8123.4, 20);
  EXPECT_EQ(text, "epoch 2/5 [=====>              ] 120/480  25% ETA 0:12 loss 0.4123 8123 img/s");
  const std::string full = progress_bar_text(5, 5, 480, 480, 0, 0.1, 100, 4);
  EXPECT_NE(full.find("[====] 480/480 100%"), std::string::npos) << full;
  EXPECT_EQ(full.find('\r'), std::string::npos);
}

TEST(EpochProgress, PositionCountsFromTheSessionStart) {
  const EpochProgress progress(ProgressMode::kLines, 1, 1, 100, 40);
  const std::string text = progress.position(50);
  EXPECT_EQ(text.rfind("(50/100, 50%, ETA ", 0), 0u) << text;
  EXPECT_EQ(progress.position(40), "(40/100, 40%, ETA ?)");
}

}  // namespace
}  // namespace vit
