#include "kernels/matmul.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/checks.hpp"
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

void require_matrix_like(const gpu::Tensor& t, const char* kernel) {
  if (t.shape().empty())
    throw Error(fmt::format("{}: tensor {} must have at least 1 dimension", kernel, t.describe()));
}

}  // namespace

MatmulPath matmul_auto_path(const Context& ctx, int64_t M, const gpu::Tensor& w) {
  if (M <= kRowsMaxRows) return MatmulPath::Rows;
  return ctx.active_paths().coopmat && w.dtype() == gpu::DType::F16 ? MatmulPath::CoopMat : MatmulPath::Tiled;
}

void matmul(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& w, gpu::Tensor& y, MatmulPath path,
            bool accumulate) {
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
  const Push push{static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                  accumulate ? 1u : 0u};
  if (path == MatmulPath::Auto) path = matmul_auto_path(s.context(), M, w);

  if (path == MatmulPath::CoopMat) {
    if (!s.context().active_paths().coopmat)
      throw Error(fmt::format("{}: the cooperative-matrix path was requested but it is off on this device", kKernel));
    if (!f16) throw Error(fmt::format("{}: the cooperative-matrix path needs f16 weights, not {}", kKernel, w.describe()));
    const char* shader = s.context().device().cooperative_matrix_n == 16 ? "matmul_coopmat_n16" : "matmul_coopmat_n8";
    s.dispatch(shader, {gpu::out(y), gpu::in(x), gpu::in(w)}, push, capped_groups(N, kCoopTile),
               capped_groups(M, kCoopTile), 1, {aligned});
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

void matmul_backward_input(gpu::Stream& s, const gpu::Tensor& dy, const gpu::Tensor& w, gpu::Tensor& dx,
                           bool accumulate) {
  const char* kernel = "matmul_backward_input";
  require_dtype(dy, gpu::DType::F32, kernel);
  require_float(w, kernel);
  require_dtype(dx, gpu::DType::F32, kernel);
  require_rank(w, 2, kernel);
  require_matrix_like(dy, kernel);
  const int64_t N = w.dim(0), K = w.dim(1);
  if (dy.dim(-1) != N)
    throw Error(fmt::format("{}: tensor {} must have {} columns to match weights {}", kernel, dy.describe(), N,
                            w.describe()));
  std::vector<int64_t> dx_shape = dy.shape();
  dx_shape.back() = K;
  require_shape(dx, dx_shape, kernel);
  if (dx.buffer() == dy.buffer() || dx.buffer() == w.buffer())
    throw Error(fmt::format("{}: output {} must not be an input", kernel, dx.describe()));
  require_u32_index(dy.numel(), "dy elements", kernel);
  require_u32_index(w.numel(), "w elements", kernel);
  require_u32_index(dx.numel(), "dx elements", kernel);
  const int64_t M = leading_rows(dy);
  if (M == 0 || K == 0) return;  // nothing to write (N == 0 writes zeros, or adds nothing)

  const bool f16 = w.dtype() == gpu::DType::F16;
  // Output [M, K], reduction over N: A = dy [M, N] read along N, B = w [N, K] read along K.
  const uint32_t a_aligned = N % 4 == 0 ? 1u : 0u;
  const uint32_t b_aligned = K % 4 == 0 ? 1u : 0u;  // f16: 4 halves in 2 words
  const Push push{static_cast<uint32_t>(M), static_cast<uint32_t>(K), static_cast<uint32_t>(N),
                  accumulate ? 1u : 0u};
  s.dispatch(f16 ? "matmul_tiled_dx_f16" : "matmul_tiled_dx_f32", {gpu::out(dx), gpu::in(dy), gpu::in(w)}, push,
             capped_groups(K, kTile), capped_groups(M, kTile), 1, {a_aligned, b_aligned});
}

void matmul_backward_weight(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy, gpu::Tensor& dw,
                            bool accumulate) {
  const char* kernel = "matmul_backward_weight";
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
  const int64_t M = leading_rows(x), N = dy.dim(-1), K = x.dim(-1);
  require_shape(dw, {N, K}, kernel);
  if (dw.buffer() == x.buffer() || dw.buffer() == dy.buffer())
    throw Error(fmt::format("{}: output {} must not be an input", kernel, dw.describe()));
  require_u32_index(x.numel(), "x elements", kernel);
  require_u32_index(dy.numel(), "dy elements", kernel);
  require_u32_index(dw.numel(), "dw elements", kernel);
  if (N == 0 || K == 0) return;  // M == 0 still writes zeros (or adds nothing)

  // Output [N, K], reduction over M: A = dy stored [M, N] read along N, B = x stored [M, K]
  // read along K (both transposed relative to the forward's operands).
  const uint32_t a_aligned = N % 4 == 0 ? 1u : 0u;
  const uint32_t b_aligned = K % 4 == 0 ? 1u : 0u;
  const Push push{static_cast<uint32_t>(N), static_cast<uint32_t>(K), static_cast<uint32_t>(M),
                  accumulate ? 1u : 0u};
  s.dispatch("matmul_tiled_dw_f32", {gpu::out(dw), gpu::in(dy), gpu::in(x)}, push, capped_groups(K, kTile),
             capped_groups(N, kTile), 1, {a_aligned, b_aligned});
}

}  // namespace retnet::kernels
