#pragma once
#include <cstdint>

namespace retnet::train {

// Linear warmup from 0 to peak over `warmup` steps, then cosine decay to min_ratio * peak at
// `total` steps (transformers' get_cosine_schedule_with_warmup with a floor). Steps count from 1.
double learning_rate(int64_t step, int64_t warmup, int64_t total, double peak, double min_ratio = 0.1);

}  // namespace retnet::train
