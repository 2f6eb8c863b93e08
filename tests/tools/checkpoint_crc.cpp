// checkpoint-crc FILE: prints the step and the CRC-32 of the model parameters stored in a
// checkpoint, so that the end-to-end tests can compare the parameters of two runs exactly.
#include <cstdio>
#include <exception>

#include "store/tensor_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: checkpoint-crc FILE\n");
    return 2;
  }
  try {
    const vit::TensorFile file = vit::TensorFile::load(argv[1]);
    std::printf("step %lld crc %lld\n", static_cast<long long>(file.get_int("step")),
                static_cast<long long>(file.get_int("model_crc")));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
