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
constexpr uint32_t kMaxGroups = 65535;

struct Push {
  uint32_t M, N, K;
  uint32_t accumulate;
};

uint32_t capped_groups(int64_t n, int64_t per_group) {
  return std::clamp<uint32_t>(gpu::div_up(n, per_group), 1, kMaxGroups);
}

}  // namespace

MatmulPath matmul_auto_path(int64_t M) { return M <= kRowsMaxRows ? MatmulPath::Rows : MatmulPath::Tiled; }

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
  if (path == MatmulPath::Auto) path = matmul_auto_path(M);

  if (path == MatmulPath::Tiled) {
    s.dispatch(f16 ? "matmul_tiled_f16" : "matmul_tiled_f32", {gpu::out(y), gpu::in(x), gpu::in(w)}, push,
               capped_groups(N, kTile), capped_groups(M, kTile), 1, {aligned});
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

}  // namespace retnet::kernels
