#include "kernels/retention_backward.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

constexpr const char* kKernel = "retention_chunkwise_backward";
constexpr uint32_t kTileRows = 16;  // TR in retention_backward_chunk.comp

struct StatesPush {
  uint32_t t, h, dk, dv, chunk, chunks;
  float scale;
};

struct ChunkPush {
  uint32_t t, h, da, dy, chunk, chunks, tiles;
  float scale;
};

}  // namespace

void RetentionBackwardScratch::ensure(Context& ctx, int64_t sequences_x_heads, int64_t chunks, int64_t dk,
                                      int64_t dv) {
  const std::vector<int64_t> shape{sequences_x_heads, chunks, dk, dv};
  const int64_t needed = sequences_x_heads * chunks * dk * dv;
  for (gpu::Tensor* t : {&forward_states, &reverse_states}) {
    if (t->empty() || t->capacity() < needed) {
      *t = gpu::Tensor(ctx, shape, gpu::DType::F32,
                       t == &forward_states ? "retention backward forward states" : "retention backward reverse states");
    } else {
      t->reshape(shape);
    }
  }
}

void retention_chunkwise_backward(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                                  const gpu::Tensor& d_o, gpu::Tensor& dq, gpu::Tensor& dk, gpu::Tensor& dv,
                                  int64_t chunk_size, RetentionBackwardScratch& scratch) {
  for (const gpu::Tensor* t : {&q, &k, &v, &d_o, static_cast<const gpu::Tensor*>(&dq),
                               static_cast<const gpu::Tensor*>(&dk), static_cast<const gpu::Tensor*>(&dv)}) {
    require_dtype(*t, gpu::DType::F32, kKernel);
    require_rank(*t, 4, kKernel);
  }
  const int64_t N = q.dim(0), T = q.dim(1), H = q.dim(2), DK = q.dim(3), DV = v.dim(3);
  if (DK < 1 || DV < 1)
    throw Error(fmt::format("{}: head dimensions of {} and {} must be positive", kKernel, q.describe(), v.describe()));
  require_shape(k, {N, T, H, DK}, kKernel);
  require_shape(dq, {N, T, H, DK}, kKernel);
  require_shape(dk, {N, T, H, DK}, kKernel);
  require_shape(v, {N, T, H, DV}, kKernel);
  require_shape(d_o, {N, T, H, DV}, kKernel);
  require_shape(dv, {N, T, H, DV}, kKernel);
  if (chunk_size < 1) throw Error(fmt::format("{}: chunk size {} must be positive", kKernel, chunk_size));
  if (N * T * H == 0) return;
  require_u32_index(q.numel(), "q elements", kKernel);
  require_u32_index(v.numel(), "v elements", kKernel);
  if (N * H > gpu::kMaxGroupsPerDimension)
    throw Error(fmt::format("{}: more than {} sequences x heads", kKernel, gpu::kMaxGroupsPerDimension));

  const int64_t chunk = std::min(chunk_size, T);
  const int64_t chunks = (T + chunk - 1) / chunk;
  const int64_t tiles = (chunk + kTileRows - 1) / kTileRows;
  if (chunks * tiles > gpu::kMaxGroupsPerDimension) throw Error(fmt::format("{}: T = {} has too many chunks for one call", kKernel, T));
  require_u32_index(N * H * chunks * DK * DV, "state elements", kKernel);
  if (gpu::div_up(DK * DV, 64) > gpu::kMaxGroupsPerDimension) throw Error(fmt::format("{}: dk x dv = {} is too large", kKernel, DK * DV));
  scratch.ensure(s.context(), N * H, chunks, DK, DV);

  const float scale = static_cast<float>(1.0 / std::sqrt(double(DK)));
  const uint32_t nh = static_cast<uint32_t>(N * H);
  const StatesPush sp{uint32_t(T), uint32_t(H), uint32_t(DK), uint32_t(DV), uint32_t(chunk), uint32_t(chunks), scale};
  s.dispatch("retention_backward_states",
             {gpu::out(scratch.forward_states), gpu::out(scratch.reverse_states), gpu::in(q), gpu::in(k), gpu::in(v),
              gpu::in(d_o)},
             sp, gpu::div_up(DK * DV, 64), nh, 2);

  // mode, output, A, B, Y, state, contracted width, output width
  auto pass = [&](uint32_t mode, gpu::Tensor& out, const gpu::Tensor& a, const gpu::Tensor& b, const gpu::Tensor& y,
                  const gpu::Tensor& state, int64_t da, int64_t dy) {
    const uint32_t tx = dy <= 16 ? 16 : dy <= 32 ? 32 : 64;
    const ChunkPush cp{uint32_t(T),     uint32_t(H),      uint32_t(da),    uint32_t(dy),
                       uint32_t(chunk), uint32_t(chunks), uint32_t(tiles), scale};
    s.dispatch("retention_backward_chunk", {gpu::out(out), gpu::in(a), gpu::in(b), gpu::in(y), gpu::in(state)}, cp,
               gpu::div_up(dy, tx), static_cast<uint32_t>(chunks * tiles), nh, {mode, tx});
  };
  pass(0, dq, d_o, v, k, scratch.forward_states, DV, DK);
  pass(1, dk, v, d_o, q, scratch.reverse_states, DV, DK);
  pass(2, dv, k, q, d_o, scratch.reverse_states, DK, DV);
}

}  // namespace retnet::kernels
