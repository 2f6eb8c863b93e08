// Logging: one spdlog logger for the whole program. Rank 0 logs at the configured level; other
// ranks log warnings and errors only, tagged with their rank. A run directory adds a log file.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace vit {

struct LogOptions {
  std::string level = "info";  // trace | debug | info | warn | error
  int rank = 0;
  std::string file;  // empty: console only
};

// Replaces the default logger; safe to call again (e.g. once the run directory is known).
void setup_logging(const LogOptions& options);

// The level names accepted by setup_logging, for validation messages.
bool is_log_level(const std::string& name);

}  // namespace vit
