#include "reference/rotary.hpp"

#include <cmath>
#include <stdexcept>

namespace retnet::reference {

namespace {

// Rotates every (i, i + d/2) pair by direction * a.
template <typename Real>
void rotate(std::vector<Real>& x, const std::vector<int32_t>& positions, int64_t heads, int64_t head_dim,
            double direction) {
  if (head_dim % 2 != 0) throw std::invalid_argument("rotary: head_dim must be even");
  const size_t rows = positions.size(), half = head_dim / 2;
  if (x.size() != rows * heads * head_dim) throw std::invalid_argument("rotary: x size does not match");
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < half; ++i) {
      const double angle = double(positions[r]) * std::pow(10000.0, -2.0 * double(i) / double(head_dim));
      const double c = std::cos(angle), s = direction * std::sin(angle);
      for (int64_t h = 0; h < heads; ++h) {
        Real* v = &x[(r * heads + h) * head_dim];
        const double a = v[i], b = v[i + half];
        v[i] = static_cast<Real>(a * c - b * s);
        v[i + half] = static_cast<Real>(b * c + a * s);
      }
    }
  }
}

}  // namespace

template <typename Real>
void rotary(std::vector<Real>& x, const std::vector<int32_t>& positions, int64_t heads, int64_t head_dim) {
  rotate(x, positions, heads, head_dim, 1.0);
}

template <typename Real>
void rotary_backward(std::vector<Real>& grad, const std::vector<int32_t>& positions, int64_t heads,
                     int64_t head_dim) {
  rotate(grad, positions, heads, head_dim, -1.0);
}

template void rotary(std::vector<float>&, const std::vector<int32_t>&, int64_t, int64_t);
template void rotary(std::vector<double>&, const std::vector<int32_t>&, int64_t, int64_t);
template void rotary_backward(std::vector<float>&, const std::vector<int32_t>&, int64_t, int64_t);
template void rotary_backward(std::vector<double>&, const std::vector<int32_t>&, int64_t, int64_t);

}  // namespace retnet::reference
