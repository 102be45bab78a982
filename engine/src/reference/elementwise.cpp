#include "reference/elementwise.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace retnet::reference {

template <typename Real>
void residual_add(std::vector<Real>& h, const std::vector<Real>& x) {
  if (h.size() != x.size()) throw std::invalid_argument("residual_add: sizes differ");
  for (size_t i = 0; i < h.size(); ++i) h[i] += x[i];
}

template void residual_add(std::vector<float>&, const std::vector<float>&);
template void residual_add(std::vector<double>&, const std::vector<double>&);

double swish(double z) { return z / (1.0 + std::exp(-z)); }

double swish_derivative(double z) {
  const double sigmoid = 1.0 / (1.0 + std::exp(-z));
  return sigmoid * (1.0 + z * (1.0 - sigmoid));
}

template <typename Real>
Real abs_max(const std::vector<Real>& v) {
  Real m = 0;
  for (Real e : v) m = std::max(m, std::abs(e));
  return m;
}
template float abs_max(const std::vector<float>&);
template double abs_max(const std::vector<double>&);

}  // namespace retnet::reference
