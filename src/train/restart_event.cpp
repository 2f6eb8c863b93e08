#include "train/restart_event.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

#include "util/error.h"

namespace vit {
namespace {

int parse_count(const char* name, const char* text) {
  VIT_CHECK(text != nullptr && *text != '\0', name, " is not set (launch/train.sh sets it with ",
            "VIT_RESTART_ATTEMPT)");
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  VIT_CHECK(errno == 0 && *end == '\0' && value >= 0 && value <= std::numeric_limits<int>::max(),
            name, "=", text, " is not a count");
  return static_cast<int>(value);
}

}  // namespace

std::optional<RestartEvent> parse_restart(const char* attempt, const char* max_restarts,
                                          const char* cause) {
  if (attempt == nullptr || *attempt == '\0') return std::nullopt;
  RestartEvent event;
  event.attempt = parse_count("VIT_RESTART_ATTEMPT", attempt);
  event.max_restarts = parse_count("VIT_RESTART_MAX", max_restarts);
  VIT_CHECK(event.attempt >= 1 && event.attempt <= event.max_restarts, "VIT_RESTART_ATTEMPT=",
            attempt, " is not between 1 and VIT_RESTART_MAX=", max_restarts);
  event.cause = cause != nullptr && *cause != '\0' ? cause : "unknown";
  for (char& c : event.cause) {
    if (c == '\n' || c == '\r') c = ' ';  // one line in the log
  }
  return event;
}

std::optional<RestartEvent> restart_from_environment() {
  return parse_restart(std::getenv("VIT_RESTART_ATTEMPT"), std::getenv("VIT_RESTART_MAX"),
                       std::getenv("VIT_RESTART_CAUSE"));
}

JsonLine restart_line(const RestartEvent& event, int64_t step, int64_t epoch, int world_size) {
  JsonLine line;
  line.add("event", "restart")
      .add("step", step)
      .add("epoch", epoch)
      .add("attempt", event.attempt)
      .add("max_restarts", event.max_restarts)
      .add("world_size", world_size)
      .add("cause", event.cause);
  return line;
}

std::string describe(const RestartEvent& event, int64_t step, int world_size) {
  return "restart " + std::to_string(event.attempt) + " of " +
         std::to_string(event.max_restarts) + " after " + event.cause +
         ": training goes on from step " + std::to_string(step) + " on " +
         std::to_string(world_size) + " rank(s)";
}

}  // namespace vit
