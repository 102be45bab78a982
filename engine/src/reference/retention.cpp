#include "reference/retention.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace retnet::reference {

namespace {

template <typename Real>
void check_sizes(const std::vector<Real>& q, const std::vector<Real>& k, const std::vector<Real>& v,
                 const std::vector<Real>* state, const RetentionShape& s) {
  if (s.n < 0 || s.t < 0 || s.h < 0 || s.dk < 1 || s.dv < 1) throw std::invalid_argument("retention: bad shape");
  const size_t rows = static_cast<size_t>(s.n * s.t * s.h);
  if (q.size() != rows * s.dk || k.size() != rows * s.dk || v.size() != rows * s.dv)
    throw std::invalid_argument("retention: q, k, v sizes do not match the shape");
  if (state && state->size() != static_cast<size_t>(s.n * s.h * s.dk * s.dv))
    throw std::invalid_argument("retention: state size does not match the shape");
}

// Views of one (sequence, head): rows of q/k/v/o at token t, and the state matrix.
struct Head {
  const RetentionShape& s;
  int64_t n, h;
  size_t qk(int64_t t) const { return static_cast<size_t>(((n * s.t + t) * s.h + h) * s.dk); }
  size_t vo(int64_t t) const { return static_cast<size_t>(((n * s.t + t) * s.h + h) * s.dv); }
  size_t state() const { return static_cast<size_t>((n * s.h + h) * s.dk * s.dv); }
};

template <typename Real>
double dot(const Real* a, const Real* b, int64_t len) {
  double sum = 0;
  for (int64_t i = 0; i < len; ++i) sum += double(a[i]) * double(b[i]);
  return sum;
}

}  // namespace

double retention_gamma(int64_t head) { return 1.0 - std::ldexp(1.0, static_cast<int>(-5 - head)); }

template <typename Real>
std::vector<Real> retention_parallel(const std::vector<Real>& q, const std::vector<Real>& k,
                                      const std::vector<Real>& v, const RetentionShape& s) {
  check_sizes<Real>(q, k, v, nullptr, s);
  const double scale = 1.0 / std::sqrt(double(s.dk));
  std::vector<Real> o(static_cast<size_t>(s.n * s.t * s.h * s.dv));
  std::vector<double> acc(static_cast<size_t>(s.dv));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t h = 0; h < s.h; ++h) {
      const Head hd{s, n, h};
      const double gamma = retention_gamma(h);
      for (int64_t t = 0; t < s.t; ++t) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t m = 0; m <= t; ++m) {
          const double w = std::pow(gamma, double(t - m)) * scale * dot(&q[hd.qk(t)], &k[hd.qk(m)], s.dk);
          for (int64_t c = 0; c < s.dv; ++c) acc[c] += w * double(v[hd.vo(m) + c]);
        }
        for (int64_t c = 0; c < s.dv; ++c) o[hd.vo(t) + c] = static_cast<Real>(acc[c]);
      }
    }
  return o;
}

template <typename Real>
std::vector<Real> retention_recurrent(const std::vector<Real>& q, const std::vector<Real>& k,
                                       const std::vector<Real>& v, std::vector<Real>& state,
                                       const RetentionShape& s) {
  check_sizes(q, k, v, &state, s);
  const double scale = 1.0 / std::sqrt(double(s.dk));
  std::vector<Real> o(static_cast<size_t>(s.n * s.t * s.h * s.dv));
  std::vector<double> S(static_cast<size_t>(s.dk * s.dv));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t h = 0; h < s.h; ++h) {
      const Head hd{s, n, h};
      const double gamma = retention_gamma(h);
      std::copy_n(&state[hd.state()], S.size(), S.begin());
      for (int64_t t = 0; t < s.t; ++t) {
        const Real *kt = &k[hd.qk(t)], *vt = &v[hd.vo(t)], *qt = &q[hd.qk(t)];
        for (int64_t d = 0; d < s.dk; ++d)
          for (int64_t c = 0; c < s.dv; ++c) S[d * s.dv + c] = gamma * S[d * s.dv + c] + double(kt[d]) * double(vt[c]);
        for (int64_t c = 0; c < s.dv; ++c) {
          double sum = 0;
          for (int64_t d = 0; d < s.dk; ++d) sum += double(qt[d]) * S[d * s.dv + c];
          o[hd.vo(t) + c] = static_cast<Real>(scale * sum);
        }
      }
      for (size_t i = 0; i < S.size(); ++i) state[hd.state() + i] = static_cast<Real>(S[i]);
    }
  return o;
}

