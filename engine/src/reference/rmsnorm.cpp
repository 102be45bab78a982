#include "reference/rmsnorm.hpp"

#include <cmath>
#include <stdexcept>

#include "reference/elementwise.hpp"

namespace retnet::reference {

namespace {

void check(size_t x_size, size_t n, const char* what) {
  if (n == 0 || x_size % n != 0) throw std::invalid_argument(std::string(what) + ": row length does not divide the input");
}

template <typename Real>
double inverse_rms(const Real* x, size_t n, double eps) {
  double sum_sq = 0;
  for (size_t i = 0; i < n; ++i) sum_sq += double(x[i]) * double(x[i]);
  return 1.0 / std::sqrt(sum_sq / double(n) + eps);
}

template <typename Real>
std::vector<Real> normalise(const std::vector<Real>& x, const std::vector<Real>* gate, const std::vector<Real>& weight,
                            double eps) {
  const size_t n = weight.size();
  check(x.size(), n, "rmsnorm");
  if (gate && gate->size() != x.size()) throw std::invalid_argument("rmsnorm_swish_gate: gate size differs");
  std::vector<Real> y(x.size());
  for (size_t base = 0; base < x.size(); base += n) {
    const double r = inverse_rms(&x[base], n, eps);
    for (size_t i = 0; i < n; ++i) {
      double v = double(x[base + i]) * r * double(weight[i]);
      if (gate) v *= swish((*gate)[base + i]);
      y[base + i] = static_cast<Real>(v);
    }
  }
  return y;
}

// dx of one row given u = dy * weight (already multiplied by anything after the norm).
template <typename Real>
void row_backward(const Real* x, const double* u, size_t n, double r, Real* dx) {
  double dot = 0;
  for (size_t i = 0; i < n; ++i) dot += u[i] * double(x[i]);
  const double c = r * r * r * dot / double(n);
  for (size_t i = 0; i < n; ++i) dx[i] = static_cast<Real>(r * u[i] - double(x[i]) * c);
}

}  // namespace

template <typename Real>
std::vector<Real> rmsnorm(const std::vector<Real>& x, const std::vector<Real>& weight, double eps) {
  return normalise<Real>(x, nullptr, weight, eps);
}

template <typename Real>
std::vector<Real> rmsnorm_swish_gate(const std::vector<Real>& o, const std::vector<Real>& gate,
                                     const std::vector<Real>& weight, double eps) {
  return normalise(o, &gate, weight, eps);
}

template <typename Real>
std::vector<Real> rmsnorm_backward(const std::vector<Real>& x, const std::vector<Real>& weight,
                                   const std::vector<Real>& dy, double eps, std::vector<Real>& dweight) {
  const size_t n = weight.size();
  check(x.size(), n, "rmsnorm_backward");
  if (dy.size() != x.size() || dweight.size() != n) throw std::invalid_argument("rmsnorm_backward: sizes differ");
  std::vector<Real> dx(x.size());
  std::vector<double> u(n), dw(n, 0.0);
  for (size_t base = 0; base < x.size(); base += n) {
    const double r = inverse_rms(&x[base], n, eps);
    for (size_t i = 0; i < n; ++i) {
      u[i] = double(dy[base + i]) * double(weight[i]);
      dw[i] += double(dy[base + i]) * double(x[base + i]) * r;
    }
    row_backward(&x[base], u.data(), n, r, &dx[base]);
  }
  for (size_t i = 0; i < n; ++i) dweight[i] = static_cast<Real>(double(dweight[i]) + dw[i]);
  return dx;
}

template <typename Real>
std::vector<Real> rmsnorm_swish_gate_backward(const std::vector<Real>& o, const std::vector<Real>& gate,
                                              const std::vector<Real>& weight, const std::vector<Real>& dy,
                                              double eps, std::vector<Real>& dgate, std::vector<Real>& dweight) {
  const size_t n = weight.size();
  check(o.size(), n, "rmsnorm_swish_gate_backward");
  if (gate.size() != o.size() || dy.size() != o.size() || dweight.size() != n)
    throw std::invalid_argument("rmsnorm_swish_gate_backward: sizes differ");
  std::vector<Real> d_o(o.size());
  dgate.assign(o.size(), Real(0));
  std::vector<double> u(n), dw(n, 0.0);
  for (size_t base = 0; base < o.size(); base += n) {
    const double r = inverse_rms(&o[base], n, eps);
    for (size_t i = 0; i < n; ++i) {
      const double normed = double(o[base + i]) * r, g = double(gate[base + i]);
      dgate[base + i] = static_cast<Real>(double(dy[base + i]) * normed * double(weight[i]) * swish_derivative(g));
      const double dnorm = double(dy[base + i]) * swish(g);  // gradient reaching the norm's output
      u[i] = dnorm * double(weight[i]);
      dw[i] += dnorm * normed;
    }
    row_backward(&o[base], u.data(), n, r, &d_o[base]);
  }
  for (size_t i = 0; i < n; ++i) dweight[i] = static_cast<Real>(double(dweight[i]) + dw[i]);
  return d_o;
}

#define RETNET_INSTANTIATE(Real)                                                                                 \
  template std::vector<Real> rmsnorm(const std::vector<Real>&, const std::vector<Real>&, double);               \
  template std::vector<Real> rmsnorm_swish_gate(const std::vector<Real>&, const std::vector<Real>&,             \
                                                const std::vector<Real>&, double);                              \
  template std::vector<Real> rmsnorm_backward(const std::vector<Real>&, const std::vector<Real>&,               \
                                              const std::vector<Real>&, double, std::vector<Real>&);            \
  template std::vector<Real> rmsnorm_swish_gate_backward(const std::vector<Real>&, const std::vector<Real>&,    \
                                                         const std::vector<Real>&, const std::vector<Real>&,    \
                                                         double, std::vector<Real>&, std::vector<Real>&);
RETNET_INSTANTIATE(float)
RETNET_INSTANTIATE(double)
#undef RETNET_INSTANTIATE

}  // namespace retnet::reference
