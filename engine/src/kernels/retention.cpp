#include "kernels/retention.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/checks.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/retention_chunk_passes.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

using Dims = RetentionDims;

// Checks q, k, v, o (and state where given) against each other; returns the dimensions.
Dims check_arguments(const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v, const gpu::Tensor& o,
                     const gpu::Tensor* state, const char* kernel) {
  for (const gpu::Tensor* t : {&q, &k, &v, &o}) {
    require_dtype(*t, gpu::DType::F32, kernel);
    require_rank(*t, 4, kernel);
  }
  const Dims d{q.dim(0), q.dim(1), q.dim(2), q.dim(3), v.dim(3)};
  if (d.dk < 1 || d.dv < 1)
    throw Error(fmt::format("{}: head dimensions of {} and {} must be positive", kernel, q.describe(), v.describe()));
  require_shape(k, {d.n, d.t, d.h, d.dk}, kernel);
  require_shape(v, {d.n, d.t, d.h, d.dv}, kernel);
  require_shape(o, {d.n, d.t, d.h, d.dv}, kernel);
  if (state) {
    require_dtype(*state, gpu::DType::F32, kernel);
    require_shape(*state, {d.n, d.h, d.dk, d.dv}, kernel);
    require_u32_index(state->numel(), "state elements", kernel);
  }
  require_u32_index(q.numel(), "q elements", kernel);
  require_u32_index(v.numel(), "v elements", kernel);
  if (d.n * d.h > gpu::kMaxGroupsPerDimension)
    throw Error(fmt::format("{}: more than {} sequences x heads", kernel, gpu::kMaxGroupsPerDimension));
  return d;
}

// dk^-0.5, the scale of the scores.
float scale_of(const Dims& d) { return static_cast<float>(1.0 / std::sqrt(double(d.dk))); }

struct ParallelPush {
  uint32_t t, h, dk, dv;
  float scale;
};

struct RecurrentPush {
  uint32_t t, h, dk, dv;
  float scale;
};

// retention_parallel: o = the parallel form.
// 64 threads (TX x TY), each a register block of RQ query rows x RK keys for the scores and
// RQ rows x RV value columns for the output (BQ = TY*RQ rows, BK = TX*RK keys and
// BV = TX*RV columns per workgroup). Large blocks save memory traffic; the scores are
// recomputed for each BV-column tile, so wide heads get wide tiles and narrow heads narrow
// ones (few wasted columns); BQ shrinks to short sequences.
struct ParallelConfig {
  uint32_t tx, ty, rq, rk, rv;
};

void dispatch_parallel(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                       gpu::Tensor& o, const Dims& d) {
  const uint32_t slice = d.dk <= 8 ? 8 : 16;
  // Shared memory, as the shader lays it out: scores [BQ][BK+4], the q slice [BQ][DS+4], and
  // the k slice [BK][DS+4] sharing space with v^T [BV][BK+4].
  auto shared_bytes = [&](const ParallelConfig& x) {
    const uint64_t bq = x.ty * x.rq, bk = x.tx * x.rk, bv = x.tx * x.rv;
    return 4 * (bq * (bk + 4) + bq * (slice + 4) + std::max(bk * (slice + 4), bv * (bk + 4)));
  };
  ParallelConfig candidates[2];  // by preference
  int count = 1;
  if (d.dv <= 8) candidates[0] = {4, 16, 8, 8, 2};
  else if (d.dv <= 16) candidates[0] = {4, 16, 8, 8, 4};
  else if (d.dv <= 32) candidates[0] = {8, 8, 8, 4, 4};
  else if (d.dv <= 64) candidates[0] = {8, 8, 8, 4, 8};
  else candidates[0] = {16, 4, 8, 2, 8}, candidates[1] = {8, 8, 8, 4, 8}, count = 2;
  const uint64_t limit = s.context().device().shared_memory_bytes;
  const ParallelConfig* chosen = nullptr;
  for (int i = 0; i < count && !chosen; ++i) {
    ParallelConfig& c = candidates[i];
    while (c.rq > 1 && c.ty * c.rq > d.t) c.rq /= 2;
    while (c.rq > 1 && shared_bytes(c) > limit) c.rq /= 2;
    if (shared_bytes(c) <= limit) chosen = &c;
  }
  if (!chosen) throw Error("retention: the device has too little shared memory");
  const ParallelConfig& c = *chosen;
  const uint32_t rows = c.ty * c.rq, cols = c.tx * c.rv;
  const uint32_t query_tiles = gpu::div_up(d.t, rows);
  if (query_tiles > gpu::kMaxGroupsPerDimension) throw Error(fmt::format("retention: T = {} is too long for one call", d.t));
  const ParallelPush push{uint32_t(d.t), uint32_t(d.h), uint32_t(d.dk), uint32_t(d.dv), scale_of(d)};
  s.dispatch("retention_parallel", {gpu::out(o), gpu::in(q), gpu::in(k), gpu::in(v)}, push, query_tiles,
             gpu::div_up(d.dv, cols), static_cast<uint32_t>(d.n * d.h), {c.tx, c.ty, c.rq, c.rk, c.rv, slice});
}

