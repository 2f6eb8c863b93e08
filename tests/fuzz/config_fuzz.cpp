// config_fuzz: vit-train's configuration parser, parse_args (config/train_config.h): the command
// line and the INI file of --config, on arbitrary input.
//
// Input: one control byte, then the rest.
//   bit 0 clear: the rest is the command line, one argument per line ('\n' or NUL ends one).
//   bit 0 set: the rest up to its first NUL is the command line (one argument per line), and what
//     follows the NUL (or all of it, without a NUL) is an INI file, passed as --config FILE after
//     the fuzzed arguments.
// Fuzzed arguments that could name another --config ("--co...", the only long option so spelt)
// are refused: the parser would read whatever file they name. vit::Error (which parse_args makes
// of Boost.Program_options' errors) is the expected answer to bad input; std::exception is caught
// too (main() catches it) and named once per type on stderr. Each input is parsed inside a
// sandbox folder that holds data/mnist and data/fashion-mnist (the folders data.dir defaults to),
// so that nothing it names lies outside the sandbox. A config that parses must survive its own
// config.ini: to_ini(), parsed back through --config, gives the same entries (else abort).
//
// Inputs that once hung it (Boost's message placeholders such as "%value%" in an argument or
// an INI line): tests/fuzz/crashes/config_fuzz-*, part of the seed corpus.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <sstream>
#include <string>
#include <typeinfo>
#include <vector>

#include "config/train_config.h"
#include "fuzz_file.h"
#include "util/error.h"

namespace {

// The folder each input is parsed in (data/mnist, data/fashion-mnist inside), removed at exit.
class Sandbox {
 public:
  Sandbox()
      : root_(vit::fuzz::temp_dir() + "/vit-fuzz-config-" + std::to_string(::getpid()) + ".d") {
    for (const char* dir : {"", "/data", "/data/mnist", "/data/fashion-mnist"}) {
      const std::string path = root_ + dir;
      if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) die(path);
    }
  }
  ~Sandbox() {
    for (const char* dir : {"/data/fashion-mnist", "/data/mnist", "/data", ""}) {
      ::rmdir((root_ + dir).c_str());
    }
  }
  const std::string& root() const { return root_; }

 private:
  [[noreturn]] static void die(const std::string& what) {
    std::perror(what.c_str());
    std::abort();
  }
  std::string root_;
};

const Sandbox& sandbox() {
  static const Sandbox box;
  return box;
}
const vit::fuzz::FuzzFile& ini_file() {
  static const vit::fuzz::FuzzFile file("config", ".ini");
  return file;
}
const vit::fuzz::FuzzFile& resolved_file() {
  static const vit::fuzz::FuzzFile file("config-resolved", ".ini");
  return file;
}

// Runs `body` with the sandbox as the working folder, then returns to the folder it was called in
// (libFuzzer writes its files relative to it).
template <typename Body>
void in_sandbox(Body&& body) {
  const int here = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (here < 0 || ::chdir(sandbox().root().c_str()) != 0) std::abort();
  body();
  if (::fchdir(here) != 0) std::abort();
  ::close(here);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::string token;
  for (const char ch : text) {
    if (ch == '\n' || ch == '\0') {
      out.push_back(token);
      token.clear();
    } else {
      token += ch;
    }
  }
  if (!token.empty()) out.push_back(token);
  return out;
}

vit::ParseResult parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"vit-train"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  argv.push_back(nullptr);
  std::ostringstream help;
  return vit::parse_args(static_cast<int>(argv.size() - 1), argv.data(), help);
}

// to_ini() of a parsed config, read back through --config, resolves to the same entries.
void check_round_trip(const vit::TrainConfig& config) {
  const std::string ini = vit::to_ini(config);
  resolved_file().write(ini.data(), ini.size());
  std::vector<std::pair<std::string, std::string>> again;
  try {
    again = parse({"--config", resolved_file().path()}).config.entries();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "config_fuzz: to_ini() output refused: %s\n--- to_ini():\n%s\n", e.what(),
                 ini.c_str());
    std::abort();
  }
  const auto first = config.entries();
  if (again != first) {
    for (size_t i = 0; i < first.size() && i < again.size(); ++i) {
      if (first[i] != again[i]) {
        std::fprintf(stderr, "config_fuzz: round trip: %s = '%s' came back as %s = '%s'\n",
                     first[i].first.c_str(), first[i].second.c_str(), again[i].first.c_str(),
                     again[i].second.c_str());
      }
    }
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)sandbox();
  (void)ini_file();
  (void)resolved_file();
  (void)vit::config_keys();  // the key table's one-time set-up, before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool with_file = data[0] & 1;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> args;
  if (with_file) {
    const size_t nul = rest.find('\0');
    const std::string ini = nul == std::string::npos ? rest : rest.substr(nul + 1);
    if (nul != std::string::npos) args = split_lines(rest.substr(0, nul));
    ini_file().write(ini.data(), ini.size());
  } else {
    args = split_lines(rest);
  }
  for (const auto& arg : args) {
    if (arg.compare(0, 4, "--co") == 0) return 0;  // could name a file to read: not fuzzed
  }
  if (with_file) {
    args.push_back("--config");
    args.push_back(ini_file().path());
  }
  in_sandbox([&] {
    try {
      const auto result = parse(args);
      // --help, --version and --metric-schema print and exit: their config is not resolved.
      if (!result.help && !result.version && !result.metric_schema) {
        check_round_trip(result.config);
      }
    } catch (const vit::Error&) {
    } catch (const std::exception& e) {
      // Not what the header promises, though main() copes: named once per type, not a failure.
      static std::set<std::string> seen;
      if (seen.insert(typeid(e).name()).second) {
        std::fprintf(stderr, "config_fuzz: note: %s (not a vit::Error): %s\n", typeid(e).name(),
                     e.what());
      }
    }
  });
  return 0;
}
