#include "reference/rotary.hpp"

#include <cmath>
#include <stdexcept>

namespace retnet::reference {

void rotary(std::vector<float>& x, const std::vector<int32_t>& positions, int64_t heads, int64_t head_dim) {
  if (head_dim % 2 != 0) throw std::invalid_argument("rotary: head_dim must be even");
  const size_t rows = positions.size(), half = head_dim / 2;
  if (x.size() != rows * heads * head_dim) throw std::invalid_argument("rotary: x size does not match");
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < half; ++i) {
      const double angle = double(positions[r]) * std::pow(10000.0, -2.0 * double(i) / double(head_dim));
      const double c = std::cos(angle), s = std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        float* v = &x[(r * heads + h) * head_dim];
        const double a = v[i], b = v[i + half];
        v[i] = static_cast<float>(a * c - b * s);
        v[i + half] = static_cast<float>(b * c + a * s);
      }
    }
  }
}

}  // namespace retnet::reference
