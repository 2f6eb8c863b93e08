#include "util/json.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vit {
namespace {

// A recursive-descent check of JSON syntax (no values built). `depth` bounds the nesting, so a
// line of a million '[' is refused instead of overflowing the stack.
class JsonSyntax {
 public:
  explicit JsonSyntax(const std::string& text) : text_(text) {}

  bool object_alone() {
    skip_space();
    if (!object(0)) return false;
    skip_space();
    return at_ == text_.size();
  }

 private:
  static constexpr int kMaxDepth = 64;

  bool value(int depth) {
    if (at_ >= text_.size()) return false;
    switch (text_[at_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool object(int depth) {
    if (depth > kMaxDepth || !take('{')) return false;
    skip_space();
    if (take('}')) return true;
    for (;;) {
      skip_space();
      if (!string()) return false;
      skip_space();
      if (!take(':')) return false;
      skip_space();
      if (!value(depth + 1)) return false;
      skip_space();
      if (take('}')) return true;
      if (!take(',')) return false;
    }
  }

  bool array(int depth) {
    if (depth > kMaxDepth || !take('[')) return false;
    skip_space();
    if (take(']')) return true;
    for (;;) {
      skip_space();
      if (!value(depth + 1)) return false;
      skip_space();
      if (take(']')) return true;
      if (!take(',')) return false;
    }
  }

  bool string() {
    if (!take('"')) return false;
    while (at_ < text_.size()) {
      const auto ch = static_cast<unsigned char>(text_[at_++]);
      if (ch == '"') return true;
      if (ch < 0x20) return false;  // a control character (a NUL of a torn write) must be escaped
      if (ch != '\\') continue;
      if (at_ >= text_.size()) return false;
      const char escaped = text_[at_++];
      if (escaped == 'u') {
        for (int i = 0; i < 4; ++i) {
          if (at_ >= text_.size() || !std::isxdigit(static_cast<unsigned char>(text_[at_++]))) {
            return false;
          }
        }
      } else if (std::string("\"\\/bfnrt").find(escaped) == std::string::npos) {
        return false;
      }
    }
    return false;  // unterminated
  }

  bool number() {
    take('-');
    if (take('0')) {
      // no leading zeros
    } else if (!digits()) {
      return false;
    }
    if (take('.') && !digits()) return false;
    if (take('e') || take('E')) {
      if (!take('+')) take('-');
      if (!digits()) return false;
    }
    return true;
  }

  bool digits() {
    const size_t start = at_;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
    return at_ > start;
  }

  bool literal(const char* word) {
    const std::string expected(word);
    if (text_.compare(at_, expected.size(), expected) != 0) return false;
    at_ += expected.size();
    return true;
  }

  bool take(char ch) {
    if (at_ >= text_.size() || text_[at_] != ch) return false;
    ++at_;
    return true;
  }

  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }

  const std::string& text_;
  size_t at_ = 0;
};

}  // namespace

bool is_json_object(const std::string& text) { return JsonSyntax(text).object_alone(); }

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
  keys_.push_back(key);
}

JsonLine& JsonLine::add(const std::string& key, bool value) {
  add_raw(key, value ? "true" : "false");
  return *this;
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
