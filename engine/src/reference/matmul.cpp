#include "reference/matmul.hpp"

#include <stdexcept>

namespace retnet::reference {

std::vector<float> matmul(const std::vector<float>& x, const std::vector<float>& w, int64_t M, int64_t N, int64_t K) {
  if (M < 0 || N < 0 || K < 0 || x.size() != size_t(M * K) || w.size() != size_t(N * K))
    throw std::invalid_argument("matmul: sizes do not match [M,K] x [N,K]^T");
  std::vector<float> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x.data() + m * K;
    for (int64_t n = 0; n < N; ++n) {
      const float* wr = w.data() + n * K;
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += double(xr[k]) * double(wr[k]);
      y[size_t(m * N + n)] = static_cast<float>(sum);
    }
  }
  return y;
}

}  // namespace retnet::reference
