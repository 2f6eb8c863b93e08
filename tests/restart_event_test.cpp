// RestartEvent: what launch/train.sh's environment says about a restart, its metrics line and log
// line; malformed values are one error naming the variable.
#include <gtest/gtest.h>

#include "train/metric_schema.h"
#include "train/restart_event.h"
#include "util/error.h"

namespace vit {
namespace {

TEST(RestartEvent, NoAttemptIsNoRestart) {
  EXPECT_FALSE(parse_restart(nullptr, nullptr, nullptr).has_value());
  EXPECT_FALSE(parse_restart("", "2", "x").has_value());
}

TEST(RestartEvent, ReadsAttemptLimitAndCause) {
  const auto event = parse_restart("1", "2", "rank 1 on h2 exited on signal 9 (Killed)");
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->attempt, 1);
  EXPECT_EQ(event->max_restarts, 2);
  EXPECT_EQ(describe(*event, 12, 2),
            "restart 1 of 2 after rank 1 on h2 exited on signal 9 (Killed): training goes on "
            "from step 12 on 2 rank(s)");
  EXPECT_EQ(parse_restart("2", "2", nullptr)->cause, "unknown");
  EXPECT_EQ(parse_restart("1", "1", "a\nb")->cause, "a b");
}

TEST(RestartEvent, MalformedValuesNameTheVariable) {
  const auto message = [](const char* attempt, const char* max) {
    try {
      parse_restart(attempt, max, "x");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("x", "2").find("VIT_RESTART_ATTEMPT=x is not a count"), std::string::npos);
  EXPECT_NE(message("1", nullptr).find("VIT_RESTART_MAX is not set"), std::string::npos);
  EXPECT_NE(message("3", "2").find("not between 1 and VIT_RESTART_MAX=2"), std::string::npos);
  EXPECT_NE(message("0", "2").find("not between 1"), std::string::npos);
}

TEST(RestartEvent, ItsLineHasTheSchemasFields) {
  const JsonLine line = restart_line(*parse_restart("1", "3", "a \"quoted\" cause"), 12, 2, 1);
  EXPECT_NO_THROW(metric_schema().check_line("restart", line.keys()));
  EXPECT_EQ(line.str(),
            "{\"event\":\"restart\",\"step\":12,\"epoch\":2,\"attempt\":1,\"max_restarts\":3,"
            "\"world_size\":1,\"cause\":\"a \\\"quoted\\\" cause\"}");
  EXPECT_EQ(metric_schema().tag("restart", "attempt"), "restart/attempt");
}

}  // namespace
}  // namespace vit
