#pragma once
// Helpers shared by the test files: the process-wide GPU context, seeded random data,
// and the error measure every tolerance in the suite is stated in.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gpu/stream.hpp"
#include "gpu/tensor.hpp"
#include "retnet/device.hpp"

namespace test {

// One context per test process, with validation on unless RETNET_VALIDATION=0.
retnet::Context& context();

// Uniform in [-scale, scale), reproducible from the seed.
std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f);
std::vector<int32_t> random_tokens(size_t n, int32_t vocab, uint32_t seed);

// max_i |a_i - b_i| / max_i |b_i|: the error relative to the reference's scale, which is
// meaningful even where individual reference values are near zero.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b);

// The same measure in double (the finite-difference checks of the backward references).
double max_rel_error(const std::vector<double>& a, const std::vector<double>& b);

// Doubles of a float vector and back.
std::vector<double> to_double(const std::vector<float>& v);
std::vector<float> to_float(const std::vector<double>& v);

// d loss / d x by central differences, (loss(x + h e_i) - loss(x - h e_i)) / 2h for every i,
// in double: the ground truth the backward references are checked against.
std::vector<double> numeric_gradient(const std::function<double(const std::vector<double>&)>& loss,
                                     std::vector<double> x, double h = 1e-5);

// sum_i y_i r_i: a scalar loss whose gradient with respect to y is r.
double weighted_sum(const std::vector<double>& y, const std::vector<double>& r);

// A device tensor holding `values`.
retnet::gpu::Tensor tensor(const std::vector<int64_t>& shape, const std::vector<float>& values,
                           retnet::gpu::DType dtype = retnet::gpu::DType::F32, const char* name = "t");

// A device tensor of zeros.
retnet::gpu::Tensor zeros(const std::vector<int64_t>& shape, retnet::gpu::DType dtype = retnet::gpu::DType::F32,
                          const char* name = "t");

// The values a tensor of `dtype` actually holds (f16 rounding applied), for CPU references.
std::vector<float> rounded(const std::vector<float>& values, retnet::gpu::DType dtype);

// Sets an environment variable for its lifetime, then restores it as it was (the suite's
// variant runs set some of them).
class EnvOverride {
 public:
  EnvOverride(const char* name, const char* value);
  ~EnvOverride();
  EnvOverride(const EnvOverride&) = delete;
  EnvOverride& operator=(const EnvOverride&) = delete;
  void set(const char* value);

 private:
  const char* name_;
  bool had_;
  std::string saved_;
};

}  // namespace test
