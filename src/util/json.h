// JSON text for the files and reports other tools read (metrics.jsonl, vit-eval --json): string
// literals, numbers, and flat objects built field by field. Two number forms, each where it fits:
// the shortest text that reads back as the same double (vit-eval's report, compared exactly), and
// 6 significant digits (metrics.jsonl, one line per step: short lines that plot the same).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vit {

// JSON string literal of `text`, quotes included.
std::string json_quote(const std::string& text);

// Shortest decimal text that reads back as the same double; "null" when not finite.
std::string json_number(double value);

// `value` with 6 significant digits (printf %.6g); "null" when not finite.
std::string json_number_short(double value);

// Whether `text` is exactly one JSON object (RFC 8259 syntax; whitespace around it allowed): how a
// reader of metrics.jsonl tells a whole line from one torn by a crash mid-write.
bool is_json_object(const std::string& text);

// Builds one flat JSON object: JsonLine().add("event", "epoch").add("epoch", 1).str(). Doubles
// are written with json_number_short.
class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value);
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, double value);
  JsonLine& add(const std::string& key, int64_t value);
  JsonLine& add(const std::string& key, int value) { return add(key, int64_t{value}); }
  JsonLine& add(const std::string& key, bool value);
  std::string str() const { return body_.empty() ? "{}" : "{" + body_ + "}"; }

  // The fields again, for writers that record them elsewhere too (TensorBoard): the numbers as
  // the text holds them (doubles rounded to its 6 digits; where it says null, the NaN or infinity
  // it was), in order.
  const std::vector<std::pair<std::string, double>>& numbers() const { return numbers_; }
  // Every field's key, in order.
  const std::vector<std::string>& keys() const { return keys_; }
  // The string field `key`, or "" when there is none.
  std::string text(const std::string& key) const;

 private:
  void add_raw(const std::string& key, const std::string& json_value);
  std::string body_;
  std::vector<std::string> keys_;
  std::vector<std::pair<std::string, double>> numbers_;
  std::vector<std::pair<std::string, std::string>> texts_;
};

}  // namespace vit
