#include "kernels/cross_entropy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

void cross_entropy(gpu::Stream& s, gpu::Tensor& logits, const gpu::Tensor& targets, gpu::Tensor& losses, float scale,
                   bool write_gradient, const OutputMaxima* maxima) {
  const char* kernel = "cross_entropy";
  require_output_maxima(maxima, 1, kernel);
  if (maxima != nullptr && !write_gradient)
    throw Error(fmt::format("{}: the maximum of the gradient needs write_gradient", kernel));
  require_dtype(logits, gpu::DType::F32, kernel);
  require_dtype(targets, gpu::DType::I32, kernel);
  require_dtype(losses, gpu::DType::F32, kernel);
  require_rank(logits, 2, kernel);
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  require_shape(targets, {rows}, kernel);
  require_shape(losses, {rows}, kernel);
  require_u32_index(logits.numel(), "logits elements", kernel);
  if (!std::isfinite(scale)) throw Error(fmt::format("{}: scale {} is not finite", kernel, scale));
  if (rows == 0) return;
  if (vocab == 0) throw Error(fmt::format("{}: logits {} have no vocabulary", kernel, logits.describe()));
  struct {
    uint32_t vocab, rows;
    float scale;
    uint32_t write_gradient;
  } push{uint32_t(vocab), uint32_t(rows), scale, write_gradient ? 1u : 0u};
  const bool subgroups = s.context().active_paths().subgroups;
  s.dispatch(subgroups ? "cross_entropy_subgroup" : "cross_entropy",
             {gpu::out(logits), gpu::in(targets), gpu::out(losses), output_maxima_arg(maxima, logits)}, push,
             static_cast<uint32_t>(std::min<int64_t>(rows, gpu::kMaxGroupsPerDimension)), 1, 1,
             output_maxima_constants(maxima, 1, {vocab < 2048 ? 64u : 256u}));
}

}  // namespace retnet::kernels
