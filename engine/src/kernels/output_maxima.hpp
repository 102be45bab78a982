#pragma once
// The optional maxima of what an elementwise kernel writes (shaders/output_maxima.glsl): max |x|
// of each output folded into consecutive slots of an i32 tensor (float bits, as abs_max; the
// caller zeroes them), for the scaled tensor-core products of mixed-precision training to read
// instead of reducing the tensors again. Internal to the library.
#include <cstdint>
#include <vector>

#include "gpu/stream.hpp"

namespace retnet::kernels {

struct OutputMaxima {
  gpu::Tensor* maxima = nullptr;
  uint32_t slot = 0;  // the first output's; the second (if any) goes to the next
};

// Where max |t| of a kernel's operand already is, for it to read instead of reducing t: float
// bits in slot `slot` of the i32 tensor `maxima`, put there by the kernel that made t (through
// OutputMaxima) or by an earlier reduction.
struct OperandMaximum {
  const gpu::Tensor* maxima = nullptr;
  uint32_t slot = 0;
  bool known() const { return maxima != nullptr; }
};

// Throws unless `m` (when known) is a slot of an i32 tensor: the maximum of `what`.
void require_operand_maximum(const OperandMaximum& m, const char* what, const char* kernel);
// Throws unless `m` (when given) is an i32 tensor with slots for `outputs` outputs from m->slot.
void require_output_maxima(const OutputMaxima* m, uint32_t outputs, const char* kernel);
// The binding: the maxima (a part write: other kernels may fill other slots beside it), or
// without them `stand_in`, one of the kernel's outputs, which the kernel then never touches.
gpu::Arg output_maxima_arg(const OutputMaxima* m, gpu::Tensor& stand_in);
// The kernel's own specialization constants `own`, then the two of its output maxima: how
// many outputs' maxima, and the first slot.
std::vector<uint32_t> output_maxima_constants(const OutputMaxima* m, uint32_t outputs, std::vector<uint32_t> own = {});

}  // namespace retnet::kernels