// retention_recurrent: the state of each (sequence, head) in registers.
// R row groups of DPT = ceil(dk / R) rows (<= 16, i.e. 64 state registers per thread, while
// dk <= 16 * 256) times BVS column lanes of 4 columns each, at most 256 threads; TB positions
// per reduction batch over the row groups (TB * R * BVS vec4 of shared memory, <= 16 KiB).
void dispatch_recurrent(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                        gpu::Tensor& state, gpu::Tensor& o, const Dims& d) {
  const uint32_t max_threads = std::min<uint32_t>(256, s.context().device().max_workgroup_invocations);
  uint32_t groups = 1;
  while (groups * 16 < d.dk && groups * 2 <= max_threads) groups *= 2;
  const uint32_t rows_per_thread = static_cast<uint32_t>((d.dk + groups - 1) / groups);
  if (rows_per_thread > 64)
    throw Error(fmt::format("retention_recurrent: head dimension dk = {} is too large", d.dk));
  const uint32_t lanes = static_cast<uint32_t>(std::min<int64_t>((d.dv + 3) / 4, max_threads / groups));
  const uint32_t threads = groups * lanes;
  const uint32_t batch = std::clamp<uint32_t>(1024 / threads, 1, 8);
  const RecurrentPush push{uint32_t(d.t), uint32_t(d.h), uint32_t(d.dk), uint32_t(d.dv), scale_of(d)};
  s.dispatch("retention_recurrent", {gpu::out(o), gpu::out(state), gpu::in(q), gpu::in(k), gpu::in(v)}, push,
             gpu::div_up(d.dv, 4 * lanes), static_cast<uint32_t>(d.n * d.h), 1,
             {threads, lanes, groups, rows_per_thread, batch});
}

// `count` items in the fewest parts of at most `most` items, spread evenly: the part size.
int64_t even_part(int64_t count, int64_t most) {
  const int64_t parts = (count + most - 1) / most;
  return (count + parts - 1) / parts;
}

// Walks a call's chunks in passes within the scratch budget (blocks of sequences x heads,
// each in groups of chunks), growing the scratch (of `stored` elements) to what they need and
// viewing it as [heads, count, dk, dv] before calling record(pass) for each.
// `tiles_per_chunk`: workgroups per chunk along the grid's second dimension.
template <class Record>
void for_each_chunk_pass(gpu::Stream& s, const Dims& d, int64_t chunks, int64_t tiles_per_chunk,
                         RetentionChunkScratch& scratch, gpu::DType stored, Record&& record) {
  const int64_t nh = d.n * d.h, matrix = d.dk * d.dv;
  // The budget holds `fit` states of one (sequence, head) (at least one, whatever the
  // budget). All sequences x heads go in one block where the budget holds a chunk of each;
  // the chunks then go in groups of as many as it holds, within the grid limits and 32-bit
  // indexing (a block's chunk is at most as large as `state`, which check_arguments
  // checked). Blocks and groups are spread evenly, so that none is left with a few
  // workgroups of its own.
  const int64_t fit = std::max<int64_t>(1, scratch.budget_bytes / (int64_t(gpu::dtype_size(stored)) * matrix));
  const int64_t block = even_part(nh, std::min(nh, fit));
  int64_t group = std::clamp<int64_t>(fit / block, 1, chunks);
  group = even_part(chunks, std::min({group, int64_t(gpu::kMaxGroupsPerDimension) / tiles_per_chunk,
                                      int64_t(UINT32_MAX) / (block * matrix)}));
  const int64_t needed = block * group * matrix;
  s.grow(scratch.states, needed, stored, "retention chunk states");
  for (int64_t first_nh = 0; first_nh < nh; first_nh += block) {
    for (int64_t first = 0; first < chunks; first += group) {
      const ChunkPass pass{static_cast<uint32_t>(std::min(block, nh - first_nh)), static_cast<uint32_t>(first_nh),
                           static_cast<uint32_t>(std::min(group, chunks - first)), static_cast<uint32_t>(first)};
      scratch.states.reshape({pass.heads, pass.count, d.dk, d.dv});
      record(pass);
    }
  }
}

