#include "kernels/rotary.hpp"

#include <fmt/format.h>

#include <cmath>

#include "kernels/checks.hpp"
#include "kernels/elementwise.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kRatioPowers = 10;  // the shader builds 10000^(-2i/d) from these: i < 2^10

// v as an unevaluated sum of two floats (about 48 significant bits).
void split_double(double v, float out[2]) {
  out[0] = static_cast<float>(v);
  out[1] = static_cast<float>(v - out[0]);
}

struct Push {
  uint32_t pairs;
  uint32_t half_dim;
  uint32_t heads;
  uint32_t row_stride;
  RotaryConstants angles;
  float direction;  // 1 forward, -1 backward
};
static_assert(sizeof(Push) == 108, "matches the shader's push-constant layout");

void rotate(gpu::Stream& s, gpu::Tensor& x, const gpu::Tensor& positions, float direction, const OutputMaxima* maxima,
            const char* kernel) {
  require_output_maxima(maxima, 1, kernel);
  require_dtype(x, gpu::DType::F32, kernel);
  require_dtype(positions, gpu::DType::I32, kernel);
  require_rank(x, 3, kernel);
  const int64_t rows = x.dim(0), heads = x.dim(1), d = x.dim(2);
  require_shape(positions, {rows}, kernel);
  require_rotary_dim(d, x.describe(), kernel);
  require_u32_index(x.numel(), "x elements", kernel);
  if (x.numel() == 0) return;

  Push push{};
  push.pairs = static_cast<uint32_t>(rows * (d / 2));
  push.half_dim = static_cast<uint32_t>(d / 2);
  push.heads = static_cast<uint32_t>(heads);
  push.row_stride = static_cast<uint32_t>(heads * d);
  push.angles = rotary_constants(d);
  push.direction = direction;
  s.dispatch("rotary", {gpu::out(x), gpu::in(positions), output_maxima_arg(maxima, x)}, push,
             grid_stride_groups(push.pairs), 1, 1, output_maxima_constants(maxima, 1));
}

}  // namespace

RotaryConstants rotary_constants(int64_t d) {
  RotaryConstants c{};
  split_double(1.0 / (2.0 * kPi), c.turns_per_radian);
  for (int k = 0; k < kRatioPowers; ++k)
    split_double(std::pow(10000.0, -2.0 * double(int64_t(1) << k) / double(d)), c.ratio_powers[k]);
  return c;
}

void require_rotary_dim(int64_t d, const std::string& what, const char* kernel) {
  if (d % 2 != 0) throw Error(fmt::format("{}: head dimension of {} must be even", kernel, what));
  if (d > 2 * (int64_t(1) << kRatioPowers))
    throw Error(fmt::format("{}: head dimension of {} exceeds {}", kernel, what, 2 << kRatioPowers));
}

void rotary(gpu::Stream& s, gpu::Tensor& x, const gpu::Tensor& positions, const OutputMaxima* maxima) {
  rotate(s, x, positions, 1.0f, maxima, "rotary");
}

void rotary_backward(gpu::Stream& s, gpu::Tensor& grad, const gpu::Tensor& positions, const OutputMaxima* maxima) {
  rotate(s, grad, positions, -1.0f, maxima, "rotary_backward");
}

}  // namespace retnet::kernels
