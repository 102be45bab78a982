#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>

namespace test {

static bool g_context_created = false;

retnet::Context& context() {
  static std::unique_ptr<retnet::Context> ctx = [] {
    g_context_created = true;
    auto options = retnet::ContextOptions::from_environment();
    const char* v = std::getenv("RETNET_VALIDATION");
    if (!v) options.validation = true;  // the suite's default: every validation message fails it
    return std::make_unique<retnet::Context>(options);
  }();
  return *ctx;
}

std::vector<float> random_vector(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

double max_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

double max_rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

std::vector<float> to_float(const std::vector<double>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

std::vector<double> numeric_gradient(const std::function<double(const std::vector<double>&)>& loss,
                                     std::vector<double> x, double h) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss(x);
    x[i] = saved - h;
    const double down = loss(x);
    x[i] = saved;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

double weighted_sum(const std::vector<double>& y, const std::vector<double>& r) {
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) sum += y[i] * r[i];
  return sum;
}

retnet::gpu::Tensor tensor(const std::vector<int64_t>& shape, const std::vector<float>& values,
                           retnet::gpu::DType dtype, const char* name) {
  retnet::gpu::Tensor t(context(), shape, dtype, name);
  t.upload(values);
  return t;
}

retnet::gpu::Tensor zeros(const std::vector<int64_t>& shape, retnet::gpu::DType dtype, const char* name) {
  return tensor(shape, std::vector<float>(size_t(retnet::gpu::element_count(shape)), 0.0f), dtype, name);
}

std::vector<float> rounded(const std::vector<float>& values, retnet::gpu::DType dtype) {
  if (dtype != retnet::gpu::DType::F16) return values;
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    out[i] = retnet::gpu::half_to_float(retnet::gpu::float_to_half(values[i]));
  return out;
}

EnvOverride::EnvOverride(const char* name, const char* value) : name_(name), had_(std::getenv(name) != nullptr) {
  if (had_) saved_ = std::getenv(name);
  set(value);
}

EnvOverride::~EnvOverride() {
  if (had_) setenv(name_, saved_.c_str(), 1);
  else unsetenv(name_);
}

void EnvOverride::set(const char* value) { setenv(name_, value, 1); }

}  // namespace test

bool test_context_created() { return test::g_context_created; }
