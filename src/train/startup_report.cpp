#include "train/startup_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <sstream>
#include <utility>

namespace vit {
namespace {

// Long jobs list their first ranks and the count of the rest; the log stays readable.
constexpr int kRanksListed = 32;
// Longer values go on over more rows, broken between words: the table stays about 100 columns.
constexpr size_t kValueWidth = 72;

using Rows = std::vector<std::pair<std::string, std::string>>;

void add_versions(Rows& rows, const std::string& report) {
  std::istringstream lines(report);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    // "Name version", or "Name, Name: remark" (what a CPU build says of NCCL and CUDA)
    const auto colon = line.find(": ");
    if (colon != std::string::npos) {
      rows.emplace_back(line.substr(0, colon), line.substr(colon + 2));
      continue;
    }
    const auto space = line.find(' ');
    if (space == std::string::npos) {
      rows.emplace_back(line, "");
    } else {
      rows.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
  }
}

// `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole).
std::vector<std::string> wrapped(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  std::string word, line;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  lines.push_back(line);
  return lines;
}

std::string format_rows(const Rows& given) {
  Rows rows;  // the long values over several rows, the key on the first
  for (const auto& [key, value] : given) {
    if (value.size() <= kValueWidth) {
      rows.emplace_back(key, value);
      continue;
    }
    const auto lines = wrapped(value, kValueWidth);
    for (size_t i = 0; i < lines.size(); ++i) rows.emplace_back(i == 0 ? key : "", lines[i]);
  }
  size_t key_width = 0, value_width = 0;
  for (const auto& [key, value] : rows) {
    key_width = std::max(key_width, key.size());
    value_width = std::max(value_width, value.size());
  }
  const std::string rule =
      "+" + std::string(key_width + 2, '-') + "+" + std::string(value_width + 2, '-') + "+";
  std::ostringstream out;
  out << rule << "\n";
  for (const auto& [key, value] : rows) {
    if (key.empty() && value.empty()) {
      out << rule << "\n";
      continue;
    }
    out << "| " << key << std::string(key_width - key.size(), ' ') << " | " << value
        << std::string(value_width - value.size(), ' ') << " |\n";
  }
  out << rule;
  return out.str();
}

}  // namespace

std::string with_thousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) {
    digits.insert(static_cast<size_t>(i), ",");
  }
  return value < 0 ? "-" + digits : digits;
}

std::string with_si_prefix(double value) {
  static const char* const kPrefixes[] = {"", " k", " M", " G", " T", " P"};
  size_t prefix = 0;
  while (std::abs(value) >= 999.5 && prefix + 1 < std::size(kPrefixes)) {
    value /= 1000;
    ++prefix;
  }
  const double magnitude = std::abs(value);
  const int decimals = magnitude == 0 || magnitude >= 99.95 ? 0 : magnitude >= 9.995 ? 1 : 2;
  char text[32];
  std::snprintf(text, sizeof text, "%.*f%s", decimals, value, kPrefixes[prefix]);
  return text;
}

std::string startup_table(const TrainConfig& config, const StartupFacts& facts) {
  Rows rows;
  add_versions(rows, facts.versions);
  rows.emplace_back("", "");
  rows.emplace_back("world size", std::to_string(facts.world_size) + " rank(s) on " +
                                      std::to_string(facts.nodes) + " machine(s)");
  rows.emplace_back("ranks per node", std::to_string(facts.ranks_per_node));
  const int listed = std::min(static_cast<int>(facts.ranks.size()), kRanksListed);
  for (int r = 0; r < listed; ++r) {
    rows.emplace_back("rank " + std::to_string(r), facts.ranks[static_cast<size_t>(r)]);
  }
  if (static_cast<int>(facts.ranks.size()) > listed) {
    rows.emplace_back("ranks " + std::to_string(listed) + "..",
                      std::to_string(facts.ranks.size() - static_cast<size_t>(listed)) +
                          " more (each rank logs its own placement at debug level)");
  }
  rows.emplace_back("gradients", "one all-reduce per step by " + facts.gradients);
  rows.emplace_back("", "");
  rows.emplace_back("data", to_string(config.data.dataset) + " in " + config.data.dir);
  rows.emplace_back("data source", facts.data_source);
  rows.emplace_back("train images", with_thousands(facts.train_images) + " of " + facts.image_shape);
  if (facts.val_images > 0) {
    rows.emplace_back("validation images",
                      with_thousands(facts.val_images) + " (data.val_split, not trained on)");
  }
  rows.emplace_back("test images", with_thousands(facts.test_images));
  rows.emplace_back("parameters", with_thousands(facts.parameters));
  rows.emplace_back("FLOPs per image", with_si_prefix(facts.train_flops) + " to train, " +
                                           with_si_prefix(facts.forward_flops) +
                                           " forward (matrix products)");
  rows.emplace_back("steps per epoch", std::to_string(facts.steps_per_epoch) + " (global batch " +
                                           std::to_string(facts.global_batch) + ")");
  rows.emplace_back("config file", config.config_file.empty() ? "(defaults)" : config.config_file);
  rows.emplace_back("run directory", config.run_dir);
  rows.emplace_back("resumed from", facts.resumed_from.empty() ? "(fresh start)" : facts.resumed_from);
  rows.emplace_back("", "");
  // The keys given in the file or on the command line, a row each with where from; then those at
  // their defaults, a row a section ("optim defaults | weight_decay=0, beta1=0.9, ...").
  std::vector<std::pair<std::string, std::string>> defaults;  // section, "name value, ..."
  for (const auto& [key, value] : config.entries()) {
    const auto origin = config.origins.find(key);
    if (origin != config.origins.end()) {
      rows.emplace_back(key, value + "  (" + origin->second + ")");
      continue;
    }
    const auto dot = key.find('.');
    const std::string section = key.substr(0, dot);
    if (defaults.empty() || defaults.back().first != section) defaults.emplace_back(section, "");
    std::string& text = defaults.back().second;
    text += (text.empty() ? "" : ", ") + key.substr(dot + 1) + "=" + value;
  }
  for (const auto& [section, text] : defaults) rows.emplace_back(section + " defaults", text);
  return format_rows(rows);
}

}  // namespace vit