// The chunkwise form in f32, in passes over blocks of sequences x heads and groups of their
// chunks whose states fit the scratch budget; each pass is two dispatches
// (kernels/retention_chunk_passes.hpp):
//   retention_chunk_states  S_c, the state before each chunk c, into the scratch, from
//                           `state` (which ends as the state after the group),
//   retention_chunk_rows    o = the part inside each chunk + scale gamma^(j+1) q_(c0+j) S_c.
// The stream orders them through the scratch, `state` and o (a pass's first dispatch waits
// for the previous pass's last one to have read the scratch).
// With `f16_rows` (where chunk_rows_on_tensor_cores holds), the rows run on tensor cores,
// scaled by the maxima of q, k, v (once) and of each pass's states.
void dispatch_chunkwise(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                        gpu::Tensor& state, gpu::Tensor& o, const Dims& d, int64_t chunk,
                        RetentionChunkScratch& scratch, bool f16_rows, gpu::Tensor* qkv_maxima) {
  enum : uint32_t { Q, K, V, STATES, ZERO, SLOTS };
  if (f16_rows) {
    if (scratch.maxima.empty()) scratch.maxima = gpu::Tensor(s.context(), {SLOTS}, gpu::DType::I32, "retention maxima");
    s.fill_zero(scratch.maxima);
    static_assert(Q == 0 && K == 1 && V == 2, "the slots reduce_qkv_maxima fills");
    reduce_qkv_maxima(s, q, k, v, scratch.maxima);
    if (qkv_maxima != nullptr) s.copy_region(scratch.maxima, 0, *qkv_maxima, 0, 3 * 4);
  } else if (qkv_maxima != nullptr && f16_backward_rows(s.context(), chunk, d.dk, d.dv)) {
    s.fill_zero(*qkv_maxima);
    reduce_qkv_maxima(s, q, k, v, *qkv_maxima);
  }
  const ChunkRowsMaxima maxima{&scratch.maxima, Q, K, V, STATES};
  // The states go to tensor cores with the rows (chunk_rows_on_tensor_cores implies they can),
  // scaled by the maxima of k and v.
  const ChunkStatesF16 scaled_states{true, K, V};
  const int64_t chunks = (d.t + chunk - 1) / chunk;
  const int64_t tiles_per_chunk = f16_rows ? 1 : chunk_row_tiles(s.context(), chunk, d.dv);
  for_each_chunk_pass(s, d, chunks, tiles_per_chunk, scratch, gpu::DType::F32, [&](const ChunkPass& p) {
    // With f16 rows, the states kernel folds this pass's states' maximum into a slot reset
    // from slot ZERO (which stays zero).
    if (f16_rows) {
      s.copy_region(scratch.maxima, 4 * ZERO, scratch.maxima, 4 * STATES, 4);
      s.barrier();  // the maxima of k and v (and the reset slot) before the scaled states read them
    }
    dispatch_chunk_states(s, k, v, scratch.states, &state, d, chunk, p, false, 1.0f,
                          f16_rows ? &scratch.maxima : nullptr, STATES, f16_rows ? &scaled_states : nullptr);
    dispatch_chunk_rows(s, ChunkRows::Forward, o, q, k, v, scratch.states, d.dk, d.dv, d, chunk, p,
                        f16_rows ? &maxima : nullptr);
  });
}

// The chunkwise form on tensor cores (chunks of 64 positions, f16 products, f32 sums and
// state), in passes as above, each of two dispatches (see the shaders):
//   retention_chunk_states_coopmat   S_c, the state before each chunk c of the group, into the
//                                    scratch (f16), walking the chunks from `state` (which
//                                    ends as the state after the group);
//   retention_chunk_output_coopmat   o = the part inside each chunk + the part from S_c.
constexpr int64_t kTensorCoreChunk = 64;
// The output pass holds dk / 16 fragments of q per subgroup and stages S_c's dk rows at once
// (MAX_DK of retention_chunk_output_coopmat.comp).
constexpr int64_t kTensorCoreMaxDk = 256;

