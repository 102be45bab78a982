// Body of cross_entropy*.comp: the softmax cross-entropy of each row of V logits, fused with
// its gradient so the probabilities are never stored:
//   loss[row] = logsumexp(logits[row]) - logits[row, target]
//   logits[row, i] <- scale * (softmax(logits[row])_i - [i == target])   (when pc.write_gradient != 0)
// A row whose target is negative (ignored, like PyTorch's ignore_index) gets loss 0 and a zero
// gradient. One workgroup per row (grid-stride); the max and the sum of exponentials come
// from one pass (online softmax: each thread rescales its running sum when its max grows).
layout(constant_id = 0) const uint WG_SIZE = 256;
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) buffer Logits { float logits[]; };
layout(std430, set = 0, binding = 1) readonly buffer Targets { int targets[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Losses { float losses[]; };
layout(push_constant) uniform Push {
  uint vocab;
  uint rows;
  float scale;
  uint write_gradient;
} pc;

#include "workgroup_sum.glsl"
#define OUTPUT_MAXIMA_BINDING 3
#define OUTPUT_MAXIMA_CONSTANT 1
#include "output_maxima.glsl"  // output 0: the gradient (with pc.write_gradient)

void main() {
  const uint lid = gl_LocalInvocationID.x;
  for (uint row = gl_WorkGroupID.x; row < pc.rows; row += gl_NumWorkGroups.x) {
    const uint base = row * pc.vocab;
    const int target = targets[row];
    float running_max = -3.402823466e38, running_sum = 0.0;
    for (uint i = lid; i < pc.vocab; i += WG_SIZE) {
      const float z = logits[base + i];
      if (z > running_max) {
        running_sum = running_sum * exp(running_max - z) + 1.0;
        running_max = z;
      } else {
        running_sum += exp(z - running_max);
      }
    }
    const float row_max = workgroup_max(running_max);
    const float log_sum = row_max + log(workgroup_sum(running_sum * exp(running_max - row_max)));
    if (lid == 0) losses[row] = target < 0 ? 0.0 : log_sum - logits[base + uint(target)];
    // Every thread has read what it needs (the reductions end with barriers); lid 0's read of
    // the target logit must also come before the gradient overwrites it.
    barrier();
    if (pc.write_gradient != 0) {
      for (uint i = lid; i < pc.vocab; i += WG_SIZE) {
        const float p = exp(logits[base + i] - log_sum);
        const float g = target < 0 ? 0.0 : pc.scale * (p - (int(i) == target ? 1.0 : 0.0));
        logits[base + i] = g;
        note_output(0, g);
      }
    }
  }
  publish_output_maxima();
}
