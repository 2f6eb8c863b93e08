#include "config/command_line.h"

#include <algorithm>
#include <map>
#include <ostream>
#include <utility>

#include "util/error.h"

namespace vit {
namespace po = boost::program_options;

void keep_last_occurrences(po::parsed_options& parsed) {
  std::map<std::string, size_t> last;
  for (size_t i = 0; i < parsed.options.size(); ++i) last[parsed.options[i].string_key] = i;
  std::vector<po::option> kept;
  for (size_t i = 0; i < parsed.options.size(); ++i) {
    if (last[parsed.options[i].string_key] == i) kept.push_back(parsed.options[i]);
  }
  parsed.options = std::move(kept);
}

namespace {

// Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string nearest_option(const std::string& name, const po::options_description& known) {
  if (name.size() > 64) return "";  // no option is that long (and the distances stay cheap)
  std::string best, by_key;
  size_t best_distance = std::min<size_t>(3, name.size() / 3) + 1;
  bool tie = false;
  int same_key = 0;
  for (const auto& option : known.options()) {
    const std::string& candidate = option->long_name();
    if (candidate.empty()) continue;
    const auto dot = candidate.find('.');
    if (dot != std::string::npos && candidate.substr(dot + 1) == name) {
      by_key = candidate;
      ++same_key;
    }
    const size_t distance = edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
      tie = false;
    } else if (distance == best_distance && !best.empty()) {
      tie = true;
    }
  }
  if (!best.empty() && !tie) return best;
  return same_key == 1 ? by_key : "";
}

std::string describe_option_error(const std::exception& e, const po::options_description* known,
                                  const std::string& prefix) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return e.what();
  std::string hint;
  if (known != nullptr && dynamic_cast<const po::unknown_option*>(&e) != nullptr) {
    std::string name = named->get_option_name();
    name.erase(0, name.find_first_not_of('-'));
    const std::string nearest = nearest_option(name, *known);
    if (!nearest.empty()) hint = " (did you mean " + prefix + nearest + "?)";
  }
  // Boost substitutes its %placeholders% until none is left: a token or value that holds one
  // (--x%value%, an INI line "k = %value%") made what() loop forever (found by fuzzing). The
  // substituted texts are shown with each % as a fullwidth percent sign instead.
  struct Safe : po::error_with_option_name {
    explicit Safe(const po::error_with_option_name& from) : po::error_with_option_name(from) {
      for (auto& entry : m_substitutions) {
        std::string safe;
        for (const char ch : entry.second)
          safe += ch == '%' ? std::string("\xef\xbc\x85") : std::string(1, ch);
        entry.second = safe;
      }
    }
  };
  return Safe(*named).what() + hint;
}

CommandLineOutcome parse_command_line(int argc, const char* const* argv, const CommandLine& spec,
                                      po::variables_map& vm, std::ostream& help_out,
                                      std::vector<std::string>* given) {
  po::options_description all;
  for (const po::options_description* group : spec.shown) all.add(*group);
  if (spec.hidden != nullptr) all.add(*spec.hidden);
  try {
    // The command line is stored first: po::store never overrides a stored value, so the
    // command line wins over what before_notify stores (a config file) and that over the defaults.
    po::command_line_parser parser(argc, argv);
    parser.options(all);
    if (spec.positional != nullptr) parser.positional(*spec.positional);
    po::parsed_options parsed = parser.run();
    // A key given twice: its last value (as argparse does); but every positional argument counts.
    std::vector<po::option> named, positional;
    for (const po::option& option : parsed.options) {
      (option.position_key >= 0 ? positional : named).push_back(option);
    }
    parsed.options = std::move(named);
    keep_last_occurrences(parsed);
    if (given != nullptr) {
      for (const po::option& option : parsed.options) given->push_back(option.string_key);
    }
    parsed.options.insert(parsed.options.end(), positional.begin(), positional.end());
    po::store(parsed, vm);
  } catch (const po::error& e) {
    VIT_FAIL("command line: ", describe_option_error(e, &all));
  }
  if (vm.count("version")) return CommandLineOutcome::kVersion;
  if (vm.count("help")) {
    help_out << spec.usage << "\n";
    for (const po::options_description* group : spec.shown) help_out << *group << "\n";
    help_out << spec.help_footer;
    return CommandLineOutcome::kHelp;
  }
  const std::string source = spec.before_notify ? spec.before_notify(vm) : "command line";
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    VIT_FAIL(source, ": ", describe_option_error(e));
  }
  return CommandLineOutcome::kRun;
}

}  // namespace vit
