#include "util/log.h"

#include <spdlog/sinks/basic_file_sink.h>

#include <memory>
#include <vector>

#include "config/choices.h"  // LogLevel: log.level's names
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/status_line.h"

namespace vit {

bool is_log_level(const std::string& name) { return parse_choice<LogLevel>(name).has_value(); }

void setup_logging(const LogOptions& options) {
  VIT_CHECK(is_log_level(options.level), "log.level: unknown level '", options.level,
            "' (allowed: trace, debug, info, warn, error)");
  auto level = spdlog::level::from_str(options.level);
  if (options.rank != 0 && level < spdlog::level::warn) level = spdlog::level::warn;

  std::vector<spdlog::sink_ptr> sinks;
  // stdout, below which a progress bar may stand; no colour codes so that SLURM logs and pipes
  // stay clean.
  sinks.push_back(std::make_shared<StatusAwareStdoutSink>());
  if (!options.file.empty()) {
    check_output_path(options.file);
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
    } catch (const spdlog::spdlog_ex& e) {
      VIT_FAIL(options.file, ": cannot open log file: ", e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("vit", sinks.begin(), sinks.end());
  const std::string tag = options.rank == 0 ? "" : " [rank " + std::to_string(options.rank) + "]";
  logger->set_pattern("[%H:%M:%S.%e] [%l]" + tag + " %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace vit
