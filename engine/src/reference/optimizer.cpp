#include "reference/optimizer.hpp"

#include <cmath>

namespace retnet::reference {

double clip_scale(const std::vector<std::vector<float>>& grads, double max_norm) {
  if (max_norm <= 0) return 1.0;
  double sq = 0;
  for (const auto& g : grads)
    for (float x : g) sq += double(x) * x;
  return std::min(1.0, max_norm / (std::sqrt(sq) + 1e-6));
}

void adamw_step(std::vector<float>& param, const std::vector<float>& grad, std::vector<float>& m,
                std::vector<float>& v, const kernels::AdamWSettings& o, int64_t step, double grad_scale) {
  const double bc1 = 1 - std::pow(double(o.beta1), double(step)), bc2 = 1 - std::pow(double(o.beta2), double(step));
  for (size_t i = 0; i < param.size(); ++i) {
    double g = grad[i] * grad_scale;
    double mi = o.beta1 * double(m[i]) + (1 - double(o.beta1)) * g;
    double vi = o.beta2 * double(v[i]) + (1 - double(o.beta2)) * g * g;
    double p = param[i] * (1 - double(o.lr) * o.weight_decay);
    p -= o.lr * (mi / bc1) / (std::sqrt(vi / bc2) + o.eps);
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    param[i] = static_cast<float>(p);
  }
}

}  // namespace retnet::reference
