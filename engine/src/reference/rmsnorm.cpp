#include "reference/rmsnorm.hpp"

#include <cmath>
#include <stdexcept>

namespace retnet::reference {

namespace {

double swish(double z) { return z / (1.0 + std::exp(-z)); }

std::vector<float> normalise(const std::vector<float>& x, const std::vector<float>* gate,
                             const std::vector<float>& weight, float eps) {
  const size_t n = weight.size();
  if (n == 0 || x.size() % n != 0) throw std::invalid_argument("rmsnorm: row length does not divide the input");
  if (gate && gate->size() != x.size()) throw std::invalid_argument("rmsnorm_swish_gate: gate size differs");
  std::vector<float> y(x.size());
  for (size_t base = 0; base < x.size(); base += n) {
    double sum_sq = 0;
    for (size_t i = 0; i < n; ++i) sum_sq += double(x[base + i]) * x[base + i];
    const double scale = 1.0 / std::sqrt(sum_sq / double(n) + eps);
    for (size_t i = 0; i < n; ++i) {
      double v = x[base + i] * scale * weight[i];
      if (gate) v *= swish((*gate)[base + i]);
      y[base + i] = static_cast<float>(v);
    }
  }
  return y;
}

}  // namespace

std::vector<float> rmsnorm(const std::vector<float>& x, const std::vector<float>& weight, float eps) {
  return normalise(x, nullptr, weight, eps);
}

std::vector<float> rmsnorm_swish_gate(const std::vector<float>& o, const std::vector<float>& gate,
                                      const std::vector<float>& weight, float eps) {
  return normalise(o, &gate, weight, eps);
}

}  // namespace retnet::reference
