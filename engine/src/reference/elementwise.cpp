#include "reference/elementwise.hpp"

#include <cmath>
#include <stdexcept>

namespace retnet::reference {

void residual_add(std::vector<float>& h, const std::vector<float>& x) {
  if (h.size() != x.size()) throw std::invalid_argument("residual_add: sizes differ");
  for (size_t i = 0; i < h.size(); ++i) h[i] += x[i];
}

float swish(float z) { return static_cast<float>(z / (1.0 + std::exp(-static_cast<double>(z)))); }

}  // namespace retnet::reference
