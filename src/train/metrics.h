// metrics.jsonl: one JSON object per line, appended and flushed as each event happens, so that a
// crash loses at most the line being written and tools can follow the file while a job runs.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace vit {

// Builds one flat JSON object: JsonLine().add("event", "epoch").add("epoch", 1).str()
class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value);
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, double value);
  JsonLine& add(const std::string& key, int64_t value);
  JsonLine& add(const std::string& key, int value) { return add(key, int64_t{value}); }
  std::string str() const { return body_.empty() ? "{}" : "{" + body_ + "}"; }

 private:
  void add_raw(const std::string& key, const std::string& json_value);
  std::string body_;
};

// JSON string literal of `text`, quotes included.
std::string json_quote(const std::string& text);

// Removes the lines of `path` whose "step" is beyond `step` (atomically), so that a run resumed
// from the checkpoint of `step` does not write lines that are already there twice.
void drop_lines_after_step(const std::string& path, int64_t step);

class MetricsWriter {
 public:
  // Opens `path` for appending; throws vit::Error naming it when that fails.
  explicit MetricsWriter(const std::string& path);
  void write(const JsonLine& line);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace vit
