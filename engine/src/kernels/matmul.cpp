#include "kernels/matmul.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/checks.hpp"
#include "kernels/elementwise.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {

constexpr const char* kKernel = "matmul";
constexpr int64_t kRowsMaxRows = 8;  // rows per workgroup of the Rows kernel (its MAX_ROWS)
constexpr int64_t kRowsCols = 4;     // output columns per workgroup of the Rows kernel (COLS)
constexpr int64_t kTile = 64;        // output tile edge of the Tiled kernel (BM = BN)
constexpr int64_t kCoopTile = 128;   // output tile edge of the CoopMat kernel

struct Push {
  uint32_t M, N, K;
  uint32_t accumulate;
};

uint32_t capped_groups(int64_t n, int64_t per_group) {
  return std::clamp<uint32_t>(gpu::div_up(n, per_group), 1, gpu::kMaxGroupsPerDimension);
}

// The product of every dimension but the last (the rows of a [..., C] tensor).
int64_t leading_rows(const gpu::Tensor& t) {
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < t.shape().size(); ++i) rows *= t.shape()[i];
  return rows;
}

// The tensor-core shader `base`_n16 or `base`_n8, for the device's 16 x N x 16 fragments.
std::string coopmat_shader(const Context& ctx, const char* base) {
  return fmt::format("{}_n{}", base, ctx.device().cooperative_matrix_n == 16 ? 16 : 8);
}

// The tensor-core path is on, and the weights it reads (if any) are f16.
void require_coopmat(const Context& ctx, const char* kernel, const gpu::Tensor* weights = nullptr) {
  if (!ctx.active_paths().coopmat)
    throw Error(fmt::format("{}: the cooperative-matrix path was requested but it is off on this device", kernel));
  if (weights != nullptr && weights->dtype() != gpu::DType::F16)
    throw Error(fmt::format("{}: the cooperative-matrix path needs f16 weights, not {}", kernel, weights->describe()));
}

// The backward products have the Tiled and CoopMat paths (Auto: Tiled).
void require_backward_path(MatmulPath path, const char* kernel) {
  if (path == MatmulPath::Rows)
    throw Error(fmt::format("{}: only the Tiled and CoopMat paths exist for this product", kernel));
}

// Where max |a| and max |b| are for the scaled tensor-core backward kernels.
struct OperandMaxima {
  OperandMaximum a, b;
};

// The maxima of a and b (where given), reduced in the stream into slots 0 and 1 of a two-slot
// tensor for those the caller does not know already.
OperandMaxima record_maxima(gpu::Stream& s, MatmulScratch* scratch, const gpu::Tensor* a, const gpu::Tensor* b,
                            OperandMaximum a_known = {}, OperandMaximum b_known = {}) {
  OperandMaxima m{a_known, b_known};
  const bool reduce_a = a != nullptr && !a_known.known(), reduce_b = b != nullptr && !b_known.known();
  if (!reduce_a && !reduce_b) return m;
  gpu::Tensor& maxima =
      scratch != nullptr ? scratch->maxima(s.context())
                         : s.keep_until_submit(gpu::Tensor(s.context(), {2}, gpu::DType::I32, "matmul operand maxima"));
  s.fill_zero(maxima);
  if (reduce_a) abs_max(s, *a, maxima, 0), m.a = {&maxima, 0};
  if (reduce_b) abs_max(s, *b, maxima, 1), m.b = {&maxima, 1};
  return m;
}

// Workgroups that keep the GPU busy: output tiles fewer than this split their reduction.
constexpr int64_t kBusyGroups = 256;
// The shortest reduction slice worth a workgroup's start-up and its partial block.
constexpr int64_t kMinSlice = 256;

