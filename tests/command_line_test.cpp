// The programs' shared command-line skeleton: the last of a repeated key wins, positional
// arguments all count, --help and --version, and one-line errors that suggest the nearest option.
#include "config/command_line.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "util/error.h"

namespace vit {
namespace {
namespace po = boost::program_options;

class CommandLineTest : public ::testing::Test {
 protected:
  CommandLineTest() : options_("Training") {
    options_.add_options()("help", "show this")("version", "show the version")(
        "train.epochs", po::value<int>(&epochs_)->default_value(1), "epochs")(
        "train.batch_size", po::value<int>(&batch_)->default_value(8), "batch")(
        "model.batch_size", po::value<int>(), "a second key named batch_size");
    hidden_.add_options()("image", po::value<std::vector<std::string>>(&images_), "images");
    positional_.add("image", -1);
    spec_.usage = "usage: prog [options] IMAGE...";
    spec_.shown = {&options_};
    spec_.hidden = &hidden_;
    spec_.positional = &positional_;
    spec_.help_footer = "footer\n";
  }

  CommandLineOutcome parse(std::vector<const char*> args) {
    args.insert(args.begin(), "prog");
    vm_.clear();
    return parse_command_line(static_cast<int>(args.size()), args.data(), spec_, vm_, help_,
                              &given_);
  }

  std::string error_of(std::vector<const char*> args) {
    try {
      parse(std::move(args));
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  po::options_description options_, hidden_;
  po::positional_options_description positional_;
  CommandLine spec_;
  po::variables_map vm_;
  std::ostringstream help_;
  std::vector<std::string> given_, images_;
  int epochs_ = 0, batch_ = 0;
};

TEST_F(CommandLineTest, TheLastOfARepeatedKeyWinsAndEveryPositionalCounts) {
  EXPECT_EQ(parse({"a.png", "--train.epochs", "2", "b.png", "--train.epochs", "5"}),
            CommandLineOutcome::kRun);
  EXPECT_EQ(epochs_, 5);
  EXPECT_EQ(batch_, 8);  // its default
  EXPECT_EQ(images_, (std::vector<std::string>{"a.png", "b.png"}));
  EXPECT_EQ(given_, (std::vector<std::string>{"train.epochs"}));
}

TEST_F(CommandLineTest, HelpPrintsTheUsageOptionsAndFooterAndVersionNothing) {
  EXPECT_EQ(parse({"--help"}), CommandLineOutcome::kHelp);
  const std::string help = help_.str();
  EXPECT_EQ(help.rfind("usage: prog [options] IMAGE...\n", 0), 0u) << help;
  EXPECT_NE(help.find("--train.epochs"), std::string::npos) << help;
  EXPECT_EQ(help.find("--image"), std::string::npos) << help;  // hidden
  EXPECT_EQ(help.substr(help.size() - 7), "footer\n");
  help_.str("");
  EXPECT_EQ(parse({"--version", "--help"}), CommandLineOutcome::kVersion);
  EXPECT_EQ(help_.str(), "");
}

TEST_F(CommandLineTest, AnUnknownOptionIsOneLineWithTheNearestOption) {
  EXPECT_EQ(error_of({"--train.epohcs", "3"}),
            "command line: unrecognised option '--train.epohcs' (did you mean --train.epochs?)");
  // Nothing near: no suggestion. Two equally near (a section's key given bare): none either.
  EXPECT_EQ(error_of({"--colour"}), "command line: unrecognised option '--colour'");
  EXPECT_EQ(error_of({"--batch_size", "4"}), "command line: unrecognised option '--batch_size'");
  EXPECT_EQ(error_of({"--train.epochs", "many"}),
            "command line: the argument ('many') for option '--train.epochs' is invalid");
}

TEST_F(CommandLineTest, NearestOptionWithinAThirdOfTheName) {
  EXPECT_EQ(nearest_option("train.epoch", options_), "train.epochs");
  EXPECT_EQ(nearest_option("trian.epochs", options_), "train.epochs");  // a swap is one edit
  EXPECT_EQ(nearest_option("epochs", options_), "train.epochs");        // the key after its section
  EXPECT_EQ(nearest_option("train.xxxxxx", options_), "");
  EXPECT_EQ(nearest_option(std::string(65, 'e'), options_), "");
}

}  // namespace
}  // namespace vit
