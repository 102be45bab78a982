#pragma once
#include "gpu/stream.hpp"

namespace retnet::kernels {

// Rows: the few-row (decode) kernel, which reads every weight once per block of 8 rows.
// Tiled: shared-memory tiles of 64 x 64 outputs, for many rows (prefill).
// CoopMat: tensor cores through VK_NV_cooperative_matrix, f16 weights only; x is rounded to
// f16 in the tiles (f32 accumulation), like PyTorch's f16 autocast. Auto: Rows for at most 8
// rows; else CoopMat where the device has it and w is f16, Tiled otherwise.
enum class MatmulPath { Auto, Tiled, Rows, CoopMat };

// y = x w^T in the nn.Linear layout (or y += x w^T with `accumulate`, e.g. to add a
// projection straight into the residual stream). x is f32 [..., K] with every leading
// dimension flattened into M rows, w is f32 or f16 [N, K], y is f32 [..., N] with x's
// leading dimensions. Accumulates in f32.
void matmul(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& w, gpu::Tensor& y,
            MatmulPath path = MatmulPath::Auto, bool accumulate = false);

// Backward of y = x w^T for x: dx = dy w (or dx += dy w with `accumulate`). dy is f32 [..., N]
// with every leading dimension flattened into M rows, w is f32 or f16 [N, K], dx is f32
// [..., K] with dy's leading dimensions. Shared-memory tiles like the Tiled forward.
void matmul_backward_input(gpu::Stream& s, const gpu::Tensor& dy, const gpu::Tensor& w, gpu::Tensor& dx,
                           bool accumulate = false);

// Backward of y = x w^T for w: dw = dy^T x (or dw += dy^T x with `accumulate`, which is how
// gradients add up over micro-batches). x is f32 [..., K], dy f32 [..., N] with the same
// leading dimensions (M rows in all), dw f32 [N, K]. Shared-memory tiles like the Tiled forward.
void matmul_backward_weight(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy, gpu::Tensor& dw,
                            bool accumulate = false);

// The path Auto takes for M rows of x times w on this context.
MatmulPath matmul_auto_path(const Context& ctx, int64_t M, const gpu::Tensor& w);

}  // namespace retnet::kernels