// C[M, N] (+)= A B on tensor cores with `shader` (bindings C, A, B and, if given, the maxima).
// With `may_split`, where the output has too few tiles for the device, the reduction is split
// into slices whose partial blocks one more pass adds up (the backward's weight gradients:
// few output tiles, thousands of tokens deep), and the forward of few rows given a scratch
// (without one, its partial blocks would need memory per call, whose allocation costs more
// than the split gains).
void dispatch_coopmat(gpu::Stream& s, const std::string& shader, gpu::Tensor& c, const gpu::Tensor& a,
                      const gpu::Tensor& b, const OperandMaxima* maxima, int64_t M, int64_t N, int64_t K,
                      bool accumulate, std::vector<uint32_t> aligned, bool may_split, MatmulScratch* scratch) {
  const int64_t tiles = int64_t(gpu::div_up(M, kCoopTile)) * gpu::div_up(N, kCoopTile);
  int64_t slices = may_split ? std::clamp<int64_t>(std::min(kBusyGroups / tiles, K / kMinSlice), 1, 64) : 1;
  const int64_t slice = gpu::div_up(gpu::div_up(K, slices), 32) * 32;  // whole 32-deep steps
  slices = gpu::div_up(K, slice);
  if (slices > 1 && slices * M * N > int64_t(UINT32_MAX)) slices = 1;
  struct {
    uint32_t M, N, K, accumulate, slice, a_slot, b_slot;
  } push{uint32_t(M), uint32_t(N), uint32_t(K), accumulate ? 1u : 0u, uint32_t(slices > 1 ? slice : K), 0, 0};
  gpu::Tensor* out = &c;
  if (slices > 1) {
    out = scratch != nullptr ? &scratch->partials(s, slices * M * N)
                             : &s.keep_until_submit(gpu::Tensor(s.context(), {slices * M * N}, gpu::DType::F32,
                                                                "matmul partial sums"));
    push.accumulate = 0;
  }
  const uint32_t gx = capped_groups(N, kCoopTile), gy = capped_groups(M, kCoopTile), gz = uint32_t(slices);
  if (maxima != nullptr) {
    // An operand that is not scaled (f16) may have no maximum: the other's tensor stands in.
    const gpu::Tensor* a_max = maxima->a.known() ? maxima->a.maxima : maxima->b.maxima;
    const gpu::Tensor* b_max = maxima->b.known() ? maxima->b.maxima : a_max;
    push.a_slot = maxima->a.slot;
    push.b_slot = maxima->b.slot;
    s.dispatch(shader.c_str(), {gpu::out(*out), gpu::in(a), gpu::in(b), gpu::in(*a_max), gpu::in(*b_max)}, push, gx,
               gy, gz, aligned);
  } else
    s.dispatch(shader.c_str(), {gpu::out(*out), gpu::in(a), gpu::in(b)}, push, gx, gy, gz, aligned);
  if (slices == 1) return;
  const struct {
    uint32_t n, slices, accumulate;
  } sum{uint32_t(M * N), uint32_t(slices), accumulate ? 1u : 0u};
  s.dispatch("split_k_sum", {gpu::out(c), gpu::in(*out)}, sum, std::min<uint32_t>(gpu::div_up(M * N, 256), 4096));
}

void require_matrix_like(const gpu::Tensor& t, const char* kernel) {
  if (t.shape().empty())
    throw Error(fmt::format("{}: tensor {} must have at least 1 dimension", kernel, t.describe()));
}

}  // namespace

gpu::Tensor& MatmulScratch::maxima(Context& ctx) {
  if (next_maxima_ == maxima_.size())
    maxima_.emplace_back(ctx, std::vector<int64_t>{2}, gpu::DType::I32, "matmul operand maxima");
  return maxima_[next_maxima_++];
}

gpu::Tensor& MatmulScratch::partials(gpu::Stream& s, int64_t elements) {
  const int64_t before = partials_.empty() ? 0 : partials_.capacity();
  s.grow(partials_, elements, gpu::DType::F32, "matmul partial sums");
  if (partials_.capacity() != before) ++partials_growths_;
  return partials_;
}

MatmulPath matmul_auto_path(const Context& ctx, int64_t M, const gpu::Tensor& w) {
  if (M <= kRowsMaxRows) return MatmulPath::Rows;
  return ctx.active_paths().coopmat && w.dtype() == gpu::DType::F16 ? MatmulPath::CoopMat : MatmulPath::Tiled;
}

