#include "util/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vit {

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

std::string json_number_short(double value) {
  if (!std::isfinite(value)) return "null";  // JSON has no NaN or infinity
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

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
  texts_.emplace_back(key, value);
  return *this;
}

JsonLine& JsonLine::add(const std::string& key, double value) {
  const std::string text = json_number_short(value);
  add_raw(key, text);
  numbers_.emplace_back(key, std::isfinite(value) ? std::strtod(text.c_str(), nullptr) : value);
  return *this;
}

JsonLine& JsonLine::add(const std::string& key, int64_t value) {
  add_raw(key, std::to_string(value));
  numbers_.emplace_back(key, static_cast<double>(value));
  return *this;
}

std::string JsonLine::text(const std::string& key) const {
  for (const auto& [name, value] : texts_) {
    if (name == key) return value;
  }
  return "";
}

}  // namespace vit
