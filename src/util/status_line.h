// Status line: one line at the bottom of a terminal that is redrawn in place (a progress bar),
// with log messages scrolling above it. The console log sink goes through here, so a message
// never lands in the middle of the bar: the bar is erased, the message written, the bar redrawn.
// Nothing here writes a carriage return unless a status line has been set, which only a terminal
// gets (see train/progress.h), so pipes, files and SLURM logs stay clean.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace vit {

// Replaces the status line on stdout ("" erases it). Thread-safe with the console sink.
void set_status_line(const std::string& text);

// spdlog sink for stdout that keeps the status line below the messages.
class StatusAwareStdoutSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override { std::fflush(stdout); }
};

}  // namespace vit