void matmul(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& w, gpu::Tensor& y, MatmulPath path,
            bool accumulate, MatmulScratch* scratch) {
  require_dtype(x, gpu::DType::F32, kKernel);
  require_float(w, kKernel);
  require_dtype(y, gpu::DType::F32, kKernel);
  require_rank(w, 2, kKernel);
  if (x.shape().empty())
    throw Error(fmt::format("{}: tensor {} must have at least 1 dimension", kKernel, x.describe()));
  const int64_t N = w.dim(0), K = w.dim(1);
  if (x.dim(-1) != K)
    throw Error(fmt::format("{}: tensor {} must have {} columns to match weights {}", kKernel, x.describe(), K,
                            w.describe()));
  std::vector<int64_t> y_shape = x.shape();
  y_shape.back() = N;
  require_shape(y, y_shape, kKernel);
  // Workgroups read x and w while others already write y: in place would race.
  if (y.buffer() == x.buffer() || y.buffer() == w.buffer())
    throw Error(fmt::format("{}: output {} must not be an input", kKernel, y.describe()));
  int64_t M = 1;  // every leading dimension of x is a row dimension
  for (size_t i = 0; i + 1 < x.shape().size(); ++i) M *= x.shape()[i];
  require_u32_index(x.numel(), "x elements", kKernel);
  require_u32_index(w.numel(), "w elements", kKernel);
  require_u32_index(y.numel(), "y elements", kKernel);
  if (M == 0 || N == 0) return;

  const bool f16 = w.dtype() == gpu::DType::F16;
  // Both kernels read x and w with vector loads when every row starts on a whole vector.
  const uint32_t aligned = K % (f16 ? 8 : 4) == 0 ? 1u : 0u;
  const Push push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K), accumulate ? 1u : 0u};
  if (path == MatmulPath::Auto) path = matmul_auto_path(s.context(), M, w);

  if (path == MatmulPath::CoopMat) {
    require_coopmat(s.context(), kKernel, &w);
    const bool split = scratch != nullptr && M <= kCoopTile;
    dispatch_coopmat(s, coopmat_shader(s.context(), "matmul_coopmat"), y, x, w, nullptr, M, N, K, accumulate,
                     {aligned, aligned}, split, scratch);
    return;
  }

  if (path == MatmulPath::Tiled) {
    s.dispatch(f16 ? "matmul_tiled_f16" : "matmul_tiled_f32", {gpu::out(y), gpu::in(x), gpu::in(w)}, push,
               capped_groups(N, kTile), capped_groups(M, kTile), 1, {aligned, aligned});
    return;
  }

  // The subgroup reduction keeps one partial sum per subgroup in room for subgroups of >= 4.
  const auto& ctx = s.context();
  const bool subgroups = ctx.active_paths().subgroups && ctx.device().subgroup_size >= 4;
  const uint32_t rows = static_cast<uint32_t>(std::min(M, kRowsMaxRows));
  std::string shader = std::string("matmul_rows_") + (f16 ? "f16" : "f32") + (subgroups ? "_subgroup" : "");
  s.dispatch(shader.c_str(), {gpu::out(y), gpu::in(x), gpu::in(w)}, push, capped_groups(N, kRowsCols),
             capped_groups(M, rows), 1, {rows, aligned});
}

