#include "kernels/retention.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

struct Dims {
  int64_t n, t, h, dk, dv;
};

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
  if (d.n * d.h > 65535) throw Error(fmt::format("{}: more than 65535 sequences x heads", kernel));
  return d;
}

struct Push {
  uint32_t t, h, dk, dv, window;
  float scale;
};

Push make_push(const Dims& d, int64_t window) {
  return {uint32_t(d.t), uint32_t(d.h), uint32_t(d.dk), uint32_t(d.dv), uint32_t(window),
          static_cast<float>(1.0 / std::sqrt(double(d.dk)))};
}

// retention_intra: o = the parallel form restricted to windows of `window` positions.
// 64 threads (TX x TY), each a register block of RQ query rows x RK keys for the scores and
// RQ rows x RV value columns for the output (BQ = TY*RQ rows, BK = TX*RK keys and
// BV = TX*RV columns per workgroup). Large blocks save memory traffic; the scores are
// recomputed for each BV-column tile, so wide heads get wide tiles and narrow heads narrow
// ones (few wasted columns); BQ shrinks to the window (chunk) size, since a query tile that
// spans several chunks computes scores that the chunk mask throws away.
struct IntraConfig {
  uint32_t tx, ty, rq, rk, rv;
};

void dispatch_intra(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                    gpu::Tensor& o, const Dims& d, int64_t window) {
  const uint32_t slice = d.dk <= 8 ? 8 : 16;
  // Shared memory, as the shader lays it out: scores [BQ][BK+4], the q slice [BQ][DS+4], and
  // the k slice [BK][DS+4] sharing space with v^T [BV][BK+4].
  auto shared_bytes = [&](const IntraConfig& x) {
    const uint64_t bq = x.ty * x.rq, bk = x.tx * x.rk, bv = x.tx * x.rv;
    return 4 * (bq * (bk + 4) + bq * (slice + 4) + std::max(bk * (slice + 4), bv * (bk + 4)));
  };
  IntraConfig candidates[2];  // by preference
  int count = 1;
  if (d.dv <= 8) candidates[0] = {4, 16, 8, 8, 2};
  else if (d.dv <= 16) candidates[0] = {4, 16, 8, 8, 4};
  else if (d.dv <= 32) candidates[0] = {8, 8, 8, 4, 4};
  else if (d.dv <= 64) candidates[0] = {8, 8, 8, 4, 8};
  else candidates[0] = {16, 4, 8, 2, 8}, candidates[1] = {8, 8, 8, 4, 8}, count = 2;
  const uint64_t limit = s.context().device().shared_memory_bytes;
  const IntraConfig* chosen = nullptr;
  for (int i = 0; i < count && !chosen; ++i) {
    IntraConfig& c = candidates[i];
    while (c.rq > 1 && c.ty * c.rq > window) c.rq /= 2;
    while (c.rq > 1 && shared_bytes(c) > limit) c.rq /= 2;
    if (shared_bytes(c) <= limit) chosen = &c;
  }
  if (!chosen) throw Error("retention: the device has too little shared memory");
  const IntraConfig& c = *chosen;
  const uint32_t rows = c.ty * c.rq, cols = c.tx * c.rv;
  const uint32_t query_tiles = gpu::div_up(d.t, rows);
  if (query_tiles > 65535) throw Error(fmt::format("retention: T = {} is too long for one call", d.t));
  s.dispatch("retention_intra", {gpu::out(o), gpu::in(q), gpu::in(k), gpu::in(v)}, make_push(d, window),
             query_tiles, gpu::div_up(d.dv, cols), static_cast<uint32_t>(d.n * d.h),
             {c.tx, c.ty, c.rq, c.rk, c.rv, slice});
}

// retention_inter / retention_recurrent: the state of each (sequence, head) in registers.
// R row groups of DPT = ceil(dk / R) rows (<= 16, i.e. 64 state registers per thread, while
// dk <= 16 * 256) times BVS column lanes of 4 columns each, at most 256 threads; TB positions
// per reduction batch over the row groups (TB * R * BVS vec4 of shared memory, <= 16 KiB).
void dispatch_state_pass(const char* shader, gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k,
                         const gpu::Tensor& v, gpu::Tensor& state, gpu::Tensor& o, const Dims& d, int64_t chunk) {
  const uint32_t max_threads = std::min<uint32_t>(256, s.context().device().max_workgroup_invocations);
  uint32_t groups = 1;
  while (groups * 16 < d.dk && groups * 2 <= max_threads) groups *= 2;
  const uint32_t rows_per_thread = static_cast<uint32_t>((d.dk + groups - 1) / groups);
  if (rows_per_thread > 64) throw Error(fmt::format("{}: head dimension dk = {} is too large", shader, d.dk));
  const uint32_t lanes = static_cast<uint32_t>(std::min<int64_t>((d.dv + 3) / 4, max_threads / groups));
  const uint32_t threads = groups * lanes;
  const uint32_t batch = std::clamp<uint32_t>(1024 / threads, 1, 8);
  s.dispatch(shader, {gpu::out(o), gpu::out(state), gpu::in(q), gpu::in(k), gpu::in(v)}, make_push(d, chunk),
             gpu::div_up(d.dv, 4 * lanes), static_cast<uint32_t>(d.n * d.h), 1,
             {threads, lanes, groups, rows_per_thread, batch});
}

}  // namespace

void retention_parallel(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                        gpu::Tensor& o) {
  const Dims d = check_arguments(q, k, v, o, nullptr, "retention_parallel");
  if (d.n * d.t * d.h == 0) return;
  dispatch_intra(s, q, k, v, o, d, d.t);
}

void retention_chunkwise(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                         gpu::Tensor& state, gpu::Tensor& o, int64_t chunk_size) {
  const Dims d = check_arguments(q, k, v, o, &state, "retention_chunkwise");
  if (chunk_size < 1) throw Error(fmt::format("retention_chunkwise: chunk size {} must be positive", chunk_size));
  if (d.n * d.t * d.h == 0) return;
  const int64_t chunk = std::min(chunk_size, d.t);  // a chunk longer than the sequence is the sequence
  dispatch_intra(s, q, k, v, o, d, chunk);
  dispatch_state_pass("retention_inter", s, q, k, v, state, o, d, chunk);
}

void retention_recurrent(gpu::Stream& s, const gpu::Tensor& q, const gpu::Tensor& k, const gpu::Tensor& v,
                         gpu::Tensor& state, gpu::Tensor& o) {
  const Dims d = check_arguments(q, k, v, o, &state, "retention_recurrent");
  if (d.n * d.t * d.h == 0) return;
  dispatch_state_pass("retention_recurrent", s, q, k, v, state, o, d, 1);
}

}  // namespace retnet::kernels