template <typename Real>
std::vector<Real> retention_chunkwise(const std::vector<Real>& q, const std::vector<Real>& k,
                                       const std::vector<Real>& v, std::vector<Real>& state,
                                       const RetentionShape& s, int64_t chunk_size) {
  check_sizes(q, k, v, &state, s);
  if (chunk_size < 1) throw std::invalid_argument("retention_chunkwise: chunk size must be positive");
  const double scale = 1.0 / std::sqrt(double(s.dk));
  std::vector<Real> o(static_cast<size_t>(s.n * s.t * s.h * s.dv));
  std::vector<double> S(static_cast<size_t>(s.dk * s.dv)), next(S.size());
  std::vector<double> weights(static_cast<size_t>(std::min(chunk_size, std::max<int64_t>(s.t, 1))));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t h = 0; h < s.h; ++h) {
      const Head hd{s, n, h};
      const double gamma = retention_gamma(h);
      std::copy_n(&state[hd.state()], S.size(), S.begin());
      for (int64_t c0 = 0; c0 < s.t; c0 += chunk_size) {
        const int64_t len = std::min(chunk_size, s.t - c0);
        for (int64_t j = 0; j < len; ++j) {
          const Real* qn = &q[hd.qk(c0 + j)];
          // Within the chunk: the parallel form over positions c0..c0+j.
          for (int64_t i = 0; i <= j; ++i)
            weights[i] = std::pow(gamma, double(j - i)) * scale * dot(qn, &k[hd.qk(c0 + i)], s.dk);
          const double inter = scale * std::pow(gamma, double(j + 1));
          for (int64_t c = 0; c < s.dv; ++c) {
            // Across chunks: from the state the chunk starts with.
            double sum = 0;
            for (int64_t d = 0; d < s.dk; ++d) sum += double(qn[d]) * S[d * s.dv + c];
            double out = inter * sum;
            for (int64_t i = 0; i <= j; ++i) out += weights[i] * double(v[hd.vo(c0 + i) + c]);
            o[hd.vo(c0 + j) + c] = static_cast<Real>(out);
          }
        }
        const double chunk_decay = std::pow(gamma, double(len));
        for (size_t i = 0; i < S.size(); ++i) next[i] = chunk_decay * S[i];
        for (int64_t j = 0; j < len; ++j) {
          const double w = std::pow(gamma, double(len - 1 - j));
          const Real *kj = &k[hd.qk(c0 + j)], *vj = &v[hd.vo(c0 + j)];
          for (int64_t d = 0; d < s.dk; ++d)
            for (int64_t c = 0; c < s.dv; ++c) next[d * s.dv + c] += w * double(kj[d]) * double(vj[c]);
        }
        S.swap(next);
      }
      for (size_t i = 0; i < S.size(); ++i) state[hd.state() + i] = static_cast<Real>(S[i]);
    }
  return o;
}

#define RETNET_INSTANTIATE(Real)                                                                                \
  template std::vector<Real> retention_parallel(const std::vector<Real>&, const std::vector<Real>&,            \
                                                const std::vector<Real>&, const RetentionShape&);               \
  template std::vector<Real> retention_recurrent(const std::vector<Real>&, const std::vector<Real>&,           \
                                                 const std::vector<Real>&, std::vector<Real>&,                  \
                                                 const RetentionShape&);                                        \
  template std::vector<Real> retention_chunkwise(const std::vector<Real>&, const std::vector<Real>&,           \
                                                 const std::vector<Real>&, std::vector<Real>&,                  \
                                                 const RetentionShape&, int64_t);
RETNET_INSTANTIATE(float)
RETNET_INSTANTIATE(double)
#undef RETNET_INSTANTIATE

}  // namespace retnet::reference