namespace {

// The checks of dx = dy w; returns M, the rows of dy.
int64_t check_backward_input(const gpu::Tensor& dy, const gpu::Tensor& w, const gpu::Tensor& dx, const char* kernel) {
  require_dtype(dy, gpu::DType::F32, kernel);
  require_float(w, kernel);
  require_dtype(dx, gpu::DType::F32, kernel);
  require_rank(w, 2, kernel);
  require_matrix_like(dy, kernel);
  const int64_t N = w.dim(0), K = w.dim(1);
  if (dy.dim(-1) != N)
    throw Error(
        fmt::format("{}: tensor {} must have {} columns to match weights {}", kernel, dy.describe(), N, w.describe()));
  std::vector<int64_t> dx_shape = dy.shape();
  dx_shape.back() = K;
  require_shape(dx, dx_shape, kernel);
  if (dx.buffer() == dy.buffer() || dx.buffer() == w.buffer())
    throw Error(fmt::format("{}: output {} must not be an input", kernel, dx.describe()));
  require_u32_index(dy.numel(), "dy elements", kernel);
  require_u32_index(w.numel(), "w elements", kernel);
  require_u32_index(dx.numel(), "dx elements", kernel);
  return leading_rows(dy);
}

// The checks of dw = dy^T x.
void check_backward_weight(const gpu::Tensor& x, const gpu::Tensor& dy, const gpu::Tensor& dw, const char* kernel) {
  require_dtype(x, gpu::DType::F32, kernel);
  require_dtype(dy, gpu::DType::F32, kernel);
  require_dtype(dw, gpu::DType::F32, kernel);
  require_matrix_like(x, kernel);
  require_matrix_like(dy, kernel);
  const std::vector<int64_t> x_lead(x.shape().begin(), x.shape().end() - 1);
  const std::vector<int64_t> dy_lead(dy.shape().begin(), dy.shape().end() - 1);
  if (x_lead != dy_lead)
    throw Error(fmt::format("{}: tensors {} and {} must have the same leading dimensions", kernel, x.describe(),
                            dy.describe()));
  require_shape(dw, {dy.dim(-1), x.dim(-1)}, kernel);
  if (dw.buffer() == x.buffer() || dw.buffer() == dy.buffer())
    throw Error(fmt::format("{}: output {} must not be an input", kernel, dw.describe()));
  require_u32_index(x.numel(), "x elements", kernel);
  require_u32_index(dy.numel(), "dy elements", kernel);
  require_u32_index(dw.numel(), "dw elements", kernel);
}

// dx (+)= dy w, after check_backward_input; CoopMat reads max |dy| where maxima->a says.
void record_backward_input(gpu::Stream& s, const gpu::Tensor& dy, const gpu::Tensor& w, gpu::Tensor& dx,
                           bool accumulate, MatmulPath path, MatmulScratch* scratch, const OperandMaxima* maxima) {
  const int64_t M = leading_rows(dy), N = w.dim(0), K = w.dim(1);
  if (M == 0 || K == 0) return;  // nothing to write (N == 0 writes zeros, or adds nothing)
  const Push push{static_cast<uint32_t>(M), static_cast<uint32_t>(K), static_cast<uint32_t>(N), accumulate ? 1u : 0u};
  if (path == MatmulPath::CoopMat) {
    dispatch_coopmat(s, coopmat_shader(s.context(), "matmul_coopmat_dx"), dx, dy, w, maxima, M, K, N, accumulate,
                     {N % 8 == 0 ? 1u : 0u, K % 8 == 0 ? 1u : 0u}, true, scratch);
    return;
  }
  // Output [M, K], reduction over N: A = dy [M, N] read along N, B = w [N, K] read along K.
  const bool f16 = w.dtype() == gpu::DType::F16;
  const uint32_t a_aligned = N % 4 == 0 ? 1u : 0u;
  const uint32_t b_aligned = K % 4 == 0 ? 1u : 0u;  // f16: 4 halves in 2 words
  s.dispatch(f16 ? "matmul_tiled_dx_f16" : "matmul_tiled_dx_f32", {gpu::out(dx), gpu::in(dy), gpu::in(w)}, push,
             capped_groups(K, kTile), capped_groups(M, kTile), 1, {a_aligned, b_aligned});
}

// dw (+)= dy^T x, after check_backward_weight; CoopMat reads max |dy| and max |x| where
// maxima->a and maxima->b say.
void record_backward_weight(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy, gpu::Tensor& dw,
                            bool accumulate, MatmulPath path, MatmulScratch* scratch, const OperandMaxima* maxima) {
  const int64_t M = leading_rows(x), N = dy.dim(-1), K = x.dim(-1);
  if (N == 0 || K == 0) return;  // M == 0 still writes zeros (or adds nothing)
  if (path == MatmulPath::CoopMat) {
    dispatch_coopmat(s, coopmat_shader(s.context(), "matmul_coopmat_dw"), dw, dy, x, maxima, N, K, M, accumulate,
                     {N % 8 == 0 ? 1u : 0u, K % 8 == 0 ? 1u : 0u}, true, scratch);
    return;
  }
  // Output [N, K], reduction over M: A = dy stored [M, N] read along N, B = x stored [M, K]
  // read along K (both transposed relative to the forward's operands).
  const Push push{static_cast<uint32_t>(N), static_cast<uint32_t>(K), static_cast<uint32_t>(M),
                  accumulate ? 1u : 0u};
  const uint32_t a_aligned = N % 4 == 0 ? 1u : 0u;
  const uint32_t b_aligned = K % 4 == 0 ? 1u : 0u;
  s.dispatch("matmul_tiled_dw_f32", {gpu::out(dw), gpu::in(dy), gpu::in(x)}, push, capped_groups(K, kTile),
             capped_groups(N, kTile), 1, {a_aligned, b_aligned});
}

}  // namespace

