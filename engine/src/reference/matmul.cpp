#include "reference/matmul.hpp"

#include <algorithm>
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

template <typename Real>
std::vector<Real> matmul_backward_input(const std::vector<Real>& dy, const std::vector<Real>& w, int64_t M, int64_t N,
                                        int64_t K) {
  if (M < 0 || N < 0 || K < 0 || dy.size() != size_t(M * N) || w.size() != size_t(N * K))
    throw std::invalid_argument("matmul_backward_input: sizes do not match [M,N] x [N,K]");
  std::vector<Real> dx(size_t(M * K));
  std::vector<double> acc(static_cast<size_t>(K));
  for (int64_t m = 0; m < M; ++m) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t n = 0; n < N; ++n) {
      const double d = double(dy[size_t(m * N + n)]);
      const Real* wr = w.data() + n * K;
      for (int64_t k = 0; k < K; ++k) acc[size_t(k)] += d * double(wr[k]);
    }
    for (int64_t k = 0; k < K; ++k) dx[size_t(m * K + k)] = static_cast<Real>(acc[size_t(k)]);
  }
  return dx;
}

template <typename Real>
std::vector<Real> matmul_backward_weight(const std::vector<Real>& x, const std::vector<Real>& dy, int64_t M, int64_t N,
                                         int64_t K) {
  if (M < 0 || N < 0 || K < 0 || x.size() != size_t(M * K) || dy.size() != size_t(M * N))
    throw std::invalid_argument("matmul_backward_weight: sizes do not match [M,N]^T x [M,K]");
  std::vector<double> acc(size_t(N * K), 0.0);
  for (int64_t m = 0; m < M; ++m) {
    const Real* xr = x.data() + m * K;
    for (int64_t n = 0; n < N; ++n) {
      const double d = double(dy[size_t(m * N + n)]);
      double* ar = acc.data() + n * K;
      for (int64_t k = 0; k < K; ++k) ar[k] += d * double(xr[k]);
    }
  }
  return std::vector<Real>(acc.begin(), acc.end());
}

template std::vector<float> matmul(const std::vector<float>&, const std::vector<float>&, int64_t, int64_t, int64_t);
template std::vector<double> matmul(const std::vector<double>&, const std::vector<double>&, int64_t, int64_t, int64_t);

template std::vector<float> matmul_backward_input(const std::vector<float>&, const std::vector<float>&, int64_t,
                                                  int64_t, int64_t);
template std::vector<double> matmul_backward_input(const std::vector<double>&, const std::vector<double>&, int64_t,
                                                   int64_t, int64_t);
template std::vector<float> matmul_backward_weight(const std::vector<float>&, const std::vector<float>&, int64_t,
                                                   int64_t, int64_t);
template std::vector<double> matmul_backward_weight(const std::vector<double>&, const std::vector<double>&, int64_t,
                                                    int64_t, int64_t);

}  // namespace retnet::reference
