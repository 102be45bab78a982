#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "kernels/elementwise.hpp"
#include "reference/elementwise.hpp"
#include "retnet/error.hpp"
#include "test_support.hpp"

using namespace retnet;

TEST_CASE("residual_add matches the CPU reference", "[kernel][elementwise]") {
  for (int64_t n : {1, 7, 255, 257, 100003}) {
    auto h = test::random_vector(n, 1), x = test::random_vector(n, 2);
    auto th = test::tensor({n}, h), tx = test::tensor({n}, x);
    gpu::Stream s(test::context());
    kernels::residual_add(s, th, tx);
    s.submit();
    reference::residual_add(h, x);
    CHECK(test::max_rel_error(th.download(), h) == 0.0);
  }
}

TEST_CASE("residual_add rejects mismatched sizes", "[kernel][elementwise][errors]") {
  auto th = test::tensor({4}, test::random_vector(4, 1));
  auto tx = test::tensor({5}, test::random_vector(5, 2));
  gpu::Stream s(test::context());
  CHECK_THROWS_AS(kernels::residual_add(s, th, tx), Error);
}

TEST_CASE("cast_to_f16 rounds like the host's f16 conversion", "[kernel][elementwise]") {
  for (int64_t n : {2, 1000, 70002}) {
    INFO(n);
    auto values = test::random_vector(size_t(n), 9, 100.0f);
    values[0] = 65504.0f;  // the largest f16
    values[1] = 1e-6f;     // an f16 subnormal
    auto src = test::tensor({n}, values);
    gpu::Tensor dst(test::context(), {n}, gpu::DType::F16, "dst");
    gpu::Stream s(test::context());
    kernels::cast_to_f16(s, src, dst);
    s.submit();
    const auto got = dst.download(), expected = test::rounded(values, gpu::DType::F16);
    // packHalf2x16's rounding is the driver's choice: at most one f16 step from round-to-nearest-even.
    for (int64_t i = 0; i < n; ++i)
      REQUIRE(std::abs(got[i] - expected[i]) <= std::max(std::abs(expected[i]) / 1024.0f, 6e-8f));
  }
  auto odd = test::tensor({3}, {1, 2, 3});
  gpu::Tensor dst(test::context(), {3}, gpu::DType::F16, "dst");
  gpu::Stream s(test::context());
  CHECK_THROWS_AS(kernels::cast_to_f16(s, odd, dst), Error);  // f16 pairs: an even count
}

namespace {
float slot_value(const gpu::Tensor& maxima, size_t slot) {
  const auto bits = maxima.download_ints();
  float v;
  std::memcpy(&v, &bits[slot], sizeof v);
  return v;
}
}  // namespace

TEST_CASE("abs_max matches the CPU reference and keeps a larger value already in the slot", "[kernel][elementwise]") {
  // The largest magnitude (negative) in the middle, or among the last n % 4 values, which the
  // kernel reads apart from its vec4s; the last size needs many vec4s per thread, four at a
  // time and then one at a time (the largest in the last vec4s read one at a time).
  for (auto [n, at] : {std::pair<int64_t, int64_t>{1, 0}, {255, 127}, {255, 254}, {100003, 100001}, {5000001, 2500000},
                       {5000001, 4999990}}) {
    INFO(n << " values, the largest at " << at);
    auto values = test::random_vector(size_t(n), 21, 3.0f);
    values[size_t(at)] = -7.5f;
    auto t = test::tensor({n}, values);
    gpu::Tensor maxima(test::context(), {2}, gpu::DType::I32, "maxima");
    gpu::Stream s(test::context());
    s.fill_zero(maxima);
    kernels::abs_max(s, t, maxima, 1);
    s.submit();
    CHECK(slot_value(maxima, 1) == reference::abs_max(values));
    CHECK(slot_value(maxima, 0) == 0.0f);  // the other slot is untouched
    auto smaller = test::tensor({3}, {1, -2, 3});
    kernels::abs_max(s, smaller, maxima, 1);
    s.submit();
    CHECK(slot_value(maxima, 1) == 7.5f);  // max with what was there
  }
  auto values = test::random_vector(1000, 22);
  values[500] = std::nanf("");
  auto t = test::tensor({1000}, values);
  gpu::Tensor maxima(test::context(), {1}, gpu::DType::I32, "maxima");
  gpu::Stream s(test::context());
  s.fill_zero(maxima);
  kernels::abs_max(s, t, maxima, 0);
  s.submit();
  CHECK(std::isnan(slot_value(maxima, 0)));  // a NaN shows instead of hiding behind finite values
  CHECK_THROWS_AS(kernels::abs_max(s, t, maxima, 1), Error);  // no slot 1
  gpu::Tensor float_maxima(test::context(), {1}, gpu::DType::F32, "maxima");
  CHECK_THROWS_AS(kernels::abs_max(s, t, float_maxima, 0), Error);
}
