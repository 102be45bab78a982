#pragma once
// The softmax cross-entropy of the language-model head, fused with its gradient.
#include "gpu/stream.hpp"
#include "kernels/output_maxima.hpp"

namespace retnet::kernels {

// Per row of logits f32 [rows, V] with target i32 [rows] (a negative target is ignored: loss 0,
// zero gradient): losses f32 [rows] = logsumexp(row) - row[target]. With write_gradient the
// logits are overwritten by scale * (softmax(row) - onehot(target)), the gradient of
// scale * sum(losses), so the probabilities never take memory of their own.
// Targets must be < V (callers validate them on the host, where they come from). With `maxima`
// (kernels/output_maxima.hpp; write_gradient only), max |gradient| also goes to its slot.
void cross_entropy(gpu::Stream& s, gpu::Tensor& logits, const gpu::Tensor& targets, gpu::Tensor& losses, float scale,
                   bool write_gradient, const OutputMaxima* maxima = nullptr);

}  // namespace retnet::kernels
