#pragma once
// A whole RetNet layer of a one-token decode step in one persistent dispatch
// (shaders/decode_layer.glsl): the five fused decode kernels of kernels/decode.hpp as phases
// of one grid, separated by grid-wide syncs instead of dispatch boundaries, so the weights of
// the next phase are already in flight while the grid waits. Same numbers as those five
// (tests/test_decode_layer.cpp checks it against the CPU references).
//
// The syncs need every workgroup resident at once, which Vulkan does not promise: it runs on
// one workgroup per compute unit where the driver says how many there are, and every wait is
// bounded. Sync word 0 tells the caller afterwards whether any layer timed out; the layer's
// outputs (h, the state) are then not to be trusted, and the step must be redone another way.
//
// No barrier is recorded between the layers of a step (their activations are written as
// parts): a layer with `layer` > 0 waits in the kernel until every workgroup of layer - 1 has
// finished. So a step's layers are recorded one after another, numbered 0, 1, ..., on the same
// workgroups, after the sync words were zeroed.
#include <cstdint>

#include "gpu/stream.hpp"

namespace retnet::kernels {

struct DecodeLayerShape {
  int64_t hidden = 0, heads = 0, head_k_dim = 0, head_v_dim = 0, intermediate = 0;
};

struct DecodeLayerWeights {
  const gpu::Tensor *attn_norm, *q_proj, *k_proj, *v_proj, *g_proj, *g_norm, *o_proj;  // fla's names
  const gpu::Tensor *mlp_norm, *gate_proj, *up_proj, *down_proj;
};

// f32 activations: h [hidden] (the residual stream, updated in place) and the layer's scratch
// q, k [heads * head_k_dim], v, g, o [heads * head_v_dim], ffn [intermediate].
struct DecodeLayerActivations {
  gpu::Tensor *h, *q, *k, *v, *g, *o, *ffn;
};

struct DecodeLayerLaunch {
  uint32_t workgroups = 0;   // at most the device's compute units (decode_layer_workgroups)
  uint32_t layer = 0;        // its arrival counter: sync word 1 + layer
  float eps = 0.0f;          // the norms' epsilon
  uint32_t sync_shortfall = 0;  // tests only: every sync waits for this many workgroups more, and times out
};

// The workgroups that are sure to be resident at once here: the device's compute units
// (RETNET_DECODE_WORKGROUPS overrides, for experiments); 0 where the count is unknown.
uint32_t decode_layer_workgroups(const Context& ctx);

// Whether decode_layer runs layers of this shape with weights of `weight_dtype` on
// `workgroups` workgroups here.
bool decode_layer_supported(const Context& ctx, const DecodeLayerShape& shape, gpu::DType weight_dtype,
                            uint32_t workgroups);

// Sync words (f32 tensor, used as bits) for a step of `layers` layers: zero them before the
// step's first layer. After the step word 0 is 1.0 where a layer timed out, else 0.
inline int64_t decode_layer_sync_words(int64_t layers) { return 1 + layers; }

// One layer: h += attention(h) then h += mlp(h), the state [1, heads, dk, dv] updated, at
// `positions` (i32 [1]).
void decode_layer(gpu::Stream& s, const DecodeLayerShape& shape, const DecodeLayerWeights& w,
                  const DecodeLayerActivations& a, const gpu::Tensor& positions, gpu::Tensor& state,
                  gpu::Tensor& sync, const DecodeLayerLaunch& launch);

}  // namespace retnet::kernels
