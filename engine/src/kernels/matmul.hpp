#pragma once
#include "gpu/stream.hpp"

namespace retnet::kernels {

// Rows: few-row (decode) kernel reading each weight once; Tiled: shared-memory tiles.
enum class MatmulPath { Auto, Tiled, Rows };

// y = x w^T, the nn.Linear layout: x f32 [..., K] (leading dims are rows), w f32 or f16
// [N, K], y f32 [..., N]. Accumulates in f32. Auto picks Rows for at most 8 rows.
void matmul(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& w, gpu::Tensor& y,
            MatmulPath path = MatmulPath::Auto);

}  // namespace retnet::kernels
