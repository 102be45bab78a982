// One AdamW step (PyTorch's torch.optim.AdamW): decoupled weight decay, bias-corrected
// moments, and the global-norm clipping factor computed on the GPU from the squared norm,
// so a training step needs no host round trip. What changes from step to step (the learning
// rate and the bias corrections) is read from a buffer, not push constants, so that a step
// recorded once can be replayed with new values.
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) buffer Param { float param[]; };
layout(std430, set = 0, binding = 1) readonly buffer Grad { float grad[]; };
layout(std430, set = 0, binding = 2) buffer M { float m[]; };
layout(std430, set = 0, binding = 3) buffer V { float v[]; };
layout(std430, set = 0, binding = 4) readonly buffer NormSq { float norm_sq[]; };
// lr, then the bias corrections 1 - beta1^step and 1 - beta2^step.
layout(std430, set = 0, binding = 5) readonly buffer StepValues { float lr, bias_correction1, bias_correction2; } sv;
#ifdef WRITE_F16
// The f16 copy the forward pass reads: pairs of halves per 32-bit word (n is even).
layout(std430, set = 0, binding = 6) writeonly buffer Shadow { uint shadow[]; };
#endif
layout(push_constant) uniform Push {
  uint n;
  float beta1, beta2, eps, weight_decay;
  float max_grad_norm;  // <= 0: no clipping
} pc;

float update(uint i, float scale) {
  float g = grad[i] * scale;
  float mi = pc.beta1 * m[i] + (1.0 - pc.beta1) * g;
  float vi = pc.beta2 * v[i] + (1.0 - pc.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  float p = param[i] * (1.0 - sv.lr * pc.weight_decay);
  float denom = sqrt(vi / sv.bias_correction2) + pc.eps;
  p -= sv.lr * (mi / sv.bias_correction1) / denom;
  param[i] = p;
  return p;
}

void main() {
  float scale = 1.0;
  if (pc.max_grad_norm > 0.0) scale = min(1.0, pc.max_grad_norm / (sqrt(norm_sq[0]) + 1e-6));
  const uint stride = gl_NumWorkGroups.x * 256u;
#ifdef WRITE_F16
  for (uint w = gl_GlobalInvocationID.x; 2u * w < pc.n; w += stride) {
    float a = update(2u * w, scale), b = update(2u * w + 1u, scale);
    shadow[w] = packHalf2x16(vec2(a, b));
  }
#else
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) update(i, scale);
#endif
}
