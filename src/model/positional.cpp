#include "model/positional.h"

#include <cmath>

namespace vit {

torch::Tensor sincos_positions(int64_t sequence_length, int64_t d) {
  auto table = torch::empty({sequence_length, d}, torch::kFloat32);
  auto t = table.accessor<float, 2>();
  for (int64_t i = 0; i < sequence_length; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      // Computed in double, rounded once, so the table does not depend on evaluation order.
      const double even_j = static_cast<double>(j - j % 2);
      const double angle = static_cast<double>(i) / std::pow(10000.0, even_j / static_cast<double>(d));
      t[i][j] = static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
  return table;
}

}  // namespace vit
