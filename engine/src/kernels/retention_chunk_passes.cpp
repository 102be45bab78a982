#include "kernels/retention_chunk_passes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/elementwise.hpp"
#include "kernels/output_maxima.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

// The thread shape of retention_tile.glsl (TX x TY threads, RM rows each; BM = TY * RM rows
// by BN = 4 * TX columns). retention_chunk_states walks the chunks in order, one workgroup per
// tile per sequence x head, so the tiles are small enough for many workgroups: at most 32 x 64
// (16 x 8 threads, 4 rows each; 64 x 64 tiles measured 11.0 against 8.2 ms of the small
// config's training step on the H100). Narrower matrices get smaller tiles so that padding is
// not most of the work: the rows give up thread rows, the columns thread columns.
struct TileShape {
  uint32_t tx, ty, rm;
  uint32_t rows() const { return ty * rm; }
  uint32_t cols() const { return 4 * tx; }
};

TileShape fit_tile(int64_t rows, int64_t cols) {
  TileShape t{16, 8, 4};
  while (t.ty > 1 && t.rows() / 2 >= rows) t.ty /= 2;
  while (t.tx > 1 && t.cols() / 2 >= cols) t.tx /= 2;
  return t;
}

// retention_chunk_rows: 16 x TY threads, 8 TY rows x 16 RN columns per workgroup, 64 positions
// per weight block, slices of 16 contracted elements; shared memory (vec4s): weights 8 TY x 17,
// left 8 TY x 5, right max(16 RN, 64) x 5.
constexpr uint32_t kMaxColumnsPerThread = 8;
uint64_t chunk_rows_shared_bytes(uint32_t ty, uint32_t rn) {
  return 16ull * (8 * ty * 17 + (8 * ty + std::max(16u * rn, 64u)) * 5);
}

struct ChunkRowsShape {
  uint32_t ty, rn;
  int64_t col_tiles;
};

// Column tiles of at most 8 columns per thread (fewer where the device's shared memory needs
// it), spread evenly over the width; 8 thread rows, or 4 on devices with under 28 KiB.
ChunkRowsShape chunk_rows_shape(const Context& ctx, int64_t dy) {
  const uint64_t limit = ctx.device().shared_memory_bytes;
  for (uint32_t ty : {8u, 4u}) {
    int64_t tiles = gpu::div_up(dy, 16 * int64_t(kMaxColumnsPerThread));
    uint32_t rn = uint32_t(gpu::div_up(dy, 16 * tiles));
    while (rn > 1 && chunk_rows_shared_bytes(ty, rn) > limit) rn = uint32_t(gpu::div_up(dy, 16 * ++tiles));
    if (chunk_rows_shared_bytes(ty, rn) <= limit) return {ty, rn, gpu::div_up(dy, 16 * int64_t(rn))};
  }
  throw Error(fmt::format("retention: the chunkwise kernels need {} KiB of shared memory; this device has {} KiB",
                          chunk_rows_shared_bytes(4, 1) / 1024, limit / 1024));
}

}  // namespace

int64_t chunk_row_tiles(const Context& ctx, int64_t chunk, int64_t dy) {
  const int64_t rows = 8 * chunk_rows_shape(ctx, dy).ty;
  return (chunk + rows - 1) / rows;
}

bool chunk_states_on_tensor_cores(const Context& ctx, int64_t chunk, int64_t dk, int64_t dv) {
  const auto& dev = ctx.device();
  // Shared memory: two 64 x 72 f16 tiles at most.
  constexpr uint64_t shared_bytes = 2 * 64 * 72 * 2 + 4;
  return ctx.active_paths().coopmat && dev.cooperative_matrix_n == 16 && dev.subgroup_size == 32 && chunk == 64 &&
         dk % 32 == 0 && dv % 32 == 0 && shared_bytes <= dev.shared_memory_bytes;
}

