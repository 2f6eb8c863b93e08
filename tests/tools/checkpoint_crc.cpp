// checkpoint-crc FILE: prints the CRC-32 of the model parameters stored in a checkpoint, so that
// the end-to-end tests can compare the parameters of two runs exactly.
#include <torch/torch.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: checkpoint-crc FILE\n");
    return 2;
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(argv[1]);
    c10::IValue crc, step;
    archive.read("model_crc", crc);
    archive.read("step", step);
    std::printf("step %lld crc %lld\n", static_cast<long long>(step.toInt()),
                static_cast<long long>(crc.toInt()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s: cannot read\n", argv[1]);
    return 1;
  }
  return 0;
}
