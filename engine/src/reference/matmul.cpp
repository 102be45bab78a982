#include "reference/matmul.hpp"

#include <stdexcept>

namespace retnet::reference {

template <typename Real>
std::vector<Real> matmul(const std::vector<Real>& x, const std::vector<Real>& w, int64_t M, int64_t N, int64_t K) {
  if (M < 0 || N < 0 || K < 0 || x.size() != size_t(M * K) || w.size() != size_t(N * K))
    throw std::invalid_argument("matmul: sizes do not match [M,K] x [N,K]^T");
  std::vector<Real> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m) {
    const Real* xr = x.data() + m * K;
    for (int64_t n = 0; n < N; ++n) {
      const Real* wr = w.data() + n * K;
      double sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += double(xr[k]) * double(wr[k]);
      y[size_t(m * N + n)] = static_cast<Real>(sum);
    }
  }
  return y;
}

template std::vector<float> matmul(const std::vector<float>&, const std::vector<float>&, int64_t, int64_t, int64_t);
template std::vector<double> matmul(const std::vector<double>&, const std::vector<double>&, int64_t, int64_t, int64_t);

}  // namespace retnet::reference
