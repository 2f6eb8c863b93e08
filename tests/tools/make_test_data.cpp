// make-test-data DIR TRAIN TEST: writes a small synthetic MNIST-format data set for the
// end-to-end tests of the programs.
#include <cstdio>
#include <string>

#include "test_util.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make-test-data DIR TRAIN_COUNT TEST_COUNT\n");
    return 2;
  }
  try {
    vit::testing::write_synthetic_dataset(argv[1], std::stoll(argv[2]), std::stoll(argv[3]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
