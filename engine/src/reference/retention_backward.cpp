#include "reference/retention_backward.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace retnet::reference {

template <typename Real>
void retention_backward(const std::vector<Real>& q, const std::vector<Real>& k, const std::vector<Real>& v,
                        const std::vector<Real>& d_o, const RetentionShape& s, std::vector<Real>& dq,
                        std::vector<Real>& dk, std::vector<Real>& dv) {
  if (s.n < 0 || s.t < 0 || s.h < 0 || s.dk < 1 || s.dv < 1)
    throw std::invalid_argument("retention_backward: bad shape");
  const size_t rows = static_cast<size_t>(s.n * s.t * s.h);
  if (q.size() != rows * s.dk || k.size() != rows * s.dk || v.size() != rows * s.dv || d_o.size() != rows * s.dv)
    throw std::invalid_argument("retention_backward: q, k, v, d_o sizes do not match the shape");
  const double scale = 1.0 / std::sqrt(double(s.dk));
  dq.assign(rows * s.dk, Real(0));
  dk.assign(rows * s.dk, Real(0));
  dv.assign(rows * s.dv, Real(0));
  auto qk = [&](int64_t n, int64_t t, int64_t h) { return static_cast<size_t>(((n * s.t + t) * s.h + h) * s.dk); };
  auto vo = [&](int64_t n, int64_t t, int64_t h) { return static_cast<size_t>(((n * s.t + t) * s.h + h) * s.dv); };
  auto dot = [](const Real* a, const Real* b, int64_t len) {
    double sum = 0;
    for (int64_t i = 0; i < len; ++i) sum += double(a[i]) * double(b[i]);
    return sum;
  };
  std::vector<double> acc_q(static_cast<size_t>(s.dk)), acc_k(static_cast<size_t>(s.dk)),
      acc_v(static_cast<size_t>(s.dv));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t h = 0; h < s.h; ++h) {
      const double gamma = retention_gamma(h);
      for (int64_t a = 0; a < s.t; ++a) {
        // dq at position a: sum over m <= a.
        std::fill(acc_q.begin(), acc_q.end(), 0.0);
        for (int64_t m = 0; m <= a; ++m) {
          const double w = scale * std::pow(gamma, double(a - m)) * dot(&d_o[vo(n, a, h)], &v[vo(n, m, h)], s.dv);
          for (int64_t d = 0; d < s.dk; ++d) acc_q[d] += w * double(k[qk(n, m, h) + d]);
        }
        // dk and dv at position a: sums over n' >= a.
        std::fill(acc_k.begin(), acc_k.end(), 0.0);
        std::fill(acc_v.begin(), acc_v.end(), 0.0);
        for (int64_t t = a; t < s.t; ++t) {
          const double decay = scale * std::pow(gamma, double(t - a));
          const double wk = decay * dot(&d_o[vo(n, t, h)], &v[vo(n, a, h)], s.dv);
          const double wv = decay * dot(&q[qk(n, t, h)], &k[qk(n, a, h)], s.dk);
          for (int64_t d = 0; d < s.dk; ++d) acc_k[d] += wk * double(q[qk(n, t, h) + d]);
          for (int64_t c = 0; c < s.dv; ++c) acc_v[c] += wv * double(d_o[vo(n, t, h) + c]);
        }
        for (int64_t d = 0; d < s.dk; ++d) {
          dq[qk(n, a, h) + d] = static_cast<Real>(acc_q[d]);
          dk[qk(n, a, h) + d] = static_cast<Real>(acc_k[d]);
        }
        for (int64_t c = 0; c < s.dv; ++c) dv[vo(n, a, h) + c] = static_cast<Real>(acc_v[c]);
      }
    }
}

template void retention_backward<float>(const std::vector<float>&, const std::vector<float>&,
                                        const std::vector<float>&, const std::vector<float>&, const RetentionShape&,
                                        std::vector<float>&, std::vector<float>&, std::vector<float>&);
template void retention_backward<double>(const std::vector<double>&, const std::vector<double>&,
                                         const std::vector<double>&, const std::vector<double>&,
                                         const RetentionShape&, std::vector<double>&, std::vector<double>&,
                                         std::vector<double>&);

}  // namespace retnet::reference
