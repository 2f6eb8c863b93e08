#include "train/startup_report.h"

#include <gtest/gtest.h>

#include <sstream>

namespace vit {
namespace {

StartupFacts two_ranks() {
  StartupFacts facts;
  facts.versions =
      "vit-train 0.1.0 (revision abc)\nLibTorch 1.13.1 (CPU)\nMPI Open MPI v4.1.4\n"
      "NCCL, CUDA: not built in\n";
  facts.world_size = 2;
  facts.ranks_per_node = 2;
  facts.ranks = {"node1, cpu, 1 thread(s)", "node1, cpu, 1 thread(s)"};
  facts.gradients = "mpi";
  facts.data_source = "synthetic";
  facts.train_images = 60000;
  facts.test_images = 10000;
  facts.image_shape = "1x28x28";
  facts.parameters = 1234567;
  facts.steps_per_epoch = 235;
  facts.global_batch = 256;
  return facts;
}

TEST(StartupTable, HoldsFactsAndEveryConfigKey) {
  TrainConfig config;
  config.run_dir = "runs/x";
  const std::string table = startup_table(config, two_ranks());
  for (const char* expected :
       {"| LibTorch ", "1.13.1 (CPU)", "| NCCL, CUDA ", "| not built in ", "| MPI ", "Open MPI v4.1.4", "2 rank(s) on 1 machine(s)",
        "| ranks per node ", "| rank 0 ", "| rank 1 ", "node1, cpu, 1 thread(s)", "60,000 of 1x28x28",
        "10,000", "1,234,567", "235 (global batch 256)", "(fresh start)", "runs/x"}) {
    EXPECT_NE(table.find(expected), std::string::npos) << expected << "\n" << table;
  }
  // Every key at its default, in its section's row: "| model defaults | n_patches=7, ...".
  for (const auto& [key, value] : config.entries()) {
    const std::string section = key.substr(0, key.find('.'));
    EXPECT_NE(table.find("| " + section + " defaults "), std::string::npos) << section;
    EXPECT_NE(table.find(key.substr(section.size() + 1) + "=" + value), std::string::npos) << key;
  }
}

TEST(StartupTable, SaysWhereEachValueCameFrom) {
  TrainConfig config;
  config.train.epochs = 2;
  config.origins["train.epochs"] = "command line";
  config.origins["train.batch_size"] = "file";
  const std::string table = startup_table(config, two_ranks());
  EXPECT_NE(table.find("| 2  (command line)"), std::string::npos) << table;
  EXPECT_NE(table.find("| 128  (file)"), std::string::npos) << table;
  EXPECT_NE(table.find("| train.epochs "), std::string::npos) << table;
  EXPECT_EQ(table.find("| model.hidden_d "), std::string::npos) << table;  // a default: ...
  EXPECT_NE(table.find("hidden_d=8"), std::string::npos) << table;          // ... in its section's row
  EXPECT_EQ(table.find("(default)"), std::string::npos) << table;
}

TEST(StartupTable, RowsHaveOneWidth) {
  TrainConfig config;
  std::istringstream lines(startup_table(config, two_ranks()));
  std::string line;
  size_t width = 0, count = 0;
  while (std::getline(lines, line)) {
    if (width == 0) width = line.size();
    EXPECT_EQ(line.size(), width) << line;
    ++count;
  }
  // The facts and the config's sections: an empty table would pass the loop above. Long values
  // (the keys at their defaults) go on over rows: the table fits about 100 columns.
  EXPECT_GT(count, 20u);
  EXPECT_GT(width, 40u);
  EXPECT_LE(width, 105u);
}

TEST(StartupTable, LongValuesGoOnOverRowsBrokenBetweenWords) {
  StartupFacts facts = two_ranks();
  facts.data_source = std::string(60, 'a') + " " + std::string(30, 'b') + " end";
  const std::string table = startup_table(TrainConfig{}, facts);
  EXPECT_NE(table.find("| data source "), std::string::npos) << table;
  EXPECT_NE(table.find(std::string(60, 'a') + " "), std::string::npos) << table;
  EXPECT_NE(table.find("   | " + std::string(30, 'b') + " end "), std::string::npos) << table;
}

TEST(StartupTable, ManyRanksAreSummarised) {
  StartupFacts facts = two_ranks();
  facts.world_size = 100;
  facts.ranks.assign(100, "n, cuda:0, 4 thread(s)");
  const std::string table = startup_table(TrainConfig{}, facts);
  EXPECT_NE(table.find("| rank 31 "), std::string::npos);
  EXPECT_EQ(table.find("| rank 32 "), std::string::npos);
  EXPECT_NE(table.find("68 more"), std::string::npos);
}

TEST(WithThousands, GroupsDigits) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1000), "1,000");
  EXPECT_EQ(with_thousands(-1234567), "-1,234,567");
}

TEST(WithSiPrefix, ThreeSignificantDigits) {
  EXPECT_EQ(with_si_prefix(0), "0");
  EXPECT_EQ(with_si_prefix(5), "5.00");
  EXPECT_EQ(with_si_prefix(326'304), "326 k");
  EXPECT_EQ(with_si_prefix(978'912), "979 k");
  EXPECT_EQ(with_si_prefix(999'600), "1.00 M");
  EXPECT_EQ(with_si_prefix(33'441'792), "33.4 M");
  EXPECT_EQ(with_si_prefix(1.2e9), "1.20 G");
}

}  // namespace
}  // namespace vit
