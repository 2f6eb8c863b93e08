#include "config/command_line.h"

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

std::string describe_option_error(const std::exception& e) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return e.what();
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
  return Safe(*named).what();
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
    VIT_FAIL("command line: ", describe_option_error(e));
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
