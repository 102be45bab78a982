#include <catch2/catch.hpp>

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
