#include "reference/matmul.hpp"

#include <stdexcept>

namespace retnet::reference {

std::vector<float> matmul(const std::vector<float>& x, const std::vector<float>& w, int64_t M, int64_t N, int64_t K) {
  if (static_cast<int64_t>(x.size()) != M * K || static_cast<int64_t>(w.size()) != N * K)
    throw std::invalid_argument("reference::matmul: sizes do not match M, N, K");
  std::vector<float> y(M * N);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += double(x[m * K + k]) * w[n * K + k];
      y[m * N + n] = static_cast<float>(acc);
    }
  return y;
}

}  // namespace retnet::reference
