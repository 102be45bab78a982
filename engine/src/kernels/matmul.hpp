#pragma once
#include "gpu/stream.hpp"

namespace retnet::kernels {

// Rows: the few-row (decode) kernel, which reads every weight once per block of 8 rows.
// Tiled: shared-memory tiles of 64 x 64 outputs, for many rows (prefill).
// Auto: Rows for at most 8 rows, Tiled otherwise.
enum class MatmulPath { Auto, Tiled, Rows };

// y = x w^T in the nn.Linear layout (or y += x w^T with `accumulate`, e.g. to add a
// projection straight into the residual stream). x is f32 [..., K] with every leading
// dimension flattened into M rows, w is f32 or f16 [N, K], y is f32 [..., N] with x's
// leading dimensions. Accumulates in f32.
void matmul(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& w, gpu::Tensor& y,
            MatmulPath path = MatmulPath::Auto, bool accumulate = false);

// The path Auto takes for M rows.
MatmulPath matmul_auto_path(int64_t M);

}  // namespace retnet::kernels
