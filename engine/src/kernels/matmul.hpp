#pragma once
#include <deque>

#include "gpu/stream.hpp"
#include "kernels/output_maxima.hpp"

namespace retnet::kernels {

// Buffers the tensor-core products reuse from one recording to the next instead of allocating
// per call: the operand maxima of the scaled backward (one small tensor per call, so that
// independent products stay independent) and the partial sums of split reductions. Call
// begin() before recording a step again, once the previous recording has been submitted.
class MatmulScratch {
 public:
  void begin() { next_maxima_ = 0; }
  gpu::Tensor& maxima(Context& ctx);
  // Grows (handing the old buffer to the stream until its submit) when `elements` is more.
  gpu::Tensor& partials(gpu::Stream& s, int64_t elements);
  // How many times partials() reallocated: a change means recordings that used it are stale.
  uint64_t partials_growths() const { return partials_growths_; }

 private:
  std::deque<gpu::Tensor> maxima_;
  size_t next_maxima_ = 0;
  gpu::Tensor partials_;
  uint64_t partials_growths_ = 0;
};

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
// With `scratch`, a tensor-core product of at most one row of tiles (few rows: batched decode,
// short prompts), whose few tiles would leave most of the GPU idle, is split over its depth,
// the partial sums in the scratch and added up by one more dispatch.
void matmul(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& w, gpu::Tensor& y,
            MatmulPath path = MatmulPath::Auto, bool accumulate = false, MatmulScratch* scratch = nullptr);

// The backward products take Tiled (f32 products, the default: Auto means Tiled here) or, on
// request, CoopMat: tensor cores with f16 products and f32 sums, the mixed-precision training
// of PyTorch's autocast. There each f32 operand is first scaled by a power of two that puts its
// largest magnitude near 2^15 (found by a reduction over the tensor), so gradients far below
// f16's smallest normal (6e-5) keep their 11 bits, and the scaling is undone exactly on output.

// Backward of y = x w^T for x: dx = dy w (or dx += dy w with `accumulate`). dy is f32 [..., N]
// with every leading dimension flattened into M rows, w is f32 or f16 [N, K] (f16 for CoopMat),
// dx is f32 [..., K] with dy's leading dimensions.
// `scratch` (CoopMat only) saves an allocation per call; without it the call allocates its own.
void matmul_backward_input(gpu::Stream& s, const gpu::Tensor& dy, const gpu::Tensor& w, gpu::Tensor& dx,
                           bool accumulate = false, MatmulPath path = MatmulPath::Auto,
                           MatmulScratch* scratch = nullptr);

// Backward of y = x w^T for w: dw = dy^T x (or dw += dy^T x with `accumulate`, which is how
// gradients add up over micro-batches). x is f32 [..., K], dy f32 [..., N] with the same
// leading dimensions (M rows in all), dw f32 [N, K].
void matmul_backward_weight(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy, gpu::Tensor& dw,
                            bool accumulate = false, MatmulPath path = MatmulPath::Auto,
                            MatmulScratch* scratch = nullptr);

// Both gradients of y = x w^T: dx (+)= dy w and dw (+)= dy^T x, as the two calls above would
// compute them. On CoopMat the products read max |dy| and max |x| where the options say they
// are, and reduce the tensors for those they do not know (one reduction over dy serves both
// products). Returns where max |x| is then (CoopMat; else unknown): pass it as x_maximum to a
// later call whose x is the same tensor with the same values (q/k/v/g share their input, as
// do gate/up), which then skips reducing x again.
struct MatmulBackwardOptions {
  bool accumulate_dx = false;
  bool accumulate_dw = false;
  MatmulPath path = MatmulPath::Auto;
  MatmulScratch* scratch = nullptr;
  OperandMaximum dy_maximum, x_maximum;
};
OperandMaximum matmul_backward(gpu::Stream& s, const gpu::Tensor& x, const gpu::Tensor& dy, const gpu::Tensor& w,
                               gpu::Tensor& dx, gpu::Tensor& dw, const MatmulBackwardOptions& options);

// The path Auto takes for M rows of x times w on this context.
MatmulPath matmul_auto_path(const Context& ctx, int64_t M, const gpu::Tensor& w);

}  // namespace retnet::kernels
