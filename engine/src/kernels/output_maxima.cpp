#include "kernels/output_maxima.hpp"

#include <fmt/format.h>

#include "retnet/error.hpp"

namespace retnet::kernels {

void require_operand_maximum(const OperandMaximum& m, const char* what, const char* kernel) {
  if (m.known() && (m.maxima->dtype() != gpu::DType::I32 || m.slot >= m.maxima->numel()))
    throw Error(fmt::format("{}: the maximum of {} (slot {} of {}) must be a slot of an i32 tensor", kernel, what,
                            m.slot, m.maxima->describe()));
}

void require_output_maxima(const OutputMaxima* m, uint32_t outputs, const char* kernel) {
  if (m == nullptr) return;
  if (m->maxima == nullptr || m->maxima->dtype() != gpu::DType::I32 || m->slot + int64_t(outputs) > m->maxima->numel())
    throw Error(fmt::format("{}: the maxima of its {} output(s) need slots {}.. of an i32 tensor, not {}", kernel,
                            outputs, m->slot, m->maxima ? m->maxima->describe() : "none"));
}

gpu::Arg output_maxima_arg(const OutputMaxima* m, gpu::Tensor& stand_in) {
  return m != nullptr ? gpu::out_part(*m->maxima) : gpu::out(stand_in);
}

std::vector<uint32_t> output_maxima_constants(const OutputMaxima* m, uint32_t outputs, std::vector<uint32_t> own) {
  own.push_back(m != nullptr ? outputs : 0u);
  own.push_back(m != nullptr ? m->slot : 0u);
  return own;
}

}  // namespace retnet::kernels