namespace {

// The shader's STORE_F16, specialization constant 7 (after output_maxima.glsl's 5 and 6).
std::vector<uint32_t> with_store_f16(std::vector<uint32_t> constants, bool store_f16) {
  constants.push_back(store_f16 ? 1u : 0u);
  return constants;
}

// retention_chunk_states_coopmat: tiles of 64 rows (4 subgroups) and 64 columns where the
// state's sides allow, else 32 (2 subgroups; 32 columns). For the small config's 96 x 192
// states, 32 x 64 tiles took 4.07 ms of its training step on the H100, 32 x 32 ones 4.90.
void dispatch_chunk_states_on_tensor_cores(gpu::Stream& s, const gpu::Tensor& a, const gpu::Tensor& b,
                                           gpu::Tensor& states, gpu::Tensor* state, const RetentionDims& d,
                                           int64_t chunk, const ChunkPass& p, bool reverse, float scale,
                                           gpu::Tensor* maxima, uint32_t max_slot, const ChunkStatesF16& f16) {
  if (!chunk_states_on_tensor_cores(s.context(), chunk, d.dk, d.dv))
    throw Error(fmt::format("retention: states of {} x {} in chunks of {} cannot run on tensor cores here", d.dk,
                            d.dv, chunk));
  if (f16.scaled && maxima == nullptr) throw Error("retention: scaled tensor-core states need the maxima");
  const gpu::DType stored = f16.store_f16 ? gpu::DType::F16 : gpu::DType::F32;
  if (states.dtype() != stored)
    throw Error(fmt::format("retention: the chunk states scratch is {}, not {}", states.describe(),
                            gpu::dtype_name(stored)));
  const uint32_t rows = d.dk % 64 == 0 ? 64 : 32, cols = d.dv % 64 == 0 ? 64 : 32;
  const int64_t tiles = (d.dk / rows) * (d.dv / cols);
  if (tiles > gpu::kMaxGroupsPerDimension)
    throw Error(fmt::format("retention: the state of {} x {} is too large", d.dk, d.dv));
  const struct {
    uint32_t t, h, dk, dv, first_chunk, chunks, first_nh;
    float scale;
    uint32_t slots;
  } push{uint32_t(d.t), uint32_t(d.h), uint32_t(d.dk),  uint32_t(d.dv),
         p.first_chunk, p.count,       p.first_nh,      scale,
         f16.a_slot | f16.b_slot << 8};
  // Only the slot of the states' maximum is written (atomically): other states, or reductions
  // into other slots, may run beside. The slots of a and b it reads were made visible by the
  // caller (see the header). Without a state or maxima their bindings are never touched: the
  // scratch stands in for them.
  const OutputMaxima states_maximum{maxima, max_slot};
  const OutputMaxima* folded = maxima ? &states_maximum : nullptr;
  s.dispatch("retention_chunk_states_coopmat",
             {gpu::out(states), gpu::out(state ? *state : states), gpu::in(a), gpu::in(b),
              output_maxima_arg(folded, states)},
             push, uint32_t(tiles), 1, p.heads,
             with_store_f16(output_maxima_constants(
                                folded, 1, {2 * rows, cols, reverse ? 1u : 0u, state ? 0u : 1u, f16.scaled ? 1u : 0u}),
                            f16.store_f16));
}

}  // namespace

void dispatch_chunk_states(gpu::Stream& s, const gpu::Tensor& a, const gpu::Tensor& b, gpu::Tensor& states,
                           gpu::Tensor* state, const RetentionDims& d, int64_t chunk, const ChunkPass& p, bool reverse,
                           float scale, gpu::Tensor* maxima, uint32_t max_slot, const ChunkStatesF16* f16) {
  if (f16 != nullptr) {
    dispatch_chunk_states_on_tensor_cores(s, a, b, states, state, d, chunk, p, reverse, scale, maxima, max_slot, *f16);
    return;
  }
  // The states' maximum serves only the tensor-core rows, which run where the tensor-core
  // states do (chunk_rows_on_tensor_cores implies chunk_states_on_tensor_cores).
  if (maxima != nullptr) throw Error("retention: only the tensor-core states kernel finds the states' maximum");
  const TileShape tile = fit_tile(d.dk, d.dv);  // rows: state rows (dk)
  const int64_t row_tiles = gpu::div_up(d.dk, tile.rows()), col_tiles = gpu::div_up(d.dv, tile.cols());
  if (row_tiles * col_tiles > gpu::kMaxGroupsPerDimension)
    throw Error(fmt::format("retention: the state of {} x {} is too large", d.dk, d.dv));
  const struct {
    uint32_t t, h, dk, dv, chunk, first_chunk, chunks, col_tiles, first_nh;
    float scale;
  } push{uint32_t(d.t),       uint32_t(d.h), uint32_t(d.dk), uint32_t(d.dv), uint32_t(chunk), p.first_chunk,
         p.count, uint32_t(col_tiles), p.first_nh,   scale};
  // Without a state its binding is never touched: the scratch stands in for it.
  s.dispatch("retention_chunk_states", {gpu::out(states), gpu::out(state ? *state : states), gpu::in(a), gpu::in(b)},
             push, uint32_t(row_tiles * col_tiles), p.heads, 1,
             {tile.tx, tile.ty, tile.rm, reverse ? 1u : 0u, state ? 0u : 1u});
}

