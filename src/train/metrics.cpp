#include "train/metrics.h"

#include <cmath>
#include <cstdio>
#include <regex>

#include "util/atomic_file.h"
#include "util/error.h"

namespace vit {

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (const char ch : text) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", ch);
          out += buffer;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

void JsonLine::add_raw(const std::string& key, const std::string& json_value) {
  if (!body_.empty()) body_ += ",";
  body_ += json_quote(key) + ":" + json_value;
}

JsonLine& JsonLine::add(const std::string& key, const std::string& value) {
  add_raw(key, json_quote(value));
  return *this;
}

JsonLine& JsonLine::add(const std::string& key, double value) {
  if (!std::isfinite(value)) {
    add_raw(key, "null");  // JSON has no NaN or infinity
  } else {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    add_raw(key, buffer);
  }
  return *this;
}

JsonLine& JsonLine::add(const std::string& key, int64_t value) {
  add_raw(key, std::to_string(value));
  return *this;
}

void drop_lines_after_step(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  static const std::regex step_field(R"("step":(\d+))");
  std::string kept, line;
  bool dropped = false;
  while (std::getline(in, line)) {
    std::smatch match;
    if (std::regex_search(line, match, step_field) && std::stoll(match[1]) > step) {
      dropped = true;
    } else {
      kept += line + "\n";
    }
  }
  if (dropped) write_text_atomically(path, kept);
}

MetricsWriter::MetricsWriter(const std::string& path) : path_(path), out_(path, std::ios::app) {
  VIT_CHECK(out_, path, ": cannot open for appending");
}

void MetricsWriter::write(const JsonLine& line) {
  out_ << line.str() << '\n';
  out_.flush();
  VIT_CHECK(out_, path_, ": write failed");
}

}  // namespace vit
