#include "reference/swiglu.hpp"

#include <cmath>
#include <stdexcept>

namespace retnet::reference {

namespace {
double swish(double z) { return z / (1.0 + std::exp(-z)); }
}  // namespace

std::vector<float> swiglu(const std::vector<float>& gate, const std::vector<float>& up) {
  if (gate.size() != up.size()) throw std::invalid_argument("swiglu: sizes differ");
  std::vector<float> out(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) out[i] = static_cast<float>(swish(gate[i]) * up[i]);
  return out;
}

std::vector<float> feed_forward(const std::vector<float>& m, const std::vector<float>& w_gate,
                                const std::vector<float>& w_up, const std::vector<float>& w_down, int64_t rows,
                                int64_t D, int64_t I) {
  if (m.size() != size_t(rows * D) || w_gate.size() != size_t(I * D) || w_up.size() != size_t(I * D) ||
      w_down.size() != size_t(D * I))
    throw std::invalid_argument("feed_forward: sizes do not match rows, D, I");
  std::vector<float> out(rows * D);
  std::vector<double> hidden(I);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = &m[r * D];
    for (int64_t j = 0; j < I; ++j) {
      double g = 0, u = 0;
      for (int64_t k = 0; k < D; ++k) {
        g += double(x[k]) * w_gate[j * D + k];
        u += double(x[k]) * w_up[j * D + k];
      }
      hidden[j] = swish(g) * u;
    }
    for (int64_t c = 0; c < D; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < I; ++j) acc += hidden[j] * w_down[c * I + j];
      out[r * D + c] = static_cast<float>(acc);
    }
  }
  return out;
}

}  // namespace retnet::reference