bool chunk_rows_on_tensor_cores(const Context& ctx, int64_t chunk, int64_t da, int64_t dy) {
  const auto& dev = ctx.device();
  // Shared memory: three 64 x 40 f16 tiles, and per subgroup 16 x 64 f32 weights and 16 x 72
  // f16 decayed weights.
  constexpr uint64_t shared_bytes = 3 * 64 * 40 * 2 + 4 * 16 * 64 * 4 + 4 * 16 * 72 * 2;
  // The states these rows read come from the tensor-core states kernel, the only one that
  // finds their maximum for the rows' scaling.
  return ctx.active_paths().coopmat && dev.cooperative_matrix_n == 16 && dev.subgroup_size == 32 &&
         dev.subgroup_arithmetic && chunk == 64 && da % 32 == 0 && dy % 32 == 0 &&
         shared_bytes <= dev.shared_memory_bytes && chunk_states_on_tensor_cores(ctx, chunk, da, dy);
}

void dispatch_chunk_rows(gpu::Stream& s, ChunkRows what, gpu::Tensor& out, const gpu::Tensor& a,
                         const gpu::Tensor& b, const gpu::Tensor& y, const gpu::Tensor& st, int64_t da, int64_t dy,
                         const RetentionDims& d, int64_t chunk, const ChunkPass& p, const ChunkRowsMaxima* f16) {
  if (f16 != nullptr) {
    if (!chunk_rows_on_tensor_cores(s.context(), chunk, da, dy))
      throw Error(fmt::format("retention: chunks of {} contracting {} into {} columns cannot run on tensor cores here",
                              chunk, da, dy));
    if (p.count > gpu::kMaxGroupsPerDimension)
      throw Error(fmt::format("retention: {} chunks are too many for one dispatch", p.count));
    const struct {
      uint32_t t, h, da, dy, chunks, first_chunk, group_chunks, first_nh, slots;
      float scale;
    } push{uint32_t(d.t),
           uint32_t(d.h),
           uint32_t(da),
           uint32_t(dy),
           uint32_t(gpu::div_up(d.t, chunk)),
           p.first_chunk,
           p.count,
           p.first_nh,
           f16->a | f16->b << 8 | f16->y << 16 | f16->st << 24,
           static_cast<float>(1.0 / std::sqrt(double(d.dk)))};
    s.dispatch("retention_chunk_rows_coopmat",
               {gpu::out(out), gpu::in(a), gpu::in(b), gpu::in(y), gpu::in(st), gpu::in(*f16->maxima)}, push, p.count,
               p.heads, 1, {static_cast<uint32_t>(what)});
    return;
  }
  const ChunkRowsShape shape = chunk_rows_shape(s.context(), dy);
  const int64_t row_tiles = chunk_row_tiles(s.context(), chunk, dy);
  if (shape.col_tiles > gpu::kMaxGroupsPerDimension || p.count * row_tiles > gpu::kMaxGroupsPerDimension)
    throw Error(fmt::format("retention: {} chunks of {} x {} rows are too many for one dispatch", p.count, chunk, dy));
  const struct {
    uint32_t t, h, da, dy, chunk, chunks, first_chunk, group_chunks, first_nh, row_tiles;
    float scale;
  } push{uint32_t(d.t),
         uint32_t(d.h),
         uint32_t(da),
         uint32_t(dy),
         uint32_t(chunk),
         uint32_t(gpu::div_up(d.t, chunk)),
         p.first_chunk,
         p.count,
         p.first_nh,
         uint32_t(row_tiles),
         static_cast<float>(1.0 / std::sqrt(double(d.dk)))};
  const bool aligned = da % 4 == 0 && dy % 4 == 0;
  s.dispatch("retention_chunk_rows", {gpu::out(out), gpu::in(a), gpu::in(b), gpu::in(y), gpu::in(st)}, push,
             uint32_t(shape.col_tiles), uint32_t(p.count * row_tiles), p.heads,
             {static_cast<uint32_t>(what), shape.rn, aligned ? 1u : 0u, shape.ty});
}

bool f16_backward_rows(const Context& ctx, int64_t chunk, int64_t dk, int64_t dv) {
  return chunk_rows_on_tensor_cores(ctx, chunk, dv, dk) && chunk_rows_on_tensor_cores(ctx, chunk, dk, dv);
}

void require_qkv_maxima(const gpu::Tensor& maxima, const char* kernel) {
  if (maxima.dtype() != gpu::DType::I32 || maxima.shape() != std::vector<int64_t>{3})
    throw Error(fmt::format("{}: the maxima of q, k and v must be a [3] i32 tensor, not {}", kernel,
                            maxima.describe()));
}

void reduce_qkv_maxima(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                       gpu::Tensor& maxima) {
  abs_max(s, q, maxima, 0);
  abs_max(s, k, maxima, 1);
  abs_max(s, v, maxima, 2);
}

}  // namespace retnet::kernels