void matmul_backward_input(gpu::Stream& s, const gpu::Tensor& dy, const gpu::Tensor& w, gpu::Tensor& dx,
                           bool accumulate, MatmulPath path, MatmulScratch* scratch) {
  const char* kernel = "matmul_backward_input";
  const int64_t M = check_backward_input(dy, w, dx, kernel);
  require_backward_path(path, kernel);
  OperandMaxima maxima;
  if (path == MatmulPath::CoopMat) {
    require_coopmat(s.context(), kernel, &w);
    if (M > 0 && w.dim(1) > 0) maxima = record_maxima(s, scratch, &dy, nullptr);
  }
  record_backward_input(s, dy, w, dx, accumulate, path, scratch, maxima.a.known() ? &maxima : nullptr);
}

void matmul_backward_weight(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy, gpu::Tensor& dw,
                            bool accumulate, MatmulPath path, MatmulScratch* scratch) {
  const char* kernel = "matmul_backward_weight";
  check_backward_weight(x, dy, dw, kernel);
  require_backward_path(path, kernel);
  OperandMaxima maxima;
  if (path == MatmulPath::CoopMat) {
    require_coopmat(s.context(), kernel);
    if (dy.dim(-1) > 0 && x.dim(-1) > 0) maxima = record_maxima(s, scratch, &dy, &x);
  }
  record_backward_weight(s, x, dy, dw, accumulate, path, scratch, maxima.a.known() ? &maxima : nullptr);
}

OperandMaximum matmul_backward(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy, const gpu::Tensor& w,
                               gpu::Tensor& dx, gpu::Tensor& dw, const MatmulBackwardOptions& options) {
  const char* kernel = "matmul_backward";
  check_backward_input(dy, w, dx, kernel);
  check_backward_weight(x, dy, dw, kernel);
  require_backward_path(options.path, kernel);
  if (options.path != MatmulPath::CoopMat) {
    record_backward_input(s, dy, w, dx, options.accumulate_dx, options.path, options.scratch, nullptr);
    record_backward_weight(s, x, dy, dw, options.accumulate_dw, options.path, options.scratch, nullptr);
    return {};
  }
  require_coopmat(s.context(), kernel, &w);
  require_operand_maximum(options.dy_maximum, "dy", kernel);
  require_operand_maximum(options.x_maximum, "x", kernel);
  // One maximum of dy serves both products (the dx kernel does not scale w: it is f16).
  const OperandMaxima maxima = record_maxima(s, options.scratch, &dy, &x, options.dy_maximum, options.x_maximum);
  record_backward_input(s, dy, w, dx, options.accumulate_dx, options.path, options.scratch, &maxima);
  record_backward_weight(s, x, dy, dw, options.accumulate_dw, options.path, options.scratch, &maxima);
  return maxima.b;
}

}  // namespace retnet::kernels
