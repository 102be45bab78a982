#include "train/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace retnet::train {

double learning_rate(int64_t step, int64_t warmup, int64_t total, double peak, double min_ratio) {
  if (warmup > 0 && step <= warmup) return peak * double(step) / double(warmup);
  if (total <= warmup) return peak;
  double progress = std::clamp(double(step - warmup) / double(total - warmup), 0.0, 1.0);
  const double pi = 3.14159265358979323846;
  return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + std::cos(pi * progress)));
}

}  // namespace retnet::train
