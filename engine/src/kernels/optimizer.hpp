#pragma once
// The optimizer on the GPU: the squared global gradient norm (for clipping) and AdamW.
#include <vector>

#include "gpu/stream.hpp"

namespace retnet::kernels {

// PyTorch's AdamW defaults, except weight_decay (transformers' Trainer default of 0.0 is
// for fine-tuning; the trainer sets its own).
struct AdamWSettings {
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = 0.0f;   // decoupled; callers pass 0 for norm weights
  float max_grad_norm = 1.0f;  // global-norm clipping; <= 0 turns it off
};

// Scratch for grad_norm_squared: partial sums of every tensor, then the total in `result`.
struct NormScratch {
  gpu::Tensor partials;  // f32 [capacity]
  gpu::Tensor result;    // f32 [1]: the squared global norm
};
NormScratch make_norm_scratch(Context& ctx, size_t tensor_count);

// result = sum over all tensors of sum(g^2), entirely on the GPU.
void grad_norm_squared(gpu::Stream& s, const std::vector<const gpu::Tensor*>& grads, NormScratch& scratch);

// What changes from one AdamW step to the next: the learning rate (a schedule's) and the bias
// corrections 1 - beta^step. The kernel reads them from a tensor (f32 [3], in this order), so
// a step recorded once can be replayed with new values written into it.
struct AdamWStepValues {
  float lr, bias_correction1, bias_correction2;
};
// The values of step `step` (counted from 1) with `settings`; throws on invalid settings.
AdamWStepValues adamw_step_values(const AdamWSettings& settings, int64_t step);

// One AdamW step of `param` (f32 master weights) with gradient `grad`, moments m and v (f32,
// same shape), gradient scaled by min(1, max_grad_norm / |g|) with |g|^2 read from
// `norm_squared` [1], lr and bias corrections read from `step_values` (adamw_step_values, f32
// [3]; settings.lr is not used). If `f16_copy` is given (f16, same shape, even size) it
// receives the updated weights for the forward pass.
void adamw_step(gpu::Stream& s, gpu::Tensor& param, const gpu::Tensor& grad, gpu::Tensor& m, gpu::Tensor& v,
                const gpu::Tensor& norm_squared, const gpu::Tensor& step_values, const AdamWSettings& settings,
                gpu::Tensor* f16_copy = nullptr);

}  // namespace retnet::kernels
