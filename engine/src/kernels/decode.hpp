#pragma once
// Fused kernels of the one-token decode step. A decode step is bound by reading the weights
// (and the retention state) once, and on a fast GPU by the number of dispatches, so a layer
// runs as five dispatches instead of fifteen:
//   decode_matvec  (RMSNorm -> q, k, v, g projections)
//   retention_decode (rotary + state update + readout)
//   decode_matvec  (gated head norm -> o_proj, added into the residual)
//   decode_matvec_swiglu (RMSNorm -> gate, up -> swish(gate) * up)
//   decode_matvec  (down_proj, added into the residual)
// Each equals the composition of the unfused kernels (tests/test_decode.cpp checks them
// against the CPU references of those). The fused products need subgroup arithmetic and an
// input that fits in shared memory: decode_matvec_supported says whether they run here, and
// callers fall back to the unfused kernels where not. Where the device says how many compute
// units it has, Session::decode runs the five as phases of one persistent dispatch per layer
// instead (kernels/decode_layer.hpp).
#include <cstdint>
#include <initializer_list>

#include "gpu/stream.hpp"

namespace retnet::kernels {

// Elements of the 16-byte weight pieces the decode kernels read (decode_input.glsl's CHUNK).
inline int64_t decode_piece_elements(gpu::DType weight_dtype) { return weight_dtype == gpu::DType::F16 ? 8 : 4; }
// Norm groups (heads) their staged input holds at most (decode_input.glsl's MAX_GROUPS).
constexpr int64_t kDecodeMaxNormGroups = 64;

// The input of a fused product: x (f32, K elements), optionally normalised first.
//   norm_weight only:          RMSNorm(x) * norm_weight           (norm_weight [K])
//   norm_weight and gate:      per group of group_size elements (a head),
//                              RMSNorm(x_group) * norm_weight * swish(gate)  (norm_weight [group_size])
struct DecodeInput {
  const gpu::Tensor* x = nullptr;
  const gpu::Tensor* norm_weight = nullptr;
  const gpu::Tensor* gate = nullptr;
  int64_t group_size = 0;  // with gate: the head size
  float eps = 0.0f;
};

struct DecodeProduct {
  const gpu::Tensor* w;  // [N, K], f32 or f16
  gpu::Tensor* y;        // f32, N elements
};

// Whether decode_matvec can take inputs of K elements (norm groups of group_size, 0 for a
// single group; `normalised`: with a norm at all) with weights of `weight_dtype` on this device.
bool decode_matvec_supported(const Context& ctx, int64_t K, int64_t group_size, bool normalised,
                             gpu::DType weight_dtype);

// y_m (+)= W_m in for 1 to 4 products sharing the input; all weights of one dtype.
void decode_matvec(gpu::Stream& s, const DecodeInput& in, std::initializer_list<DecodeProduct> products,
                   bool accumulate);

// y = swish(W_gate in) * (W_up in): the gated MLP's first half.
void decode_matvec_swiglu(gpu::Stream& s, const DecodeInput& in, const gpu::Tensor& w_gate,
                          const gpu::Tensor& w_up, gpu::Tensor& y);

// Whether retention_decode handles heads of dk x dv on this device.
bool retention_decode_supported(const Context& ctx, int64_t dk, int64_t dv);

// One recurrent retention step (T = 1) with the rotary embedding of q and k fused in:
// q, k [N, 1, H, dk] (not yet rotated; left unchanged), v, o [N, 1, H, dv], positions i32 [N],
// state [N, H, dk, dv] updated in place. Equals rotary(q), rotary(k), retention_recurrent.
void retention_decode(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                      const gpu::Tensor& positions, gpu::Tensor& state, gpu::Tensor& o);

// Sequences per dispatch of retention_decode_states (the shader's array of state buffers): 16
// and the kernel's 5 other buffers fit lavapipe's 32 storage buffers a stage.
constexpr int64_t kStatesPerDispatch = 16;

// Whether retention_decode_states handles heads of dk x dv on this device: it indexes an array
// of storage buffers per workgroup (DeviceInfo::storage_buffer_arrays), and needs dv % 4 == 0.
bool retention_decode_states_supported(const Context& ctx, int64_t dk, int64_t dv);

// The same step with each sequence's own state: states[n] [1, H, dk, dv] is sequence n's. A
// batched decode updates each session's state where it is, instead of copying it into a batch
// and back, in one dispatch per kStatesPerDispatch sequences.
void retention_decode_states(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                             const gpu::Tensor& positions, const std::vector<gpu::Tensor*>& states, gpu::Tensor& o);

}  // namespace retnet::kernels
