#include "reference/swiglu.hpp"

#include <stdexcept>

#include "reference/elementwise.hpp"

namespace retnet::reference {

template <typename Real>
std::vector<Real> swiglu(const std::vector<Real>& gate, const std::vector<Real>& up) {
  if (gate.size() != up.size()) throw std::invalid_argument("swiglu: sizes differ");
  std::vector<Real> out(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) out[i] = static_cast<Real>(swish(gate[i]) * double(up[i]));
  return out;
}

template <typename Real>
void swiglu_backward(const std::vector<Real>& gate, const std::vector<Real>& up, const std::vector<Real>& dout,
                     std::vector<Real>& dgate, std::vector<Real>& dup) {
  if (gate.size() != up.size() || dout.size() != up.size()) throw std::invalid_argument("swiglu_backward: sizes differ");
  dgate.resize(gate.size());
  dup.resize(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    dgate[i] = static_cast<Real>(double(dout[i]) * double(up[i]) * swish_derivative(gate[i]));
    dup[i] = static_cast<Real>(double(dout[i]) * swish(gate[i]));
  }
}

template <typename Real>
std::vector<Real> feed_forward(const std::vector<Real>& m, const std::vector<Real>& w_gate,
                               const std::vector<Real>& w_up, const std::vector<Real>& w_down, int64_t rows, int64_t D,
                               int64_t I) {
  if (m.size() != size_t(rows * D) || w_gate.size() != size_t(I * D) || w_up.size() != size_t(I * D) ||
      w_down.size() != size_t(D * I))
    throw std::invalid_argument("feed_forward: sizes do not match rows, D, I");
  std::vector<Real> out(rows * D);
  std::vector<double> hidden(I);
  for (int64_t r = 0; r < rows; ++r) {
    const Real* x = &m[r * D];
    for (int64_t j = 0; j < I; ++j) {
      double g = 0, u = 0;
      for (int64_t k = 0; k < D; ++k) {
        g += double(x[k]) * double(w_gate[j * D + k]);
        u += double(x[k]) * double(w_up[j * D + k]);
      }
      hidden[j] = swish(g) * u;
    }
    for (int64_t c = 0; c < D; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < I; ++j) acc += hidden[j] * double(w_down[c * I + j]);
      out[r * D + c] = static_cast<Real>(acc);
    }
  }
  return out;
}

#define RETNET_INSTANTIATE(Real)                                                                                 \
  template std::vector<Real> swiglu(const std::vector<Real>&, const std::vector<Real>&);                        \
  template void swiglu_backward(const std::vector<Real>&, const std::vector<Real>&, const std::vector<Real>&,   \
                                std::vector<Real>&, std::vector<Real>&);                                        \
  template std::vector<Real> feed_forward(const std::vector<Real>&, const std::vector<Real>&,                    \
                                          const std::vector<Real>&, const std::vector<Real>&, int64_t, int64_t, \
                                          int64_t);
RETNET_INSTANTIATE(float)
RETNET_INSTANTIATE(double)
#undef RETNET_INSTANTIATE

}  // namespace retnet::reference
