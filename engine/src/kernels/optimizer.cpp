#include "kernels/optimizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checks.hpp"
#include "kernels/elementwise.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {
// Workgroups per tensor: one per 16 vec4s per thread, at most 256, so that the largest tensors
// (the embeddings) spread over the whole GPU while reduce_sum's single workgroup still sums
// every partial quickly.
constexpr int64_t kMaxPartialsPerTensor = 256;
uint32_t norm_groups(int64_t n) { return std::clamp<uint32_t>(gpu::div_up(n, 256 * 4 * 16), 1, kMaxPartialsPerTensor); }
}  // namespace

NormScratch make_norm_scratch(Context& ctx, size_t tensor_count) {
  int64_t capacity = std::max<int64_t>(1, static_cast<int64_t>(tensor_count) * kMaxPartialsPerTensor);
  return {gpu::Tensor(ctx, {capacity}, gpu::DType::F32, "grad norm partials"),
          gpu::Tensor(ctx, {1}, gpu::DType::F32, "grad norm squared")};
}

void grad_norm_squared(gpu::Stream& s, const std::vector<const gpu::Tensor*>& grads, NormScratch& scratch) {
  const char* name = "grad_norm_squared";
  uint32_t offset = 0;
  for (const gpu::Tensor* g : grads) {
    require_dtype(*g, gpu::DType::F32, name);
    require_u32_index(g->numel(), "gradient elements", name);
    if (g->numel() == 0) continue;
    uint32_t groups = norm_groups(g->numel());
    if (offset + groups > scratch.partials.capacity())
      throw Error(fmt::format("{}: scratch made for fewer tensors than given ({})", name, grads.size()));
    struct { uint32_t n, offset; } push{static_cast<uint32_t>(g->numel()), offset};
    // Each tensor its own slots: the dispatches need no barriers between them.
    s.dispatch("sum_squares", {gpu::in(*g), gpu::out_part(scratch.partials)}, push, groups);
    offset += groups;
  }
  if (offset == 0) {
    s.fill_zero(scratch.result);
    return;
  }
  struct { uint32_t n; } push{offset};
  s.dispatch("reduce_sum", {gpu::in(scratch.partials), gpu::out(scratch.result)}, push, 1);
}

namespace {
void check_settings(const AdamWSettings& o, const char* name) {
  if (!(o.lr >= 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps > 0) ||
      !(o.weight_decay >= 0))
    throw Error(fmt::format("{}: invalid settings (lr {}, betas {} {}, eps {}, weight decay {})", name, o.lr, o.beta1,
                            o.beta2, o.eps, o.weight_decay));
}
}  // namespace

AdamWStepValues adamw_step_values(const AdamWSettings& o, int64_t step) {
  const char* name = "adamw_step_values";
  if (step < 1) throw Error(fmt::format("{}: step must count from 1, got {}", name, step));
  check_settings(o, name);
  return {o.lr, static_cast<float>(1.0 - std::pow(double(o.beta1), double(step))),
          static_cast<float>(1.0 - std::pow(double(o.beta2), double(step)))};
}

void adamw_step(gpu::Stream& s, gpu::Tensor& param, const gpu::Tensor& grad, gpu::Tensor& m, gpu::Tensor& v,
                const gpu::Tensor& norm_squared, const gpu::Tensor& step_values, const AdamWSettings& o,
                gpu::Tensor* f16_copy) {
  const char* name = "adamw_step";
  for (const gpu::Tensor* t : std::initializer_list<const gpu::Tensor*>{&param, &grad, &m, &v, &norm_squared, &step_values})
    require_dtype(*t, gpu::DType::F32, name);
  for (const gpu::Tensor* t : std::initializer_list<const gpu::Tensor*>{&grad, &m, &v}) require_shape(*t, param.shape(), name);
  require_shape(step_values, {3}, name);
  require_u32_index(param.numel(), "parameter elements", name);
  check_settings(o, name);
  struct {
    uint32_t n;
    float beta1, beta2, eps, weight_decay, max_grad_norm;
  } push{static_cast<uint32_t>(param.numel()), o.beta1, o.beta2, o.eps, o.weight_decay, o.max_grad_norm};
  const uint32_t groups = grid_stride_groups(param.numel());
  if (f16_copy) {
    require_dtype(*f16_copy, gpu::DType::F16, name);
    require_shape(*f16_copy, param.shape(), name);
    if (param.numel() % 2) throw Error(fmt::format("{}: an f16 copy needs an even size, {} has not", name, param.describe()));
    s.dispatch("adamw_f16",
               {gpu::out(param), gpu::in(grad), gpu::out(m), gpu::out(v), gpu::in(norm_squared), gpu::in(step_values),
                gpu::out(*f16_copy)},
               push, groups);
  } else {
    s.dispatch("adamw",
               {gpu::out(param), gpu::in(grad), gpu::out(m), gpu::out(v), gpu::in(norm_squared), gpu::in(step_values)},
               push, groups);
  }
}

}  // namespace retnet::kernels