void dispatch_chunkwise_on_tensor_cores(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k,
                                        const gpu::Tensor& v, gpu::Tensor& state, gpu::Tensor& o, const Dims& d,
                                        RetentionChunkScratch& scratch) {
  const uint32_t T = uint32_t(d.t), H = uint32_t(d.h), DK = uint32_t(d.dk), DV = uint32_t(d.dv);
  // The output pass rounds S_c to f16 for its products: the states pass stores them so.
  const ChunkStatesF16 unscaled{false, 0, 0, true};
  for_each_chunk_pass(s, d, gpu::div_up(d.t, kTensorCoreChunk), 1, scratch, gpu::DType::F16, [&](const ChunkPass& p) {
    dispatch_chunk_states(s, k, v, scratch.states, &state, d, kTensorCoreChunk, p, false, 1.0f, nullptr, 0, &unscaled);
    const struct {
      uint32_t t, h, dk, dv, first_chunk, chunks, first_nh;
      float scale;
    } op{T, H, DK, DV, p.first_chunk, p.count, p.first_nh, scale_of(d)};
    s.dispatch("retention_chunk_output_coopmat",
               {gpu::out(o), gpu::in(q), gpu::in(k), gpu::in(v), gpu::in(scratch.states)}, op, p.count, p.heads,
               1, {DK});
  });
}

}  // namespace

void retention_parallel(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                        gpu::Tensor& o) {
  const Dims d = check_arguments(q, k, v, o, nullptr, "retention_parallel");
  if (d.n * d.t * d.h == 0) return;
  dispatch_parallel(s, q, k, v, o, d);
}

void retention_chunkwise(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                         gpu::Tensor& state, gpu::Tensor& o, int64_t chunk_size, RetentionChunkScratch& scratch,
                         bool f16_products, gpu::Tensor* qkv_maxima) {
  const char* kernel = "retention_chunkwise";
  const Dims d = check_arguments(q, k, v, o, &state, kernel);
  if (chunk_size < 1) throw Error(fmt::format("{}: chunk size {} must be positive", kernel, chunk_size));
  if (qkv_maxima != nullptr) require_qkv_maxima(*qkv_maxima, kernel);
  if (d.n * d.t * d.h == 0) {
    if (qkv_maxima != nullptr) s.fill_zero(*qkv_maxima);  // the maxima of nothing
    return;
  }
  const int64_t chunk = std::min(chunk_size, d.t);  // a chunk longer than the sequence is the sequence
  if (f16_products && retention_chunks_on_tensor_cores(s.context(), d.t, d.dk, d.dv, chunk)) {
    if (qkv_maxima != nullptr && f16_backward_rows(s.context(), chunk, d.dk, d.dv)) {
      s.fill_zero(*qkv_maxima);
      reduce_qkv_maxima(s, q, k, v, *qkv_maxima);
    }
    dispatch_chunkwise_on_tensor_cores(s, q, k, v, state, o, d, scratch);
    return;
  }
  dispatch_chunkwise(s, q, k, v, state, o, d, chunk, scratch,
                     f16_products && chunk_rows_on_tensor_cores(s.context(), chunk, d.dk, d.dv),
                     f16_products ? qkv_maxima : nullptr);
}

bool retention_chunks_on_tensor_cores(const Context& ctx, int64_t T, int64_t dk, int64_t dv, int64_t chunk_size) {
  const auto& dev = ctx.device();
  // The output pass's shared memory: one region of kTensorCoreMaxDk + 64 rows of 72 halves
  // (S_c's block and the v tile).
  constexpr uint64_t shared_bytes = (kTensorCoreMaxDk + kTensorCoreChunk) * 72 * 2;
  return ctx.active_paths().coopmat && dev.cooperative_matrix_n == 16 && dev.subgroup_size == 32 &&
         std::min(chunk_size, T) == kTensorCoreChunk && dk % 64 == 0 && dk <= kTensorCoreMaxDk && dv % 64 == 0 &&
         shared_bytes <= dev.shared_memory_bytes && chunk_states_on_tensor_cores(ctx, kTensorCoreChunk, dk, dv);
}

void retention_recurrent(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                         gpu::Tensor& state, gpu::Tensor& o) {
  const Dims d = check_arguments(q, k, v, o, &state, "retention_recurrent");
  if (d.n * d.t * d.h == 0) return;
  dispatch_recurrent(s, q, k, v, state, o, d);
}

}  // namespace retnet::kernels
