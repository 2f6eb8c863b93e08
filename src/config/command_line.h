// The command-line skeleton the three programs share: --help, --version, a key given twice, unknown
// options and malformed values. Each program's parse function declares its options, calls
// parse_command_line, and goes on with what only it does (vit-train's config file, vit-eval's and
// vit-predict's model file).
#pragma once

#include <boost/program_options.hpp>
#include <exception>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace vit {

struct CommandLine {
  std::string usage;  // --help's first lines, up to the blank line before the options
  // The options --help lists, in its order, each followed by a blank line.
  std::vector<const boost::program_options::options_description*> shown;
  // Options --help does not list (vit-predict's images).
  const boost::program_options::options_description* hidden = nullptr;
  const boost::program_options::positional_options_description* positional = nullptr;
  std::string help_footer;  // after the options ("" for none)
  // Runs after the command line is stored and before the options are notified (vit-train stores
  // its config file there, which the command line overrides); returns what an error of
  // notification names ("command line", or the config file). Null: "command line".
  std::function<std::string(boost::program_options::variables_map&)> before_notify;
};

enum class CommandLineOutcome {
  kRun,      // parsed, stored and notified
  kHelp,     // --help: printed to help_out, nothing else done
  kVersion,  // --version (where an option of that name is declared): nothing printed
};

// Parses argv against `spec` into `vm` and notifies it (each option bound to its variable). A named
// option given twice keeps its last value (positional ones all count); `given`, when not null,
// receives the names given on the command line. Throws vit::Error "command line: <problem>" for an
// unknown option or a malformed value.
CommandLineOutcome parse_command_line(int argc, const char* const* argv, const CommandLine& spec,
                                      boost::program_options::variables_map& vm,
                                      std::ostream& help_out,
                                      std::vector<std::string>* given = nullptr);

// A key given more than once keeps its last value: the earlier occurrences are dropped before
// Boost.Program_options (which refuses repeats) stores them.
void keep_last_occurrences(boost::program_options::parsed_options& parsed);

// The message of an exception from Boost.Program_options (or any other), made safely: see the
// definition. For an unknown option, with `known` (the options that exist) the nearest one is
// suggested: " (did you mean --train.epochs?)", written as `prefix` + name ("--" on the command
// line, "" in a config file).
std::string describe_option_error(const std::exception& e,
                                  const boost::program_options::options_description* known = nullptr,
                                  const std::string& prefix = "--");

// The option of `known` nearest to the misspelt `name`: within a few edits (a third of its length,
// at most 3), or the one option whose key after the section is `name` ("batch_size" for
// "train.batch_size"); "" when none is near enough or two are equally near.
std::string nearest_option(const std::string& name,
                           const boost::program_options::options_description& known);

}  // namespace vit
