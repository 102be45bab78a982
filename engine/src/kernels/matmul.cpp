#include "kernels/matmul.hpp"

#include <fmt/format.h>

#include "kernels/checks.hpp"
#include "retnet/error.hpp"

namespace retnet::kernels {

namespace {
constexpr int64_t kRowsMax = 8;     // MAX_ROWS in shaders/matmul_rows.glsl
constexpr int64_t kRowsCols = 4;    // COLS in shaders/matmul_rows.glsl
constexpr int64_t kTile = 64;       // TILE in shaders/matmul_tiled.glsl
}  // namespace

void matmul(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& w, gpu::Tensor& y, MatmulPath path) {
  const char* name = "matmul";
  require_dtype(x, gpu::DType::F32, name);
  require_float(w, name);
  require_dtype(y, gpu::DType::F32, name);
  require_rank(w, 2, name);
  if (x.shape().empty()) throw Error(fmt::format("{}: input {} has no dimensions", name, x.describe()));
  const int64_t N = w.dim(0), K = w.dim(1);
  if (x.dim(-1) != K)
    throw Error(fmt::format("{}: input {} has {} features but weight {} expects {}", name, x.describe(), x.dim(-1),
                            w.describe(), K));
  const int64_t M = K ? x.numel() / K : 0;
  auto y_shape = x.shape();
  y_shape.back() = N;
  require_shape(y, y_shape, name);
  require_u32_index(M * K, "x elements", name);
  require_u32_index(N * K, "w elements", name);
  require_u32_index(M * N, "y elements", name);
  if (M == 0 || N == 0) return;
  if (K == 0) {
    s.fill_zero(y);
    return;
  }

  if (path == MatmulPath::Auto) path = M <= kRowsMax ? MatmulPath::Rows : MatmulPath::Tiled;
  const bool f16 = w.dtype() == gpu::DType::F16;
  struct { uint32_t M, N, K; } push{uint32_t(M), uint32_t(N), uint32_t(K)};
  if (path == MatmulPath::Rows) {
    // Batches of up to 8 rows; the weights are read once per batch.
    const bool sg = s.context().active_paths().subgroups;
    std::string shader = fmt::format("matmul_rows_{}{}", f16 ? "f16" : "f32", sg ? "_subgroup" : "");
    if (M > kRowsMax)
      throw Error(fmt::format("{}: the rows path takes at most {} rows, got {}", name, kRowsMax, M));
    const uint32_t groups = gpu::div_up(N, kRowsCols);
    if (groups > 65535) {
      throw Error(fmt::format("{}: weight {} has too many output features for one dispatch", name, w.describe()));
    }
    s.dispatch(shader.c_str(), {gpu::in(x), gpu::in(w), gpu::out(y)}, push, groups, 1, 1, {128});
  } else {
    std::string shader = fmt::format("matmul_tiled_{}", f16 ? "f16" : "f32");
    s.dispatch(shader.c_str(), {gpu::in(x), gpu::in(w), gpu::out(y)}, push, gpu::div_up(N, kTile),
               gpu::div_up(M, kTile));
  }
}

}  // namespace retnet::kernels
